"""The process supervisor: N processes x M threads, restarts, recycling, time limits, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from queue_max import ConfigError, Queue
from queue_max.workers import Supervisor

PROCS = Path(__file__).resolve().parent.parent / "procs"
sys.path.insert(0, str(PROCS))
from worker_handlers import read_lines
from _helpers import wait_until

pytestmark = pytest.mark.slow
QUEUE = {"rate_limit": 0, "lease_timeout": 1.0, "heartbeat_interval": 0.2, "recovery_interval": 0.2,
         "retry_backoff": 0.0, "retry_backoff_max": 0.0}


@pytest.fixture
def setup(tmp_path, settings):
    """(queue, supervisor factory, output dir): children import tests/procs/worker_handlers."""
    out = tmp_path / "out"
    out.mkdir()
    queue_options = dict(QUEUE)
    queue = None
    supervisors: list[Supervisor] = []

    def make(function: str = "worker_handlers:record", **kwargs: object) -> Supervisor:
        env = dict(os.environ, QM_TEST_OUT=str(out), PYTHONPATH=str(PROCS))
        options = {"processes": 2, "threads": 2, "data_dir": str(tmp_path / "data"), "shards": 2,
                   "queue_options": queue_options, "poll_interval": 0.05, "env": env, **kwargs}
        supervisor = Supervisor(function, **options)
        supervisors.append(supervisor)
        return supervisor

    def open_queue(**options: object) -> Queue:
        nonlocal queue
        queue_options.update(options)
        queue = Queue(data_dir=tmp_path / "data", shards=2, settings=settings, **queue_options)
        return queue

    yield open_queue, make, out
    for supervisor in supervisors:
        supervisor.stop(10, cold=True)
    if queue is not None:
        queue.close()


def test_processes_times_threads_run_each_job_once_and_stop_cleanly(setup):
    open_queue, make, out = setup
    queue = open_queue()
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(2000)])
    supervisor = make(processes=2, threads=2)
    supervisor.start()
    assert wait_until(lambda: queue.get_stats()["completed"] == 2000)
    assert supervisor.stop(20) == 0
    ran = sorted(i for kind, i, *_ in read_lines(str(out)) if kind == "R")
    assert ran == list(range(2000))
    assert supervisor.get_stats()["children"][0]["alive"] is False


def test_a_poison_job_that_kills_its_process_is_dead_lettered_while_other_jobs_flow(setup):
    # Given a job that kills whichever process runs it, among 300 good ones, and 2 retries
    open_queue, make, _out = setup
    queue = open_queue(max_retries=2)
    poison = queue.enqueue({"i": -1, "crash": True}, priority=2)["id"]
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(300)])
    supervisor = make(processes=2, threads=1)
    supervisor.start()
    # Then it reaches the dead-letter queue after its 3 attempts; every good job completes
    assert wait_until(lambda: queue.get_job(poison).is_failed)
    assert wait_until(lambda: queue.get_stats()["completed"] == 300)
    assert queue.get_job(poison).tentativas == 3
    assert sum(child["restarts"] for child in supervisor.get_stats()["children"]) >= 3
    assert [entry.original_job_id for entry in queue.dlq_list()] == [poison]
    assert supervisor.stop(20) == 0


def test_children_are_recycled_after_max_jobs(setup):
    open_queue, make, out = setup
    queue = open_queue()
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(200)])
    supervisor = make(processes=1, threads=1, max_jobs_per_child=60)
    supervisor.start()
    assert wait_until(lambda: queue.get_stats()["completed"] == 200)
    assert supervisor.stop(20) == 0
    ran = sorted(i for kind, i, *_ in read_lines(str(out)) if kind == "R")
    assert ran == list(range(200))
    assert len({pid for *_, pid in read_lines(str(out))}) >= 4
    assert supervisor.get_stats()["children"][0]["restarts"] >= 3


def test_a_job_over_its_time_limit_gets_its_process_killed_and_replaced(setup):
    # Given a job that hangs, ignoring every request to stop, and a one-second limit. Leases of
    # 10 s, not 1 s: only the time limit may end an attempt here, not a heartbeat that a loaded
    # machine delays past a short lease (that would record a LeaseExpired attempt instead).
    open_queue, make, _out = setup
    queue = open_queue(max_retries=1, lease_timeout=10.0)
    stuck = queue.enqueue({"i": -1, "hang": True}, priority=2)["id"]
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(50)])
    supervisor = make("worker_handlers:hang", processes=1, threads=2, job_timeout=1.0)
    supervisor.start()
    # Then its process is killed at each attempt, the timeout recorded, and the others all run
    assert wait_until(lambda: queue.get_job(stuck).is_failed)
    assert wait_until(lambda: queue.get_stats()["completed"] == 50)
    job = queue.get_job(stuck)
    assert job.tentativas == 2 and [e.type.rsplit(".", 1)[-1] for e in job.errors] == ["JobTimeout"] * 2
    # the supervisor counts a restart after it has settled the dead child's jobs, so the job can
    # be seen failed a moment before the second restart is counted
    assert wait_until(lambda: supervisor.get_stats()["children"][0]["restarts"] >= 2)
    assert supervisor.stop(20) == 0


def test_a_handler_that_cannot_be_imported_stops_the_supervisor_with_code_78(setup):
    _open_queue, make, _out = setup
    supervisor = make("worker_handlers:no_such_function")
    supervisor.start()
    assert supervisor.wait(30) == 78
    assert "no_such_function" in (supervisor.error or "")


def test_burst_mode_ends_when_the_queue_is_empty(setup):
    open_queue, make, _out = setup
    queue = open_queue()
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(500)])
    supervisor = make(burst=True)
    supervisor.start()
    assert supervisor.wait(30) == 0
    assert queue.get_stats()["completed"] == 500


def test_sigterm_to_the_supervisor_lets_running_jobs_finish(setup, tmp_path):
    # Given a supervisor process whose workers are in the middle of slow jobs
    open_queue, _make, out = setup
    queue = open_queue()
    queue.enqueue_batch([{"payload": {"i": i, "sleep": 0.5}} for i in range(20)])
    ready = tmp_path / "ready"
    config = {"function": "worker_handlers:phases", "processes": 2, "threads": 1, "shards": 2,
              "data_dir": str(tmp_path / "data"), "queue_options": QUEUE, "poll_interval": 0.05,
              "ready": str(ready)}
    env = dict(os.environ, QM_TEST_OUT=str(out), PYTHONPATH=str(PROCS))
    proc = subprocess.Popen([sys.executable, str(PROCS / "supervisor_proc.py"), json.dumps(config)], env=env)
    try:
        assert wait_until(ready.exists)
        assert wait_until(lambda: len([1 for kind, *_ in read_lines(str(out)) if kind == "S"]) >= 2)
        # When it gets SIGTERM
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    # Then every job that started also finished and completed; the others wait, untouched
    lines = read_lines(str(out))
    started = {i for kind, i, *_ in lines if kind == "S"}
    assert started == {i for kind, i, *_ in lines if kind == "E"}
    stats = queue.get_stats()
    assert stats["completed"] == len(started) and stats["processing"] == 0
    assert stats["pending"] == 20 - len(started)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"function": "no_colon"}, "function must be"),
        ({"function": None}, "give function="),
        ({"function": "m:f", "processes": 0}, "processes must be an int from 1"),
        ({"function": "m:f", "threads": "2"}, "threads must be an int"),
        ({"function": "m:f", "job_timeout": -1}, "job_timeout must be"),
        ({"function": "m:f", "max_jobs_per_child": 0}, "max_jobs_per_child must be"),
        ({"function": "m:f", "queue_options": {"x": object()}}, "queue_options must hold JSON"),
        ({"function": "m:f", "tasks": "mymodule"}, "tasks must be a list"),
    ],
)
def test_bad_supervisor_arguments_are_refused_clearly(kwargs, message):
    function = kwargs.pop("function")
    with pytest.raises(ConfigError, match=message):
        Supervisor(function, **kwargs)
