"""AsyncWorker: coroutine handlers on the worker's own event loop, with a concurrency limit."""

from __future__ import annotations

import asyncio
import threading
import time

from queue_max import JobStatus
from queue_max.workers import AsyncWorker, Worker, current_job
from _helpers import wait_until, worker_running


def test_an_async_worker_never_runs_more_than_its_concurrency(short_leases):
    # Given 40 jobs that each await for a while
    queue = short_leases()
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(40)])["ids"]
    active, peak = [0], [0]

    async def handler(payload: dict) -> int:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await asyncio.sleep(0.05)
        active[0] -= 1
        return payload["n"]

    # When a worker with a concurrency of 6 runs them
    worker = AsyncWorker("a", handler, queue, poll_interval=0.05, concurrency=6)
    with worker_running(worker):
        assert queue.wait_until_empty(timeout=20)
    # Then 6 ran at a time, never more, and every result is stored
    assert peak[0] == 6
    assert [queue.get_job(job_id).result for job_id in ids] == list(range(40))
    assert worker.get_stats()["processed"] == 40


def test_an_async_job_over_its_time_limit_is_cancelled_and_recorded_as_a_timeout(short_leases):
    queue = short_leases(max_retries=0)
    job_id = queue.enqueue({"n": 1})["id"]
    finished = []

    async def handler(payload: dict) -> None:
        await asyncio.sleep(5)
        finished.append(True)

    worker = AsyncWorker("a", handler, queue, poll_interval=0.05, job_timeout=0.2)
    with worker_running(worker):
        assert wait_until(lambda: queue.get_job(job_id).is_failed)
    assert not finished and queue.get_job(job_id).error_type.endswith("JobTimeout")
    assert worker.get_stats()["timed_out"] == 1


def test_stopping_waits_for_running_coroutines(short_leases):
    queue = short_leases()
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(3)])["ids"]

    async def handler(payload: dict) -> str:
        await asyncio.sleep(0.3)
        return "finished"

    worker = AsyncWorker("a", handler, queue, poll_interval=0.05)
    worker.start()
    assert wait_until(lambda: len(worker.get_stats()["current_job_ids"]) == 3)
    assert worker.stop(5) is True
    assert [queue.get_job(job_id).result for job_id in ids] == ["finished"] * 3


def test_coroutines_still_running_after_the_grace_period_are_cancelled_and_their_jobs_released(short_leases):
    queue = short_leases()
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(3)])["ids"]
    cancelled: list[int] = []

    async def handler(payload: dict) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(payload["n"])
            raise

    worker = AsyncWorker("a", handler, queue, poll_interval=0.05)
    worker.start()
    assert wait_until(lambda: len(worker.get_stats()["current_job_ids"]) == 3)
    assert worker.stop(timeout=0.2) is False
    assert sorted(cancelled) == [0, 1, 2]
    jobs = [queue.get_job(job_id) for job_id in ids]
    assert all((job.status, job.tentativas) == (JobStatus.PENDING, 0) for job in jobs)
    assert worker.get_stats()["released"] == 3


def test_async_failures_are_retried_and_callbacks_run(short_leases):
    queue = short_leases(max_retries=1)
    job_id = queue.enqueue({"n": 1})["id"]
    errors: list[bool] = []

    async def handler(payload: dict) -> None:
        raise ConnectionError("down")

    worker = AsyncWorker("a", handler, queue, poll_interval=0.05,
                         on_job_error=lambda worker_id, job, error, permanent: errors.append(permanent))
    with worker_running(worker):
        assert wait_until(lambda: queue.get_job(job_id).is_failed)
    assert errors == [False, True]


def test_heartbeats_keep_a_long_coroutine_leased(short_leases):
    queue = short_leases()
    job_id = queue.enqueue({"n": 1})["id"]
    seen = []

    async def handler(payload: dict) -> str:
        seen.append(current_job().job.id)
        await asyncio.sleep(2.5)
        return "done"

    worker = AsyncWorker("a", handler, queue, poll_interval=0.05)
    with worker_running(worker):
        assert wait_until(lambda: seen)
        recovered = 0
        while not queue.get_job(job_id).is_completed:
            recovered += queue.recover_orphans()
            time.sleep(0.1)
    assert recovered == 0 and seen == [job_id] and queue.get_job(job_id).tentativas == 1


def test_an_async_job_whose_lease_is_lost_is_cancelled(short_leases):
    queue = short_leases()
    job_id = queue.enqueue({"n": 1})["id"]
    cancelled = threading.Event()

    async def handler(payload: dict) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    # one slot: while the job runs the worker claims nothing, so the released job goes to "fresh"
    # (with free slots the worker itself could claim it back first)
    worker = AsyncWorker("a", handler, queue, poll_interval=0.05, concurrency=1)
    with worker_running(worker):
        assert wait_until(lambda: worker.get_current_job() is not None)
        queue.backend.release([queue.get_job(job_id).lease], queue.clock.time())
        fresh = queue.claim_jobs("fresh", 1)[0]
        assert cancelled.wait(5)
        assert wait_until(lambda: worker.get_stats()["lost"] == 1)
        queue.complete_job(fresh, result="fresh")


def test_a_thread_worker_runs_a_coroutine_handler_to_completion(make_queue):
    queue = make_queue(shards=1)
    job_id = queue.enqueue({"n": 2})["id"]

    async def handler(payload: dict) -> int:
        await asyncio.sleep(0)
        return payload["n"] * 10

    worker = Worker("w", handler, queue, poll_interval=0.05)
    with worker_running(worker):
        assert queue.wait_until_empty(timeout=10)
    assert queue.get_job(job_id).result == 20


def test_an_async_worker_routes_task_jobs_to_tasks_and_others_to_its_fallback(short_leases):
    from queue_max import WorkerOptions
    from queue_max.tasks import registry, task

    # Given a coroutine task, a task job, a plain job, and an async worker with a fallback
    queue = short_leases()

    @task(queue=queue, name="test.async_double")
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def fallback(payload):
        return {"plain": payload["n"]}

    try:
        handle = double.delay(21)
        plain = queue.enqueue({"n": 5})["id"]
        worker = AsyncWorker("async-router", None, queue, options=WorkerOptions(concurrency=2, burst=True,
                                                                                poll_interval=0.02),
                             fallback=fallback)
        # When it drains the queue
        worker.start()
        assert worker.wait(20)
        # Then the same rule as a thread worker's routed each job
        assert handle.get(timeout=5) == 42
        assert queue.get_job(plain).result == {"plain": 5}
    finally:
        registry.unregister("test.async_double")
