"""Cooperative cancel and progress across processes: `queue-max worker --processes 2` and an
`AsyncWorker` process run the job; this test process cancels it and reads its progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_fixtures.helpers import cli, data_dir, module_env  # noqa: F401 - fixtures
from task_modules.cooperative import loop_until_cancelled, report_then_wait
from task_modules.fixtures import isolated_tasks  # noqa: F401

from queue_max import JobProgress, JobStatus, Queue, Settings
from queue_max.tasks import TaskCancelled, TaskHandle, set_default_queue
from _helpers import wait_until

PROCS = Path(__file__).resolve().parent.parent / "procs"
pytestmark = pytest.mark.slow


def traced(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def queue(data_dir: Path) -> Iterator[Queue]:
    with Queue(data_dir=data_dir, shards=2, rate_limit=0, settings=Settings()) as opened:
        set_default_queue(opened)
        yield opened


@pytest.fixture(params=["processes", "async"])
def worker(request: pytest.FixtureRequest, data_dir: Path, queue: Queue, tmp_path: Path) -> Iterator[str]:
    """A worker in other processes: `queue-max worker --processes 2` running the tasks of
    task_modules.cooperative, or an AsyncWorker process running its async handlers."""
    if request.param == "processes":
        argv = [sys.executable, "-m", "queue_max", "--data-dir", str(data_dir), "worker", "--tasks",
                "task_modules.cooperative", "--processes", "2", "--rate-limit", "0", "--poll-interval", "0.05"]
    else:
        config = {"data_dir": str(data_dir), "worker_id": "async-proc", "out": str(tmp_path), "async": True,
                  "handler": "task_modules.cooperative:async_handler", "queue": {"rate_limit": 0}}
        argv = [sys.executable, str(PROCS / "crash_worker.py"), json.dumps(config)]
    proc = subprocess.Popen(argv, env=module_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield request.param
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def enqueue(kind: str, queue: Queue, task_args: dict, handler: str) -> tuple[int, TaskHandle | None]:
    """A job for the worker kind: a task job (and its handle) for the CLI's processes, a plain one
    for the AsyncWorker."""
    if kind == "processes":
        task = {"report": report_then_wait, "loop": loop_until_cancelled}[handler]
        handle = task.delay(**task_args)
        return handle.id, handle
    return queue.enqueue({"run": handler, **task_args})["id"], None


def test_a_cancel_asked_from_another_process_stops_the_running_job_at_its_next_check(worker, queue, tmp_path):
    # Given a job running in a worker process, checking for a cancel between short steps
    trace = tmp_path / "trace"
    job_id, handle = enqueue(worker, queue, {"trace": str(trace)}, "loop")
    assert wait_until(lambda: traced(trace))
    # When this process cancels it
    outcome = queue.cancel_job(job_id)
    # Then cancel says the job was marked, and the handler raised JobCancelRequested at a check
    assert outcome == "requested"
    assert wait_until(lambda: queue.get_job(job_id).status is JobStatus.CANCELLED)
    lines = [line.split() for line in traced(trace)]
    assert [line[:-1] for line in lines] == [["started"], ["stopped", "JobCancelRequested"]]
    assert lines[0][-1] == lines[1][-1] != str(os.getpid())  # in the worker process, not here
    # And the job ended cancelled after one attempt: no error, not retried, not dead-lettered,
    # its last progress report kept
    job = queue.get_job(job_id)
    assert job.attempts == 1 and job.errors == () and job.last_error is None and queue.dlq_list() == []
    assert queue.job_progress(job_id) == JobProgress(0.1, "looping")
    if handle is not None:
        with pytest.raises(TaskCancelled):
            handle.get(timeout=5)


def test_progress_set_in_a_worker_process_is_read_by_another_process(worker, queue, tmp_path, cli):
    # Given a job that reports half-way in a worker process, then waits for a gate file
    trace, gate = tmp_path / "trace", tmp_path / "gate"
    job_id, handle = enqueue(worker, queue, {"total": 1000, "gate": str(gate), "trace": str(trace)}, "report")
    assert wait_until(lambda: traced(trace))
    # When this process reads it while it runs
    # Then the stored progress is there: through the queue, a task handle and inspect
    assert queue.job_progress(job_id) == JobProgress(0.5, "500 of 1000 rows")
    if handle is not None:
        assert handle.progress == JobProgress(0.5, "500 of 1000 rows")
    shown = cli("inspect", str(job_id), "--json").json()
    assert shown["progress"] == {"fraction": 0.5, "message": "500 of 1000 rows"}
    # And the last report is kept once the job has finished
    gate.touch()
    assert wait_until(lambda: queue.get_job(job_id).is_completed)
    assert queue.job_progress(job_id) == JobProgress(1.0, "done")
