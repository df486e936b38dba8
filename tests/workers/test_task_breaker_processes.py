"""A task's own host-wide circuit breaker across real `queue-max worker --processes N` runs:
opened by the task's failures in any process, it stops that task everywhere while the other
tasks of the queue go on, and lets exactly one trial run at a time host-wide."""

from __future__ import annotations

import time

import pytest
from procs.flow_jobs import read_log
from test_flow_processes import assert_lone_trials, queue_at, start_worker, stop, wait_for

from queue_max.tasks import make_envelope

pytestmark = pytest.mark.slow


def test_a_task_breaker_opened_in_one_process_stops_that_task_in_all_and_spares_the_others(tmp_path):
    # Given a failing task (its own breaker opens at 3) and a healthy task in the same queue
    data, log = tmp_path / "data", tmp_path / "log"
    with queue_at(data) as queue:
        queue.enqueue_batch([{"payload": make_envelope("flow.flaky", (n,), {}), "max_retries": 0} for n in range(300)])
        queue.enqueue_batch([{"payload": make_envelope("flow.steady", (n,), {})} for n in range(20)])
    # When 3 processes work until the healthy jobs are done and the breaker is open
    proc = start_worker(data, log, "--tasks", "procs.flow_jobs", "--processes", "3", "--no-scheduler")
    with queue_at(data) as queue:
        wait_for(lambda: queue.get_stats()["completed"] == 20
                 and queue.get_stats()["task_circuits"].get("flow.flaky", {}).get("circuit_state") == "open")
        wait_for(lambda: queue.get_stats()["processing"] == 0)
        err = stop(proc)
        opened_at = queue.backend.flow_state(time.time()).breakers["task:flow.flaky"].opened_at
        jobs = [job for job in queue.list_jobs(limit=1000) if job.payload.get("__task__") == "flow.flaky"]
        stats = queue.get_stats()
    # Then no process claimed a job of that task after its breaker opened; most never ran, and
    # those wait with no attempt counted; the queue's own breaker never opened
    assert opened_at is not None
    assert all(job.started_ts <= opened_at for job in jobs if job.started_ts is not None), err
    waiting = [job for job in jobs if job.status.value in ("pending", "scheduled")]
    assert len(waiting) > 200 and all(job.tentativas == 0 for job in waiting)
    assert stats["circuit_state"] == "closed"
    assert len({r["pid"] for r in read_log(log)}) >= 2


def test_exactly_one_trial_of_a_task_runs_at_a_time_host_wide(tmp_path):
    # Given jobs of a task that always fails, behind its own breaker already open (recovery 1 s)
    data, log = tmp_path / "data", tmp_path / "log"
    with queue_at(data) as queue:
        queue.enqueue_batch([{"payload": make_envelope("flow.trial", (n,), {}), "max_retries": 0} for n in range(100)])
        for _ in range(2):
            queue.backend.breaker_record("task:flow.trial", "failure", 2, time.time())
    # When 3 processes of 2 threads poll it through several recovery periods
    proc = start_worker(data, log, "--tasks", "procs.flow_jobs", "--processes", "3", "--threads", "2",
                        "--poll-interval", "0.05", "--no-scheduler")
    wait_for(lambda: log.exists() and len(read_log(log)) >= 3)
    stop(proc)
    # Then every run was a lone trial: each one failed and reopened the task's breaker
    assert_lone_trials(data, log, 1.0)
