"""The storage contract's named queues and host-wide flow control (points 8 and 9 of
queue_max.storage.base): every backend must pass this file unchanged."""

from __future__ import annotations

import json
import threading

from queue_max.models import ErrorInfo, NewJob
from queue_max.storage.base import Backend
from _helpers import run_threads

NOW = 1_800_000_000.0
LEASE = 30.0


def named(queue_name: str, n: int, **options: object) -> list[NewJob]:
    return [NewJob(json.dumps({"q": queue_name, "i": i}), queue_name=queue_name, **options)  # type: ignore[arg-type]
            for i in range(n)]


def test_a_job_keeps_its_queue_name_and_concurrency_key(backend: Backend):
    (ref,) = backend.enqueue_many([NewJob("{}", queue_name="emails", concurrency_key="c-1")], NOW)
    stored = backend.get(ref.id)
    assert stored is not None and (stored.queue_name, stored.concurrency_key) == ("emails", "c-1")
    (claimed,) = backend.claim("w", 1, LEASE, NOW)
    assert (claimed.queue_name, claimed.concurrency_key) == ("emails", "c-1")


def test_jobs_without_a_queue_name_go_to_the_default_queue(backend: Backend):
    backend.enqueue_many([NewJob("{}")], NOW)
    backend.enqueue_payloads([{"bulk": 1}], 4, NOW, 1 << 20)
    assert {job.queue_name for job in backend.claim("w", 5, LEASE, NOW)} == {"default"}


def test_a_claim_on_one_queue_never_returns_another_queues_jobs(backend: Backend):
    # Given jobs in three queues, enqueued one by one and in batches
    backend.enqueue_many(named("emails", 7) + named("reports", 5), NOW)
    for job in named("default", 3):
        backend.enqueue_many([job], NOW)
    # When a worker claims from "reports" only
    claimed = backend.claim("w", 100, LEASE, NOW, queue="reports")
    # Then it gets exactly the five report jobs, and the others are still there
    assert sorted(job.payload["i"] for job in claimed) == [0, 1, 2, 3, 4]
    assert {job.queue_name for job in claimed} == {"reports"}
    assert backend.claim("w", 100, LEASE, NOW, queue="reports") == []
    assert len(backend.claim("w", 100, LEASE, NOW, queue="emails")) == 7


def test_a_claim_can_exclude_queues(backend: Backend):
    backend.enqueue_many(named("emails", 4) + named("paused", 4), NOW)
    claimed = backend.claim("w", 100, LEASE, NOW, exclude={"paused"})
    assert {job.queue_name for job in claimed} == {"emails"} and len(claimed) == 4
    assert len(backend.claim("w", 100, LEASE, NOW)) == 4


def test_a_scheduled_job_of_a_named_queue_becomes_claimable_from_that_queue(backend: Backend):
    backend.enqueue_many(named("later", 1, run_at=NOW + 10), NOW)
    assert backend.claim("w", 5, LEASE, NOW, queue="later") == []
    assert len(backend.claim("w", 5, LEASE, NOW + 10, queue="later")) == 1


def test_a_new_bucket_starts_full_and_never_grants_more_than_it_holds(backend: Backend):
    # Given a bucket of burst 5 refilled at 1 token a second
    assert backend.take_tokens("queue:a", 3, 1.0, 5.0, NOW) == 3
    assert backend.take_tokens("queue:a", 3, 1.0, 5.0, NOW) == 2
    assert backend.take_tokens("queue:a", 3, 1.0, 5.0, NOW) == 0
    # When 2.5 seconds pass, 2 whole tokens are there
    assert backend.take_tokens("queue:a", 10, 1.0, 5.0, NOW + 2.5) == 2
    # And a long idle time refills only up to the burst
    assert backend.take_tokens("queue:a", 10, 1.0, 5.0, NOW + 1000) == 5


