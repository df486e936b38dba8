"""Task jobs on the built-in workers: dispatch by name, per-task options, coroutine tasks."""

from __future__ import annotations

import asyncio

import pytest
from task_modules.fixtures import isolated_tasks, rq  # noqa: F401

from queue_max.tasks import TaskFailed, current_job, resolve_handler, run_task, task

workers = pytest.importorskip("queue_max.workers")


def test_a_worker_without_a_process_function_runs_tasks_by_name_with_their_options(rq):
    @task(max_retries=3, retry_on=[TimeoutError])
    def not_retried() -> None:
        raise ValueError("not in retry_on")

    @task
    def whoami() -> int:
        job = current_job()
        assert job is not None
        return job.id

    worker = workers.Worker("w", queue=rq, poll_interval=0.05)
    worker.start()
    try:
        failed, mine = not_retried.delay(), whoami.delay()
        assert mine.get(timeout=30) == mine.id
        with pytest.raises(TaskFailed) as caught:
            failed.get(timeout=30)
        assert caught.value.attempts == 1  # dead-lettered at once: ValueError is not in retry_on
    finally:
        worker.stop()


def test_run_task_is_a_process_function_for_the_thread_worker(rq):
    @task
    def add(a: int, b: int) -> int:
        return a + b

    worker = workers.Worker("w", run_task, rq, poll_interval=0.05)
    worker.start()
    try:
        assert [h.get(timeout=30) for h in add.map([1, 2, 3], 10)] == [11, 12, 13]
    finally:
        worker.stop()


def test_the_async_worker_awaits_coroutine_tasks_and_runs_plain_ones(rq):
    @task
    async def slow_double(x: int) -> int:
        await asyncio.sleep(0.01)
        return 2 * x

    @task
    def triple(x: int) -> int:
        return 3 * x

    worker = workers.AsyncWorker("aw", queue=rq, poll_interval=0.05)
    worker.start()
    try:
        handles = [slow_double.delay(5), triple.delay(5)]
        assert [h.get(timeout=30) for h in handles] == [10, 15]
    finally:
        worker.stop()


def test_handlers_return_a_coroutine_inside_an_event_loop(rq):
    @task
    async def one() -> int:
        return 1

    one.delay()
    [job] = rq.claim_jobs("w", 1)

    async def main() -> list[int]:
        return [await resolve_handler(job)(job.payload), await run_task(job.payload)]

    assert asyncio.run(main()) == [1, 1]
    assert resolve_handler(job)(job.payload) == 1  # outside a loop: run to completion
