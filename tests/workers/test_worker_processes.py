"""Worker processes killed, stopped, paused and run side by side: no job is lost or stuck."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from queue_max import JobStatus, Queue
from queue_max.workers import Worker

PROCS = Path(__file__).resolve().parent.parent / "procs"
sys.path.insert(0, str(PROCS))
from worker_handlers import read_lines
from _helpers import wait_until, worker_running

pytestmark = pytest.mark.slow
LEASES = {"lease_timeout": 1.0, "heartbeat_interval": 0.2, "recovery_interval": 0.2, "rate_limit": 0}


class WorkerProcess:
    """tests/procs/worker_proc.py in a subprocess, on the test's data directory."""

    def __init__(self, tmp_path: Path, name: str, **config: object) -> None:
        self.out = tmp_path / "out"
        self.out.mkdir(exist_ok=True)
        self.ready, self.stats_file = tmp_path / f"{name}.ready", tmp_path / f"{name}.stats"
        config = {"data_dir": str(tmp_path / "data"), "queue": LEASES, "ready": str(self.ready),
                  "stats": str(self.stats_file), "worker_id": name, **config}
        env = dict(os.environ, QM_TEST_OUT=str(self.out))
        self.proc = subprocess.Popen([sys.executable, str(PROCS / "worker_proc.py"), json.dumps(config)], env=env)
        assert wait_until(lambda: self.ready.exists() or self.proc.poll() is not None)
        assert self.proc.poll() is None, "the worker process died at start-up"

    def stats(self) -> dict:
        return json.loads(self.stats_file.read_text())

    def finish(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def processes(tmp_path):
    started: list[WorkerProcess] = []

    def start(name: str, **config: object) -> WorkerProcess:
        proc = WorkerProcess(tmp_path, name, **config)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.finish()


def open_queue(tmp_path: Path, settings, **options: object) -> Queue:
    return Queue(data_dir=tmp_path / "data", shards=2, settings=settings, **{**LEASES, **options})


def test_sigkill_mid_job_leads_to_redelivery_with_the_attempt_counted(tmp_path, settings, processes):
    # Given a worker process in the middle of a long job
    queue = open_queue(tmp_path, settings, max_retries=3)
    job_id = queue.enqueue({"i": 1, "sleep": 60})["id"]
    victim = processes("victim", handler="phases")
    assert wait_until(lambda: any(kind == "S" for kind, *_ in read_lines(str(victim.out))))
    # When it is killed without warning
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    # Then, once the lease expires, another worker gets the job, as its second attempt
    redelivered = threading.Event()
    worker = Worker("rescuer", lambda payload: redelivered.set(), queue, poll_interval=0.05)
    worker.start()
    try:
        assert redelivered.wait(20)
        assert wait_until(lambda: queue.get_job(job_id).is_completed)
    finally:
        worker.stop(5)
        queue.close()
    job = Queue(data_dir=tmp_path / "data", settings=settings).get_job(job_id)
    assert job.tentativas == 2 and job.errors[0].type == "LeaseExpired"


def test_sigterm_finishes_the_running_job_and_releases_the_rest(tmp_path, settings, processes):
    # Given a worker process that holds a batch of slow jobs. Its first claim takes a fixed few
    # jobs (4), whatever the machine's speed; later claims are sized from measured durations,
    # and on a loaded machine shrank to the one job running, leaving nothing held to release.
    # Leases far longer than the test: a heartbeat starved by load must not expire them.
    long_leases = {**LEASES, "lease_timeout": 60.0}
    queue = open_queue(tmp_path, settings, lease_timeout=60.0)
    ids = queue.enqueue_batch([{"payload": {"i": i, "sleep": 1.5}} for i in range(40)])["ids"]
    worker = processes("graceful", handler="phases", prefetch=32, queue=long_leases)
    assert wait_until(lambda: any(kind == "S" for kind, *_ in read_lines(str(worker.out))))
    # When it receives SIGTERM while the first job runs
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(20) == 0
    # Then every started job finished, the rest are pending again with no attempt counted
    lines = read_lines(str(worker.out))
    started = {i for kind, i, *_ in lines if kind == "S"}
    assert started == {i for kind, i, *_ in lines if kind == "E"}
    jobs = {job_id: queue.get_job(job_id) for job_id in ids}
    completed = {job.payload["i"] for job in jobs.values() if job.is_completed}
    assert completed == started
    rest = [job for job in jobs.values() if not job.is_completed]
    assert rest and all((job.status, job.tentativas) == (JobStatus.PENDING, 0) for job in rest)
    assert worker.stats()["released"] > 0
    queue.close()


def test_a_paused_worker_loses_its_job_and_its_late_completion_is_refused(tmp_path, settings, processes):
    # Given a worker process running a job, which is then frozen (SIGSTOP) past its lease
    queue = open_queue(tmp_path, settings)
    job_id = queue.enqueue({"i": 1, "sleep": 1.5})["id"]
    frozen = processes("frozen", handler="phases")
    assert wait_until(lambda: any(kind == "S" for kind, *_ in read_lines(str(frozen.out))))
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        # When its lease expires and another worker runs the job
        rescued = threading.Event()
        worker = Worker("rescuer", lambda payload: rescued.set() or "rescued", queue, poll_interval=0.05)
        with worker_running(worker):
            assert rescued.wait(20)
            assert wait_until(lambda: queue.get_job(job_id).is_completed)
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    # Then the frozen worker, once thawed, finishes its run but cannot complete the job
    frozen.proc.send_signal(signal.SIGTERM)
    assert frozen.proc.wait(20) == 0
    stats = frozen.stats()
    assert (stats["processed"], stats["lost"]) == (0, 1)
    job = queue.get_job(job_id)
    assert (job.result, job.tentativas) == ("rescued", 2)
    queue.close()


def test_worker_processes_side_by_side_run_each_job_exactly_once(tmp_path, settings, processes):
    queue = open_queue(tmp_path, settings)
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(3000)])
    workers = [processes(f"p{k}", handler="record", threads=2) for k in range(3)]
    assert wait_until(lambda: queue.get_stats()["completed"] == 3000, 60)
    for worker in workers:
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(20) == 0
    ran = sorted(i for kind, i, *_ in read_lines(str(workers[0].out)) if kind == "R")
    assert ran == list(range(3000))
    assert sum(worker.stats()["processed"] for worker in workers) == 3000
    queue.close()


def test_a_second_signal_stops_at_once_and_releases_the_running_job(tmp_path, settings, processes):
    # Given a worker process in a job far longer than its grace period
    queue = open_queue(tmp_path, settings)
    job_id = queue.enqueue({"i": 1, "sleep": 60})["id"]
    worker = processes("impatient", handler="phases", shutdown_timeout=60.0)
    assert wait_until(lambda: any(kind == "S" for kind, *_ in read_lines(str(worker.out))))
    # When it gets SIGTERM (finish what you are doing), then SIGINT (stop now)
    worker.proc.send_signal(signal.SIGTERM)
    worker.proc.send_signal(signal.SIGINT)
    # Then it exits at once, and the job is pending again with its attempt not counted
    assert worker.proc.wait(20) == 0
    job = queue.get_job(job_id)
    assert (job.status, job.tentativas) == (JobStatus.PENDING, 0)
    assert worker.stats()["released"] == 1
    queue.close()
