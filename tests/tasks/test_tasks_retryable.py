"""@retryable_task: a direct call retries in-process with backoff; .delay() still enqueues."""

from __future__ import annotations

import pytest
from task_modules.fixtures import drain, isolated_tasks, tq  # noqa: F401

from queue_max import JobStatus, Permanent, Retry
from queue_max.tasks import (
    RetryableTask,
    TaskFailed,
    retryable_task,
    task_retry_options,
)


def flaky_until(succeed_on: int, error: Exception):
    calls: list[int] = []

    def fn() -> int:
        calls.append(len(calls) + 1)
        if len(calls) < succeed_on:
            raise error
        return len(calls)

    return fn, calls


def test_a_direct_call_retries_until_it_succeeds(tq):
    slept: list[float] = []
    fn, calls = flaky_until(3, TimeoutError("slow"))
    fetch = retryable_task(max_retries=5, retry_on=[TimeoutError], sleep=slept.append, name="r.ok")(fn)
    assert isinstance(fetch, RetryableTask)
    assert fetch() == 3 and calls == [1, 2, 3]
    # backoff of 1s then 2s, each within the 20% jitter
    assert len(slept) == 2 and 0.8 <= slept[0] <= 1.2 and 1.6 <= slept[1] <= 2.4


def test_a_direct_call_gives_up_after_max_retries_and_raises_the_last_error(tq):
    slept: list[float] = []
    fn, calls = flaky_until(99, TimeoutError("still slow"))
    fetch = retryable_task(max_retries=2, retry_on=[TimeoutError], sleep=slept.append, name="r.out")(fn)
    with pytest.raises(TimeoutError, match="still slow"):
        fetch()
    assert len(calls) == 3 and len(slept) == 2


@pytest.mark.parametrize("error", [ValueError("not in retry_on"), Permanent("no point")])
def test_errors_that_are_not_retryable_are_raised_at_once(tq, error):
    fn, calls = flaky_until(99, error)
    fetch = retryable_task(max_retries=5, retry_on=[TimeoutError, Permanent], sleep=lambda s: None,
                           name="r.no")(fn)
    with pytest.raises(type(error)):
        fetch()
    assert calls == [1]


def test_retry_with_a_delay_waits_that_long(tq):
    slept: list[float] = []
    fn, _calls = flaky_until(2, Retry(delay=0.25))
    fetch = retryable_task(max_retries=1, sleep=slept.append, name="r.retry")(fn)
    assert fetch() == 2 and slept == [0.25]


def test_the_task_backoff_applies_to_direct_calls(tq):
    slept: list[float] = []
    fn, _calls = flaky_until(2, ConnectionError("down"))
    fetch = retryable_task(max_retries=1, retry_backoff=0.01, retry_backoff_max=0.01, sleep=slept.append,
                           name="r.backoff")(fn)
    assert fetch() == 2 and 0.008 <= slept[0] <= 0.012


def test_bare_retryable_task_uses_three_retries(tq):
    @retryable_task
    def fetch() -> int:
        return 1

    assert fetch() == 1 and fetch.options.max_retries == 3


def test_delay_enqueues_and_the_worker_retries_the_job_instead(tq, clock):
    # Given a retryable task that always times out
    fn, calls = flaky_until(99, TimeoutError("slow"))
    fetch = retryable_task(max_retries=1, retry_on=[TimeoutError], sleep=lambda s: None, name="r.q")(fn)
    # When it is delayed, it is enqueued with the same retry options
    handle = fetch.delay()
    assert task_retry_options(handle.job().payload).retry_on == (TimeoutError,)
    # And each worker attempt runs the function once (no in-process retries on a worker)
    drain(tq)
    assert calls == [1] and handle.status is JobStatus.PENDING
    clock.advance(3600)
    drain(tq)
    assert calls == [1, 2]
    with pytest.raises(TaskFailed, match="TimeoutError: slow"):
        handle.get(timeout=1)