def test_buckets_are_independent_and_returned_tokens_are_capped_at_the_burst(backend: Backend):
    assert backend.take_tokens("queue:a", 5, 1.0, 5.0, NOW) == 5
    assert backend.take_tokens("task:b", 5, 1.0, 5.0, NOW) == 5
    backend.return_tokens("queue:a", 3, 5.0, NOW)
    backend.return_tokens("queue:a", 30, 5.0, NOW)
    assert backend.take_tokens("queue:a", 10, 1.0, 5.0, NOW) == 5
    assert backend.flow_state(NOW).tokens == {"queue:a": (0.0, NOW), "task:b": (0.0, NOW)}


def test_a_bucket_does_not_refill_when_the_clock_steps_back(backend: Backend):
    assert backend.take_tokens("b", 5, 1.0, 5.0, NOW) == 5
    assert backend.take_tokens("b", 5, 1.0, 5.0, NOW - 100) == 0
    assert backend.take_tokens("b", 5, 1.0, 5.0, NOW + 1) == 1


def test_threads_sharing_a_bucket_never_take_more_than_the_burst(backend: Backend):
    start, taken, lock = threading.Barrier(8), [], threading.Lock()

    def take() -> None:
        start.wait()
        for _ in range(10):
            got = backend.take_tokens("shared", 1, 0.0, 25.0, NOW)
            with lock:
                taken.append(got)

    run_threads(8, take)
    assert sum(taken) == 25


def test_consecutive_failures_open_a_breaker_and_a_success_closes_it(backend: Backend):
    assert backend.breaker_record("queue:a", "failure", 3, NOW) is None
    assert backend.breaker_record("queue:a", "success", 3, NOW) is None  # the run is broken
    assert backend.breaker_record("queue:a", "failure", 3, NOW) is None
    assert backend.breaker_record("queue:a", "failure", 3, NOW) is None
    assert backend.breaker_record("queue:a", "failure", 3, NOW) == ("closed", "open")
    assert backend.breaker_gate("queue:a", 60.0, LEASE, NOW + 59) == "open"
    assert backend.breaker_gate("queue:b", 60.0, LEASE, NOW + 59) == "closed"
    paused, breakers = backend.claim_blocks()
    assert paused == frozenset() and breakers["queue:a"].state == "open"


def test_after_the_recovery_timeout_exactly_one_caller_gets_the_trial(backend: Backend):
    for _ in range(2):
        backend.breaker_record("q", "failure", 2, NOW)
    answers = [backend.breaker_gate("q", 60.0, LEASE, NOW + 60) for _ in range(5)]
    assert answers == ["trial", "open", "open", "open", "open"]
    # When the trial succeeds the breaker closes for everyone
    assert backend.breaker_record("q", "success", 2, NOW + 61) == ("half_open", "closed")
    assert backend.breaker_gate("q", 60.0, LEASE, NOW + 61) == "closed"
    assert backend.claim_blocks() == (frozenset(), {})


def test_a_failed_trial_reopens_the_breaker_for_another_recovery_timeout(backend: Backend):
    for _ in range(2):
        backend.breaker_record("q", "failure", 2, NOW)
    assert backend.breaker_gate("q", 60.0, LEASE, NOW + 60) == "trial"
    assert backend.breaker_record("q", "failure", 2, NOW + 61) == ("half_open", "open")
    assert backend.breaker_gate("q", 60.0, LEASE, NOW + 120) == "open"
    assert backend.breaker_gate("q", 60.0, LEASE, NOW + 121) == "trial"


def test_a_trial_whose_worker_died_lapses_and_an_abandoned_one_frees_at_once(backend: Backend):
    for _ in range(2):
        backend.breaker_record("q", "failure", 2, NOW)
    assert backend.breaker_gate("q", 60.0, LEASE, NOW + 60) == "trial"
    assert backend.breaker_gate("q", 60.0, LEASE, NOW + 60 + LEASE - 1) == "open"
    assert backend.breaker_gate("q", 60.0, LEASE, NOW + 60 + LEASE) == "trial"
    backend.breaker_record("q", "abandoned", 2, NOW + 91)
    assert backend.breaker_gate("q", 60.0, LEASE, NOW + 91) == "trial"


