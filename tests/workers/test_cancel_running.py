"""Cooperative cancel of a running job: `cancel` marks it, the handler stops at its next check()."""

from __future__ import annotations

import threading

import pytest
from task_modules.fixtures import isolated_tasks, rq  # noqa: F401

from queue_max import JobStatus
from queue_max.tasks import TaskCancelled, current_job, task
from queue_max.workers import JobCancelled, JobCancelRequested, Worker
from _helpers import worker_running


def test_a_running_task_stops_at_its_next_check_and_ends_cancelled_not_retried(rq):
    # Given a long task that checks in between its steps, running on a real worker
    started = threading.Event()
    stopped_by: list[BaseException] = []

    @task(max_retries=3)
    def crawl() -> str:
        ctx = current_job()
        assert ctx is not None
        started.set()
        try:
            while True:
                ctx.check()
                ctx.wait(0.05)
        except JobCancelled as exc:
            stopped_by.append(exc)
            raise

    worker = Worker("w", queue=rq, poll_interval=0.05)
    worker.start()
    try:
        handle = crawl.delay()
        assert started.wait(30)
        # When it is cancelled while it runs
        outcome = rq.cancel_job(handle.id)
        # Then cancel says the job was marked, and the handler saw a typed error at its check
        assert outcome == "requested"
        with pytest.raises(TaskCancelled):
            handle.get(timeout=30)
        assert isinstance(stopped_by[0], JobCancelRequested) and f"job {handle.id}" in str(stopped_by[0])
        # And the job ended cancelled after one attempt: not retried, not dead-lettered
        job = handle.job()
        assert job.status is JobStatus.CANCELLED and job.attempts == 1
        assert rq.dlq_list() == []
    finally:
        worker.stop()


def test_a_handler_waiting_with_wait_wakes_when_its_job_is_cancelled(rq):
    started = threading.Event()
    woke: list[bool] = []

    def handler(payload: dict) -> None:
        ctx = current_job()
        assert ctx is not None
        started.set()
        woke.append(ctx.wait(60))  # woken by the cancel, long before a minute
        ctx.check()

    worker = Worker("w", handler, rq, poll_interval=0.05)
    worker.start()
    try:
        job_id = rq.enqueue({})["id"]
        assert started.wait(30)
        assert rq.cancel(job_id) is False  # 0.1.1's bool: not cancelled *now*, only marked
        assert rq.cancel_requested(job_id)
        while rq.get_job(job_id).status is JobStatus.PROCESSING:
            started.wait(0.05)
        assert woke == [True] and rq.get_job(job_id).status is JobStatus.CANCELLED
    finally:
        worker.stop()


def test_cancel_says_which_case_happened(rq):
    # Given a running job, a pending one and a finished (cancelled) one
    rq.enqueue({"n": 1})
    (running,) = rq.claim_jobs("w", 1)
    again = rq.enqueue({"n": 2})["id"]
    finished = rq.enqueue({"n": 3})["id"]
    rq.cancel(finished)
    # Then each cancel names its case, and 0.1.1's bool is True only for the waiting job
    assert rq.cancel_job(again) == "cancelled"
    assert rq.cancel_job(running.id) == "requested"
    assert rq.cancel_job(finished) == "finished"
    assert rq.cancel(rq.enqueue({"n": 4})["id"]) is True


def test_an_async_handler_that_checks_is_cancelled_the_same_way(rq):
    import asyncio

    from queue_max.workers import AsyncWorker

    started = threading.Event()

    async def handler(payload: dict) -> None:
        ctx = current_job()
        assert ctx is not None
        started.set()
        while True:
            ctx.check()
            await asyncio.sleep(0.02)

    worker = AsyncWorker("a", handler, rq, poll_interval=0.05)
    with worker_running(worker):
        job_id = rq.enqueue({})["id"]
        assert started.wait(30)
        assert rq.cancel_job(job_id) == "requested"
        while rq.get_job(job_id).status is JobStatus.PROCESSING:
            started.wait(0.05)
        job = rq.get_job(job_id)
        assert job.status is JobStatus.CANCELLED and job.attempts == 1


@pytest.mark.parametrize("job_id", [-1, 5, "12", None, 10**15 + 1023])
def test_cancel_job_refuses_ids_this_queue_cannot_hold_like_cancel(rq, job_id):
    from queue_max import JobNotFound

    with pytest.raises(JobNotFound):
        rq.cancel_job(job_id)


def test_cancel_job_of_an_id_no_job_has_says_missing(rq):
    gone = rq.enqueue({})["id"] + 2 * 1024  # a well-formed id of its shard that no job has
    assert rq.cancel_job(gone) == "missing" and rq.cancel(gone) is False
