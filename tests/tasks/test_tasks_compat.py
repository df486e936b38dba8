"""The parts of `@task` that queue-max 0.1.1 offered beyond its README (compat-0.1.1.md)."""

from __future__ import annotations

import pytest
from task_modules.fixtures import drain, isolated_tasks, tq  # noqa: F401

from queue_max.tasks import periodic_task, retryable_task, task


def test_the_0_1_1_task_options_are_accepted_and_readable(tq):
    # Given a task declared with every 0.1.1 keyword
    @task(queue=tq, priority=1, max_retries=2, rate_limit=600, timeout=5, retry_delay=7,
          on_success=print, on_failure=print, version=3)
    def add(a: int, b: int) -> int:
        return a + b

    # Then its version, queue and stats read as in 0.1.1, and retry_delay is the backoff's base
    assert add.version == 3 and add.get_queue() is tq
    stats = add.get_stats()
    assert (stats["task_name"], stats["version"], stats["priority"], stats["max_retries"], stats["timeout"]) == (
        add.name, 3, 1, 2, 5.0)
    assert stats["queue_stats"]["num_shards"] == 2
    assert add.options.retry_policy().backoff_base == 7.0


def test_periodic_and_retryable_tasks_pass_retry_delay_through(tq):
    @retryable_task(max_retries=2, retry_delay=3)
    def flaky() -> None: ...

    @periodic_task(60, retry_delay=4, name="compat.tick")
    def tick() -> None: ...

    assert flaky.options.retry_backoff == 3.0 and tick.options.retry_backoff == 4.0


def test_on_success_and_on_failure_see_each_run(tq):
    # Given a task whose callbacks record what they get, one of them broken
    seen = []

    @task(max_retries=0, on_success=seen.append, on_failure=lambda exc: seen.append(type(exc).__name__))
    def divide(a: int, b: int) -> float:
        return a / b

    ok, bad = divide.delay(6, 3), divide.delay(1, 0)
    # When a worker runs both
    drain(tq)
    # Then on_success got the result and on_failure the error, and the outcomes are stored
    assert sorted(seen, key=str) == [2.0, "ZeroDivisionError"]
    assert ok.get(timeout=1) == 2.0 and bad.status.value == "failed"


def test_bulk_delay_enqueues_one_job_per_call_in_order(tq):
    @task
    def power(base: int, exponent: int = 2) -> int:
        return base**exponent

    handles = power.bulk_delay([((3,), {}), ((2,), {"exponent": 5}), ([4], {"exponent": 0})])
    drain(tq)
    assert [handle.get(timeout=1) for handle in handles] == [9, 32, 1]


def test_bulk_delay_refuses_an_item_that_is_not_an_args_kwargs_pair(tq):
    @task
    def noop(x: int) -> None: ...

    with pytest.raises(ValueError, match=r"bulk_delay\(\): item 1 must be an \(args tuple, kwargs dict\) pair, got 5"):
        noop.bulk_delay([((1,), {}), 5])
    assert tq.get_stats()["pending"] == 0


@pytest.mark.parametrize(("options", "message"), [
    ({"rate_limit": 0}, r"rate_limit must be an int >= 1 \(jobs per minute, or None\), got 0"),
    ({"version": "2"}, "version must be an int >= 1, got '2'"),
    ({"on_success": 5}, "on_success must be a callable or None, got 5"),
    ({"retry_delay": 5, "retry_backoff": 6}, r"retry_delay \(5.0\) and retry_backoff \(6.0\) name the same"),
])
def test_bad_0_1_1_options_are_refused_with_a_value_error(tq, options, message):
    with pytest.raises(ValueError, match=message):
        task(**options)


def test_a_task_rate_limit_spends_one_token_of_the_hosts_bucket_per_run(tq):
    # Given a task limited to 2 runs a minute
    @task(rate_limit=2)
    def ping() -> str:
        return "pong"

    # When a worker runs two of its jobs
    ping.delay()
    ping.delay()
    drain(tq)
    # Then both ran and the task's bucket, kept in storage for every process of the host
    # (0.1.1 kept one per process), is empty
    assert ping.get_stats()["succeeded"] == 2
    tokens, _as_of = tq.backend.flow_state(tq.clock.time()).tokens[f"task:{ping.name}"]
    assert tokens == 0
