"""JobContext.set_progress: a running handler's progress, stored, shown by inspect and handle.progress."""

from __future__ import annotations

import threading

import pytest
from cli_fixtures.helpers import cli, data_dir, make_cli_queue  # noqa: F401 - fixtures
from task_modules.fixtures import isolated_tasks, rq  # noqa: F401

from queue_max import InvalidProgress, JobProgress, JobStatus, LeaseLost
from queue_max.tasks import current_job, task
from queue_max.workers import Worker


def test_a_task_reports_progress_that_its_handle_and_inspect_read_while_it_runs(rq, cli):
    # Given a task that reports half-way, then waits to be let go
    reported, release = threading.Event(), threading.Event()

    @task
    def import_rows(total: int) -> int:
        ctx = current_job()
        assert ctx is not None
        ctx.set_progress(0.5, f"{total // 2} of {total} rows")
        reported.set()
        release.wait(30)
        ctx.set_progress(1.0)
        return total

    worker = Worker("w", queue=rq, poll_interval=0.05)
    worker.start()
    try:
        handle = import_rows.delay(1000)
        assert reported.wait(30)
        # When another reader looks while it runs
        # Then the handle and inspect both show the stored progress
        assert handle.progress == JobProgress(0.5, "500 of 1000 rows")
        shown = cli("inspect", str(handle.id), "--json", where=rq.location).json()
        assert shown["progress"] == {"fraction": 0.5, "message": "500 of 1000 rows"}
        assert "50% 500 of 1000 rows" in cli("inspect", str(handle.id), where=rq.location).out
        release.set()
        assert handle.get(timeout=30) == 1000
        # And the last report is kept after the job finished
        assert handle.progress == JobProgress(1.0, None)
    finally:
        release.set()
        worker.stop()


@pytest.mark.parametrize(("fraction", "message", "match"), [
    (1.5, None, r"fraction must be a finite number from 0.0 to 1.0, got 1.5"),
    (-0.1, None, r"got -0.1"),
    (float("nan"), None, r"got nan"),
    ("half", None, r"got 'half'"),
    (True, None, r"got True"),
    (0.5, 42, r"message must be a str of at most 1000 characters or None, got int 42"),
    (0.5, "x" * 1001, r"message must be a str of at most 1000 characters"),
])
def test_bad_progress_is_refused_with_a_typed_error_and_nothing_is_stored(make_cli_queue, fraction, message, match):
    # Given a running job with no progress yet
    queue = make_cli_queue()
    ref = queue.enqueue({})
    (job,) = queue.claim_jobs("w", 1)
    # When a bad value is reported, Then InvalidProgress (a ValueError) names it
    with pytest.raises(InvalidProgress, match=match) as caught:
        queue.set_progress(job, fraction, message)
    assert isinstance(caught.value, ValueError)
    assert queue.job_progress(ref["id"]) is None


def test_progress_from_a_worker_that_lost_its_lease_is_refused(make_cli_queue):
    queue = make_cli_queue()
    queue.enqueue({})
    (job,) = queue.claim_jobs("w", 1)
    queue.cancel(job.id)  # a pending-only cancel: the job keeps running
    queue.complete_job(job)
    with pytest.raises(LeaseLost):
        queue.set_progress(job, 0.5)
    assert queue.get_job(job.id).status is JobStatus.COMPLETED


def test_outside_a_worker_progress_is_checked_and_kept_on_the_context(make_cli_queue, isolated_tasks):
    from queue_max.tasks import execute_task_payload

    seen: list[JobProgress | None] = []

    @task
    def step() -> None:
        ctx = current_job()
        assert ctx is not None
        ctx.set_progress(0.3, "inline")
        seen.append(ctx.progress)
        with pytest.raises(InvalidProgress):
            ctx.set_progress(2)

    # Given a stored job run inline by execute_task_payload (no worker, no queue in its context)
    queue = make_cli_queue()
    handle = step.with_options(queue=queue).delay()
    (job,) = queue.claim_jobs("w", 1)
    execute_task_payload(job.payload, job)
    # Then the report is kept on the context only
    assert seen == [JobProgress(0.3, "inline")]
    assert handle.progress is None
