"""dedupe_window: a dedupe key that also covers jobs completed a while ago (idempotent producer retries)."""

from __future__ import annotations

import pytest
from task_modules.fixtures import drain, isolated_tasks, tq  # noqa: F401

from queue_max import InvalidPayload
from queue_max.tasks import task


def run_one(queue) -> None:
    job = queue.pop_job("w")
    assert job is not None
    queue.complete_job(job)


def test_a_producer_retry_inside_the_window_gets_the_completed_job_back(queue, clock):
    # Given a keyed job that ran to completion
    first = queue.enqueue({"order": 7}, dedupe_key="order:7", dedupe_window=300)
    run_one(queue)
    # When the producer, unsure whether it enqueued, retries a minute later
    clock.advance(60)
    again = queue.enqueue({"order": 7}, dedupe_key="order:7", dedupe_window=300)
    # Then it gets the same job back, marked as not created, and no work is queued
    assert first["created"] is True
    assert again == {"id": first["id"], "shard_id": first["shard_id"], "created": False}
    assert queue.pop_job("w") is None


def test_after_the_window_or_without_one_the_key_is_free_again(queue, clock):
    # Given a keyed job that completed
    first = queue.enqueue({"n": 1}, dedupe_key="k", dedupe_window=10)
    run_one(queue)
    # When the same key comes again without a window: today's live-only meaning
    plain = queue.enqueue({"n": 2}, dedupe_key="k")
    # Then a new job is added, and the 0.1.1 shape comes back
    assert set(plain) == {"id", "shard_id"} and plain["id"] != first["id"]
    run_one(queue)
    # And with the window passed, a windowed enqueue adds a job too
    clock.advance(11)
    late = queue.enqueue({"n": 3}, dedupe_key="k", dedupe_window=10)
    assert late["created"] is True and late["id"] not in (first["id"], plain["id"])


def test_batch_items_take_a_dedupe_window(queue, clock):
    # Given a completed keyed job
    queue.enqueue({"n": 1}, dedupe_key="a")
    run_one(queue)
    # When a batch repeats the key with a window, beside a new key
    result = queue.enqueue_batch([{"payload": {"n": 1}, "dedupe_key": "a", "dedupe_window": 60},
                                  {"payload": {"n": 2}, "dedupe_key": "b", "dedupe_window": 60}])
    # Then only the new key's job is waiting
    job = queue.pop_job("w")
    assert job is not None and job.payload == {"n": 2}
    assert queue.pop_job("w") is None and result["total"] == 2


def test_with_options_takes_a_dedupe_window_and_the_handle_says_it_was_not_created(tq):
    @task
    def charge(order: int) -> int:
        return order

    first = charge.with_options(dedupe_key="charge:1", dedupe_window=3600).delay(1)
    drain(tq)
    again = charge.with_options(dedupe_key="charge:1", dedupe_window=3600).delay(1)
    assert first.created is True
    assert again.id == first.id and again.created is False and again.get(timeout=0) == 1


@pytest.mark.parametrize("window", [0, -5, float("nan"), float("inf"), "60", True])
def test_a_bad_dedupe_window_is_refused_naming_the_value(queue, window):
    with pytest.raises(InvalidPayload, match=r"dedupe_window must be a finite number of seconds > 0"):
        queue.enqueue({"n": 1}, dedupe_key="k", dedupe_window=window)
    assert queue.get_stats()["pending"] == 0


def test_a_dedupe_window_without_a_dedupe_key_is_refused(queue):
    with pytest.raises(InvalidPayload, match=r"dedupe_window=60 needs a dedupe_key"):
        queue.enqueue({"n": 1}, dedupe_window=60)
    with pytest.raises(InvalidPayload, match=r"enqueue_batch item 1: dedupe_window=5 needs a dedupe_key"):
        queue.enqueue_batch([{"payload": {"n": 1}}, {"payload": {"n": 2}, "dedupe_window": 5}])
    assert queue.get_stats()["pending"] == 0


def test_map_refuses_a_dedupe_window(tq):
    @task
    def noop(n: int) -> None: ...

    with pytest.raises(InvalidPayload, match="dedupe_key names one job"):
        noop.with_options(dedupe_window=10).map([1, 2])