def test_concurrency_slots_are_capped_and_freed(backend: Backend):
    first = backend.take_slots("queue:r", 3, 2, "w1", NOW + LEASE, NOW)
    assert len(first) == 2
    assert backend.take_slots("queue:r", 1, 2, "w2", NOW + LEASE, NOW) == []
    assert len(backend.take_slots("key:c", 1, 1, "w2", NOW + LEASE, NOW)) == 1
    assert backend.flow_state(NOW).slots == {"key:c": 1, "queue:r": 2}
    backend.free_slots(first[:1])
    backend.free_slots(first[:1])  # freeing twice is harmless
    assert len(backend.take_slots("queue:r", 5, 2, "w2", NOW + LEASE, NOW)) == 1


def test_a_slot_of_a_dead_holder_is_freed_when_its_lease_expires(backend: Backend):
    assert len(backend.take_slots("queue:r", 1, 1, "dead", NOW + LEASE, NOW)) == 1
    assert backend.take_slots("queue:r", 1, 1, "w", NOW + 60, NOW + LEASE - 1) == []
    assert len(backend.take_slots("queue:r", 1, 1, "w", NOW + 60, NOW + LEASE + 0.001)) == 1


def test_a_heartbeat_keeps_the_holders_slots_alive(backend: Backend):
    backend.enqueue_many(named("r", 1), NOW)
    backend.claim("live", 1, LEASE, NOW)
    assert len(backend.take_slots("queue:r", 1, 1, "live", NOW + LEASE, NOW)) == 1
    backend.heartbeat("live", NOW + 2 * LEASE)
    assert backend.take_slots("queue:r", 1, 1, "other", NOW + 3 * LEASE, NOW + LEASE + 1) == []


def test_pausing_is_durable_and_idempotent(backend: Backend):
    assert backend.set_paused("emails", True, NOW) is True
    assert backend.set_paused("emails", True, NOW) is False
    assert backend.claim_blocks()[0] == frozenset({"emails"})
    assert backend.flow_state(NOW).paused == frozenset({"emails"})
    assert backend.set_paused("emails", False, NOW) is True
    assert backend.set_paused("emails", False, NOW) is False
    assert backend.claim_blocks()[0] == frozenset()


def test_flow_control_verbs_leave_jobs_alone(backend: Backend):
    backend.enqueue_many(named("a", 2), NOW)
    backend.take_tokens("queue:a", 1, 1.0, 1.0, NOW)
    backend.breaker_record("queue:a", "failure", 1, NOW)
    backend.set_paused("a", True, NOW)
    backend.take_slots("queue:a", 1, 1, "w", NOW + 1, NOW)
    assert backend.counts(NOW)["pending"] == 2
    assert backend.requeue_expired(NOW + 100, ErrorInfo("LeaseExpired", "x")).total == 0


def test_a_job_released_until_later_is_not_claimable_before_then_and_keeps_its_attempts(backend: Backend):
    backend.enqueue_many(named("k", 1), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    assert backend.release([job.lease], NOW, run_at=NOW + 5) == []
    assert backend.claim("w", 1, LEASE, NOW + 4.9) == []
    (again,) = backend.claim("w", 1, LEASE, NOW + 5, queue="k")
    assert again.id == job.id and again.tentativas == 1


def test_extended_slots_outlive_their_first_expiry(backend: Backend):
    (slot,) = backend.take_slots("queue:r", 1, 1, "w", NOW + LEASE, NOW)
    backend.extend_slots([slot], NOW + 2 * LEASE)
    assert backend.take_slots("queue:r", 1, 1, "other", NOW + 3 * LEASE, NOW + LEASE + 1) == []
    assert len(backend.take_slots("queue:r", 1, 1, "other", NOW + 3 * LEASE, NOW + 2 * LEASE + 1)) == 1


def test_consecutive_failures_add_up_to_the_threshold(backend: Backend):
    for _ in range(4):
        backend.breaker_record("q", "failure", 5, NOW)
    assert backend.flow_state(NOW).breakers["q"].failures == 4
    assert backend.breaker_record("q", "failure", 5, NOW) == ("closed", "open")
