"""Task jobs on a worker: retries per task, unknown tasks, and the hooks a worker calls."""

from __future__ import annotations

import asyncio

import pytest
from task_modules.fixtures import drain, isolated_tasks, tq  # noqa: F401

from queue_max import JobStatus, Permanent, Retry
from queue_max.tasks import (
    MalformedTaskPayload,
    TaskFailed,
    UnknownTask,
    current_job,
    execute_task_payload,
    execute_task_payload_async,
    is_task_payload,
    process_task_job,
    resolve_handler,
    run_task,
    task,
    task_fail_kwargs,
    task_retry_options,
    task_timeout,
)


def run_one(queue):
    [job] = queue.claim_jobs("w", 1)
    return job, process_task_job(queue, job)


def test_an_error_outside_retry_on_is_dead_lettered_at_once(tq):
    @task(max_retries=3, retry_on=[TimeoutError])
    def fetch() -> None:
        raise ValueError("bad url")

    fetch.delay()
    assert run_one(tq)[1] is JobStatus.FAILED
    assert tq.dlq_list()[0].error_type == "ValueError"


def test_an_error_in_retry_on_is_retried_until_max_retries(tq, clock):
    @task(max_retries=2, retry_on=(TimeoutError,))
    def fetch() -> None:
        raise TimeoutError("slow")

    handle = fetch.delay()
    statuses = []
    for _ in range(3):
        clock.advance(10_000)
        statuses.append(run_one(tq)[1])
    assert statuses == [JobStatus.PENDING, JobStatus.PENDING, JobStatus.FAILED]
    with pytest.raises(TaskFailed) as caught:
        handle.get(timeout=1)
    assert (caught.value.error_type, caught.value.attempts) == ("TimeoutError", 3)


def test_retry_with_a_delay_runs_again_after_that_delay(tq, clock):
    @task(max_retries=1)
    def poll() -> str:
        job = current_job()
        if job is not None and job.attempts == 1:
            raise Retry(delay=5)
        return "second time"

    handle = poll.delay()
    _job, status = run_one(tq)
    assert status is JobStatus.PENDING
    assert handle.job().run_ts == clock.time() + 5
    clock.advance(5)
    assert run_one(tq)[1] is JobStatus.COMPLETED and handle.get(timeout=1) == "second time"


def test_permanent_is_never_retried(tq):
    @task(max_retries=5)
    def refuse() -> None:
        raise Permanent("account closed")

    handle = refuse.delay()
    assert run_one(tq)[1] is JobStatus.FAILED
    with pytest.raises(TaskFailed, match="account closed"):
        handle.get(timeout=1)


def test_max_retries_zero_dead_letters_the_first_failure(tq):
    @task(max_retries=0)
    def flaky() -> None:
        raise ConnectionError("down")

    flaky.delay()
    assert run_one(tq)[1] is JobStatus.FAILED


def test_the_task_backoff_sets_the_retry_delay(tq, clock):
    @task(max_retries=3, retry_backoff=10, retry_backoff_max=10)
    def flaky() -> None:
        raise ConnectionError("down")

    handle = flaky.delay()
    run_one(tq)
    delay = handle.job().run_ts - clock.time()
    assert 8.0 <= delay <= 12.0  # 10s with +-20% jitter, not the queue's 120s


def test_an_unknown_task_is_dead_lettered_with_a_clear_message(tq):
    # Given a job naming a task no module in this process registered
    tq.enqueue({"__task__": "billing:charge", "args": [], "kwargs": {}})
    # When a worker runs it
    job, status = run_one(tq)
    # Then it is dead-lettered (not retried, no crash) and says what to do
    assert status is JobStatus.FAILED and job.attempts == 1
    entry = tq.dlq_list()[0]
    assert entry.error_type == "queue_max.tasks.errors.UnknownTask"
    assert entry.error == ("no task registered as 'billing:charge'; the worker must import the module "
                           "that defines it (queue-max worker --tasks module)")


