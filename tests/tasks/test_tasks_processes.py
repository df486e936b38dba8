"""Tasks across processes: a worker in another process runs `.delay()`ed jobs; handles see the results."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from task_modules import sample
from task_modules.fixtures import isolated_tasks  # noqa: F401

from queue_max import Queue, Settings
from queue_max.tasks import TaskFailed, set_default_queue

PROCS = (Path(__file__).resolve().parent.parent / "procs")
pytestmark = pytest.mark.slow


@pytest.fixture
def worker_queue(tmp_path: Path) -> Iterator[Queue]:
    """A queue whose jobs a worker subprocess runs (it imports task_modules.sample)."""
    data, stop = tmp_path / "data", tmp_path / "stop"
    queue = Queue(data_dir=data, shards=2, rate_limit=0, settings=Settings())
    set_default_queue(queue)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROCS.parent.parent / "src"), str(PROCS.parent)])}
    proc = subprocess.Popen([sys.executable, str(PROCS / "tasks_worker.py"), str(data),
                             "task_modules.sample", str(stop)], env=env)
    yield queue
    stop.touch()
    assert proc.wait(timeout=60) == 0
    queue.close()


def test_a_delayed_task_runs_in_another_process_and_its_result_comes_back(worker_queue):
    handles = [sample.add.delay(n, 100) for n in range(20)]
    assert [h.get(timeout=60) for h in handles] == [n + 100 for n in range(20)]
    jobs = [h.job() for h in handles]
    assert all(str(job.worker_id).startswith("tasks-worker") for job in jobs)


def test_a_failure_in_another_process_comes_back_with_its_type_and_message(worker_queue):
    builtin = sample.fail_with.delay("ValueError", "bad input: 42")
    custom = sample.fail_with.delay("Declined", "card expired")
    with pytest.raises(TaskFailed) as caught:
        builtin.get(timeout=60)
    assert (caught.value.error_type, caught.value.error_message) == ("ValueError", "bad input: 42")
    assert str(caught.value) == "ValueError: bad input: 42"
    with pytest.raises(TaskFailed) as caught:
        custom.get(timeout=60)
    assert caught.value.error_type == "task_modules.sample.Declined"
    assert "card expired" in (caught.value.traceback or "")


def test_a_scheduled_task_never_runs_early_and_runs_within_the_poll_granularity(worker_queue):
    # Given a job scheduled one second ahead, and an unscheduled one behind it
    before = time.time()
    scheduled = sample.clock.schedule_in(1.0)
    now = sample.clock.delay()
    # When the worker runs them
    ran_now, ran_later = now.get(timeout=60), scheduled.get(timeout=60)
    # Then the scheduled one started after its time, and the other one did not wait for it
    job = scheduled.job()
    assert job.started_ts is not None
    assert job.started_ts >= job.run_ts >= before + 1.0
    assert ran_later >= job.run_ts and ran_now <= ran_later
    assert ran_later - job.run_ts < 5.0  # the worker polls every 20ms; generous for loaded machines
