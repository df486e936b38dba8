"""The Queue's rate limiter, circuit breaker and events."""

from __future__ import annotations

import threading

import pytest

from queue_max import ConfigError
from _helpers import run_threads


def test_empty_polls_spend_no_rate_limit_tokens(make_queue, clock):
    queue = make_queue(rate_limit=5, clock=clock)
    for _ in range(50):
        assert queue.pop_job("w") is None
    assert queue.rate_limiter.get_remaining_tokens() == pytest.approx(5)


def test_each_claimed_job_spends_one_token_and_the_limit_holds(make_queue, clock):
    queue = make_queue(rate_limit=3, clock=clock, rate_limiter_timeout=0)
    for n in range(5):
        queue.enqueue({"n": n})
    claimed = [queue.pop_job("w") for _ in range(5)]
    assert sum(job is not None for job in claimed) == 3
    # the jobs that found no token were released, not lost or counted
    assert queue.get_stats()["pending"] == 2
    assert all(job.attempts == 0 for job in queue.list_jobs("pending"))
    clock.advance(20)  # 3 per minute: one token back every 20 s
    assert queue.pop_job("w") is not None


def test_rate_limit_zero_disables_the_limiter(make_queue):
    queue = make_queue(rate_limit=0)
    assert queue.rate_limiter is None
    assert queue.get_stats()["rate_limit"] == 0


def test_an_open_circuit_stops_claims_until_its_timeout(make_queue, clock):
    queue = make_queue(clock=clock, circuit_breaker_threshold=2, circuit_breaker_timeout=60,
                       max_retries=0)
    for n in range(6):
        queue.enqueue({"n": n}, pagina_id=0)
    for _ in range(2):
        queue.fail_job(queue.pop_job("w"), error="down")
    assert queue.get_stats()["circuit_state"] == "open"
    assert queue.pop_job("w") is None
    assert queue.get_stats()["is_healthy"] is False
    clock.advance(60)
    # half-open: exactly one trial job gets through, whatever the number of callers
    trial = queue.pop_job("w")
    assert trial is not None and queue.pop_job("w") is None
    queue.complete_job(trial)
    assert queue.get_stats()["circuit_state"] == "closed"
    assert queue.pop_job("w") is not None


def test_half_open_lets_one_trial_through_across_threads(make_queue, clock):
    queue = make_queue(clock=clock, circuit_breaker_threshold=1, circuit_breaker_timeout=5,
                       max_retries=0, shards=1)
    for n in range(20):
        queue.enqueue({"n": n})
    queue.fail_job(queue.pop_job("w"), error="down")
    clock.advance(5)
    start, got, lock = threading.Barrier(8), [], threading.Lock()

    def poll() -> None:
        start.wait()
        job = queue.pop_job("t")
        with lock:
            got.append(job)

    run_threads(8, poll)
    assert sum(job is not None for job in got) == 1


def test_events_fire_with_the_reference_arguments(queue):
    seen = []
    queue.on("job_enqueued", lambda job_id, shard_id: seen.append(("enqueued", job_id)))
    queue.on("job_completed", lambda job_id, shard_id: seen.append(("completed", job_id)))
    queue.on("job_retried", lambda job_id, shard_id, error: seen.append(("retried", error)))
    queue.on("job_failed", lambda job_id, shard_id, error: seen.append(("failed", error)))
    a = queue.enqueue({"a": 1})["id"]
    queue.complete_job(queue.pop_job("w"))
    queue.enqueue({"b": 1}, max_retries=1)
    queue.fail_job(queue.pop_job("w"), error="first")
    queue.clock.advance(10_000)
    queue.fail_job(queue.pop_job("w"), error="last")
    assert seen[:2] == [("enqueued", a), ("completed", a)]
    assert seen[3:] == [("retried", "first"), ("failed", "last")]