@pytest.mark.parametrize("payload", [
    {"__task__": 3},
    {"__task__": "x", "args": {"a": 1}},
    {"__task__": "x", "args": [], "kwargs": [], },
    {"__task__": "x", "surprise": 1},
])
def test_a_malformed_envelope_is_permanent(payload):
    with pytest.raises(MalformedTaskPayload):
        execute_task_payload(payload)


def test_arguments_that_no_longer_fit_the_function_are_dead_lettered_at_once(tq):
    # Given a job enqueued for an older version of the function, with an argument it dropped
    @task(max_retries=5)
    def resize(width: int) -> int:
        return width

    tq.enqueue({"__task__": resize.name, "args": [100, 200], "kwargs": {}})
    # When a worker runs it, it is dead-lettered without retries, saying why
    job, status = run_one(tq)
    assert status is JobStatus.FAILED and job.attempts == 1
    assert "arguments do not match resize(width): too many positional arguments" in (tq.dlq_list()[0].error or "")


def test_a_result_that_is_not_json_fails_the_job_permanently(tq):
    @task(max_retries=3)
    def pair() -> tuple[int, int]:
        return (1, 2)

    handle = pair.delay()
    assert run_one(tq)[1] is JobStatus.FAILED
    with pytest.raises(TaskFailed) as caught:
        handle.get(timeout=1)
    assert caught.value.error_type == "queue_max.errors.InvalidPayload"
    assert "tuple" in caught.value.error_message


def test_the_running_job_is_visible_inside_the_task(tq):
    @task
    def whoami() -> list[int]:
        job = current_job()
        assert job is not None
        return [job.id, job.attempts]

    handle = whoami.delay()
    drain(tq)
    assert handle.get(timeout=1) == [handle.id, 1]
    assert current_job() is None


def test_a_coroutine_task_runs_to_completion(tq):
    @task
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    handle = fetch.delay(1)
    drain(tq)
    assert handle.get(timeout=1) == 2
    payload = {"__task__": fetch.name, "args": [5], "kwargs": {}}
    assert asyncio.run(execute_task_payload_async(payload)) == 6


def test_run_task_is_a_process_function_for_task_payloads(tq):
    @task
    def add(a: int, b: int) -> int:
        return a + b

    add.delay(1, b=2)
    [job] = tq.claim_jobs("w", 1)
    assert is_task_payload(job.payload) and not is_task_payload({"task": "x"})
    assert run_task(job.payload) == 3


def test_the_worker_hooks_report_the_task_options(tq):
    @task(timeout=30, retry_on=[TimeoutError], retry_backoff=2, max_retries=4)
    def fetch() -> None: ...

    payload = {"__task__": fetch.name, "args": [], "kwargs": {}}
    options = task_retry_options(payload)
    assert (options.retry_on, options.max_retries, options.timeout) == ((TimeoutError,), 4, 30.0)
    assert task_timeout(payload) == 30.0 and task_timeout({"plain": 1}) is None
    kwargs = task_fail_kwargs(payload, TimeoutError("slow"))
    assert kwargs["retry_on"] == (TimeoutError,) and 1.6 <= kwargs["retry_delay"] <= 2.4
    # Retry(delay=) keeps its own delay: the worker must not override it
    assert task_fail_kwargs(payload, Retry(delay=7))["retry_delay"] is None
    assert task_fail_kwargs({"__task__": "unknown"}, ValueError()) == {"retry_on": None, "retry_delay": None}


def test_resolve_handler_gives_the_workers_a_callable_with_the_task_options(tq):
    @task(timeout=5, retry_on=[KeyError])
    def pick(d: dict[str, int], key: str) -> int:
        return d[key]

    pick.delay({"a": 1}, "a")
    [job] = tq.claim_jobs("w", 1)
    handler = resolve_handler(job)
    assert (handler.timeout, handler.retry_on) == (5.0, (KeyError,))
    assert handler(job.payload) == 1
    tq.enqueue({"__task__": "gone:task", "args": [], "kwargs": {}})
    [unknown] = tq.claim_jobs("w", 1)
    with pytest.raises(UnknownTask):
        resolve_handler(unknown)
