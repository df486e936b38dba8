"""Tasks in named queues, and their own host-wide limits: per-task rate limits and per-key
concurrency (checked from what the claims hand out, with a fake clock)."""

from __future__ import annotations

import pytest
from task_modules.fixtures import drain, isolated_tasks, tq  # noqa: F401

from queue_max import ConfigError, InvalidPayload
from queue_max.flow import KEY_RETRY
from queue_max.tasks import task


def test_a_tasks_jobs_go_to_its_queue_unless_a_call_says_otherwise(tq):
    @task(queue_name="emails")
    def send(to: str) -> str:
        return to

    a = send.delay("a@x")
    b = send.with_options(queue_name="urgent").delay("b@x")
    c = send.map(["c@x", "d@x"])
    assert [tq.get_job(h.id).queue_name for h in (a, b, *c)] == ["emails", "urgent", "emails", "emails"]
    assert [job.queue_name for job in tq.claim_jobs("w", 10, queues=["urgent"])] == ["urgent"]


def test_bad_task_queue_options_are_refused(tq):
    with pytest.raises(ConfigError, match="queue_name must"):
        task(queue_name="no spaces")(lambda: None)
    with pytest.raises(ConfigError, match="rate_limit must be an int >= 1"):
        task(rate_limit=-1)
    with pytest.raises(ConfigError, match="concurrency_key must be a function"):
        task(concurrency_key="customer")

    @task
    def job() -> None: ...

    with pytest.raises(InvalidPayload, match="queue_name must"):
        job.with_options(queue_name="")


def test_a_key_function_that_raises_enqueues_nothing(tq):
    @task(concurrency_key=lambda customer_id: customer_id["id"])
    def bill(customer_id: object) -> None: ...

    with pytest.raises(InvalidPayload, match="concurrency_key function raised TypeError"):
        bill.delay(7)
    with pytest.raises(InvalidPayload, match="item 1: the concurrency_key function raised"):
        bill.map([{"id": 1}, 2])
    assert tq.get_stats()["pending"] == 0


def test_jobs_of_one_key_run_one_at_a_time_and_other_keys_go_on(tq, clock):
    # Given three jobs of customer 1 and one of customer 2
    @task(concurrency_key=lambda customer_id, **_: customer_id)
    def bill(customer_id: int, amount: int = 0) -> None: ...

    for amount in range(3):
        bill.delay(1, amount=amount)
    bill.delay(2)
    # When a worker claims everything it can
    first = tq.claim_jobs("w", 10)
    # Then one job per key runs; the others wait out of the run order, attempts untouched
    assert sorted(job.concurrency_key for job in first) == ["1", "2"]
    clock.advance(KEY_RETRY)
    assert tq.claim_jobs("w", 10) == []
    # And when the running job of customer 1 finishes, the next one may start
    tq.complete_jobs([(job, None) for job in first])
    clock.advance(KEY_RETRY)
    second = tq.claim_jobs("w", 10)
    assert [job.concurrency_key for job in second] == ["1"] and second[0].attempts == 1


def test_a_per_key_limit_above_one_and_a_key_given_at_enqueue(tq, clock):
    @task(concurrency_key=lambda region: region, concurrency_limit=2)
    def sync(region: str) -> None: ...

    for _ in range(3):
        sync.delay("eu")
    sync.with_options(concurrency_key="us").delay("eu")
    assert sorted(job.concurrency_key for job in tq.claim_jobs("w", 10)) == ["eu", "eu", "us"]


def test_a_per_task_rate_limit_is_shared_by_every_queue_object(tq, make_queue, clock):
    @task(rate_limit=60, rate_limit_burst=2)
    def ping() -> None: ...

    other = make_queue(shards=2, clock=clock)
    for _ in range(5):
        ping.delay()
    assert len(tq.claim_jobs("a", 10)) + len(other.claim_jobs("b", 10)) == 2
    clock.advance(1)  # 60 a minute: one more token; the refused jobs were due again after 1 s
    assert len(other.claim_jobs("b", 10)) == 1
    assert len(drain(tq)) == 0