def test_batch_suppresses_events_only_in_the_calling_thread(queue):
    seen = []
    queue.on("job_enqueued", lambda job_id, shard_id: seen.append(threading.current_thread().name))
    with queue.batch():
        queue.enqueue({"inside": 1})
        other = threading.Thread(target=lambda: queue.enqueue({"other": 1}), name="other")
        other.start()
        other.join()
    queue.enqueue({"after": 1})
    assert seen == ["other", threading.current_thread().name]


def test_a_dedupe_hit_writes_nothing_and_emits_no_enqueued_event(queue):
    # Given a live job with a dedupe key, and a listener on job_enqueued
    seen = []
    queue.on("job_enqueued", lambda job_id, shard_id: seen.append(job_id))
    first = queue.enqueue({"a": 1}, dedupe_key="k")["id"]
    # When the same key is enqueued again, alone and in a batch
    again = queue.enqueue({"a": 1}, dedupe_key="k")["id"]
    queue.enqueue_batch([{"payload": {"a": 1}, "dedupe_key": "k"}])
    # Then the live job's id comes back and the event fired once, for the job written
    assert again == first
    assert seen == [first]


def test_a_listener_hears_the_lone_enqueues_made_while_it_is_on_and_only_those(queue):
    # Given a queue that enqueued with nobody listening
    seen, other = [], []
    queue.enqueue({"before": 1})

    def listener(job_id, shard_id):
        seen.append(job_id)

    def joiner(job_id, shard_id):
        other.append(job_id)

    # When a listener comes, another joins and leaves, and the first one leaves
    queue.on("job_enqueued", listener)
    heard = queue.enqueue({"heard": 1})["id"]
    queue.on("job_enqueued", joiner)
    both = queue.enqueue({"both": 1})["id"]
    queue.off("job_enqueued", joiner)
    also = queue.enqueue({"also": 1})["id"]
    queue.off("job_enqueued", listener)
    queue.enqueue({"after": 1})
    # Then each heard exactly the enqueues made while it was on
    assert seen == [heard, both, also]
    assert other == [both]


def test_a_failing_listener_never_breaks_the_queue(queue, caplog):
    queue.on("job_enqueued", lambda job_id, shard_id: 1 / 0)
    assert queue.enqueue({"x": 1})["id"]
    assert "ZeroDivisionError" in caplog.text


def test_alert_fires_when_the_backlog_passes_the_threshold(make_queue):
    queue = make_queue(alert_threshold=3)
    alerts = []
    queue.on("alert", lambda kind, pending, threshold: alerts.append((kind, pending, threshold)))
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(4)])
    assert alerts == [("QUEUE_SIZE", 4, 3)]


def test_callbacks_get_the_event_arguments_by_keyword_as_in_0_1_1(make_queue):
    # Given callbacks written for 0.1.1: keyword-only, **kwargs, and positional under other names
    queue = make_queue(alert_threshold=1)
    by_keyword, by_kwargs, by_position = [], [], []
    queue.on("job_enqueued", lambda *, job_id, shard_id: by_keyword.append(job_id))
    queue.on("alert", lambda **kw: by_kwargs.append(kw))
    queue.on("job_enqueued", lambda jid, sid: by_position.append(jid))
    # When two jobs are enqueued
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(2)])["ids"]
    # Then each callback got what it asked for, and the alert has 0.1.1's names and type
    assert by_keyword == by_position == ids
    assert by_kwargs == [{"type": "QUEUE_SIZE", "pending": 2, "threshold": 1}]


def test_unknown_events_are_refused(queue):
    with pytest.raises(ValueError, match="unknown event 'job_done'"):
        queue.on("job_done", print)


def test_the_limiter_burst_can_be_smaller_than_a_minutes_worth(make_queue, clock):
    queue = make_queue(rate_limit=600, rate_limit_burst=2, clock=clock, rate_limiter_timeout=0)
    for n in range(5):
        queue.enqueue({"n": n})
    assert sum(queue.pop_job("w") is not None for _ in range(5)) == 2
    clock.advance(0.1)  # 600/min: one token every 0.1 s
    assert queue.pop_job("w") is not None
