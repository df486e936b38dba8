"""Named queues on the Queue: routing, claim order and fairness, pause, and host-wide limits
shared by every Queue object opened on the same directory (as separate processes would be)."""

from __future__ import annotations

import pytest

from queue_max import ConfigError, InvalidPayload
from queue_max import QueueLimits
from queue_max.flow import ROTATE_EVERY


def names(jobs) -> list[str]:
    return [job.queue_name for job in jobs]


def test_jobs_go_to_the_queue_named_at_enqueue(make_queue):
    queue = make_queue(shards=2)
    a = queue.enqueue({"to": "emails"}, queue_name="emails")["id"]
    b = queue.enqueue_batch([{"payload": {"n": 1}, "queue_name": "reports"}, {"payload": {"n": 2}}])["ids"]
    assert queue.get_job(a).queue_name == "emails"
    assert [queue.get_job(i).queue_name for i in b] == ["reports", "default"]
    assert queue.get_stats()["queues"]["reports"]["pending"] == 1


@pytest.mark.parametrize("bad", ["", " spaced", "with space", "é", "x" * 65, 7, None, "-lead", "a/b"])
def test_a_bad_queue_name_is_refused_before_anything_is_written(make_queue, bad):
    queue = make_queue()
    with pytest.raises(InvalidPayload, match="queue_name must be 1 to 64 characters"):
        queue.enqueue({"x": 1}, queue_name=bad)
    with pytest.raises(InvalidPayload, match="item 1: queue_name"):
        queue.enqueue_batch([{"payload": {"ok": 1}}, {"payload": {"x": 1}, "queue_name": bad}])
    assert queue.get_stats()["pending"] == 0


def test_a_claim_takes_the_listed_queues_in_order(make_queue):
    queue = make_queue(shards=1)
    queue.enqueue_batch([{"payload": {"n": n}, "queue_name": "bulk"} for n in range(3)])
    queue.enqueue_batch([{"payload": {"n": n}, "queue_name": "urgent"} for n in range(2)])
    queue.enqueue({"other": 1}, queue_name="other")
    assert names(queue.claim_jobs("w", 4, queues=["urgent", "bulk"])) == ["urgent", "urgent", "bulk", "bulk"]
    assert names(queue.claim_jobs("w", 9, queues="bulk")) == ["bulk"]
    assert names(queue.claim_jobs("w", 9)) == ["other"]


def test_a_later_queue_is_not_starved_by_a_busy_first_queue(make_queue):
    # Given a first queue that never runs dry and a second one with a few jobs
    queue = make_queue(shards=1)
    queue.enqueue_batch([{"payload": {"n": n}, "queue_name": "busy"} for n in range(200)])
    queue.enqueue_batch([{"payload": {"n": n}, "queue_name": "late"} for n in range(3)])
    # When a worker claims one job at a time, busy first
    got = [names(queue.claim_jobs("w", 1, queues=["busy", "late"]))[0] for _ in range(3 * ROTATE_EVERY)]
    # Then every ROTATE_EVERY-th claim went to the later queue
    assert [i for i, name in enumerate(got) if name == "late"] == [
        ROTATE_EVERY - 1, 2 * ROTATE_EVERY - 1, 3 * ROTATE_EVERY - 1]


def test_an_all_queues_claim_sees_a_second_queue_another_process_adds_to_its_shard(make_queue):
    # Given a worker whose all-queues claims leased one queue's jobs alone from its shard
    worker, other = make_queue(shards=1), make_queue(shards=1)
    worker.enqueue_batch([{"payload": {"n": n}, "queue_name": "bulk"} for n in range(20)])
    assert names(worker.claim_jobs("w", 4)) == ["bulk"] * 4
    assert names(worker.claim_jobs("w", 4)) == ["bulk"] * 4
    # When another Queue object (as another process would) adds two jobs of a second queue there
    other.enqueue({"n": 0}, priority=10, queue_name="urgent")
    other.enqueue({"n": 1}, queue_name="urgent")
    # Then the next claims take them in run order: the urgent one first, the other after bulk's
    assert names(worker.claim_jobs("w", 4)) == ["urgent", "bulk", "bulk", "bulk"]
    assert names(worker.claim_jobs("w", 16)) == ["bulk"] * 9 + ["urgent"]


def test_an_all_queues_claim_sees_another_queue_arrive_once_its_queue_ran_dry(make_queue):
    # Given a worker that claimed every job of the one queue of its shard
    worker, other = make_queue(shards=1), make_queue(shards=1)
    worker.enqueue_batch([{"payload": {"n": n}, "queue_name": "bulk"} for n in range(4)])
    assert names(worker.claim_jobs("w", 4)) == ["bulk"] * 4
    # When another Queue object adds jobs of another queue and of the first one
    other.enqueue_batch([{"payload": {"n": n}, "queue_name": "mail"} for n in range(2)])
    other.enqueue({"n": 9}, queue_name="bulk")
    # Then the next claim leases all three, in run order
    assert names(worker.claim_jobs("w", 4)) == ["mail", "mail", "bulk"]


def test_bad_worker_queue_lists_are_refused(make_queue):
    queue = make_queue()
    for bad, match in [([], "non-empty list"), (["a", "a"], "twice"), (["ok", "bad name"], "queue_name must")]:
        with pytest.raises(ConfigError, match=match):
            queue.claim_jobs("w", 1, queues=bad)


def test_a_paused_queue_keeps_accepting_jobs_but_no_queue_object_claims_them(make_queue, tmp_path):
    queue, other = make_queue(shards=2), make_queue(shards=2)
    queue.enqueue_batch([{"payload": {"n": n}, "queue_name": "emails"} for n in range(3)])
    assert queue.pause("emails") is True and queue.pause("emails") is False
    other.enqueue({"late": 1}, queue_name="emails")  # still accepted
    other.enqueue({"n": 9})
    assert names(other.claim_jobs("w", 10)) == ["default"]
    assert other.claim_jobs("w", 10, queues=["emails"]) == []
    assert other.get_stats()["queues"]["emails"]["paused"] is True
    assert other.paused_queues() == ["emails"]
    assert queue.resume("emails") is True
    assert len(other.claim_jobs("w", 10, queues=["emails"])) == 4


def test_a_breaker_opened_through_one_queue_object_stops_claims_through_another(make_queue, clock):
    kwargs = dict(shards=1, clock=clock, circuit_breaker_threshold=2, circuit_breaker_timeout=60, max_retries=0)
    one, two = make_queue(**kwargs), make_queue(**kwargs)
    one.enqueue_batch([{"payload": {"n": n}, "queue_name": "api"} for n in range(6)])
    one.enqueue({"fine": 1}, queue_name="local")
    # Given two failures recorded by the first
    for job in one.claim_jobs("a", 2, queues=["api"]):
        one.fail_job(job, error="down")
    # Then the second claims nothing from "api", while other queues go on
    assert two.claim_jobs("b", 5, queues=["api"]) == []
    assert names(two.claim_jobs("b", 5)) == ["local"]
    assert two.get_stats()["queues"]["api"]["circuit_state"] == "open"
    # And after the recovery timeout exactly one trial runs, whoever asks
    clock.advance(60)
    (trial,) = one.claim_jobs("a", 5, queues=["api"])
    assert two.claim_jobs("b", 5) == [] and one.claim_jobs("a", 5, queues=["api"]) == []
    # When the trial succeeds, the breaker closes for every process
    one.complete_job(trial)
    assert len(two.claim_jobs("b", 5, queues=["api"])) == 3


def test_a_rate_limit_is_one_bucket_for_every_queue_object(make_queue, clock):
    one = make_queue(shards=2, clock=clock, rate_limit=60, rate_limit_burst=3)
    two = make_queue(shards=2, clock=clock, rate_limit=60, rate_limit_burst=3)
    one.enqueue_batch([{"payload": {"n": n}} for n in range(10)])
    assert len(one.claim_jobs("a", 2)) + len(two.claim_jobs("b", 5)) + len(one.claim_jobs("a", 5)) == 3
    # the refused jobs went back untouched
    assert all(job.attempts == 0 for job in one.list_jobs("pending"))
    clock.advance(1)  # 60 a minute: one more token
    assert len(two.claim_jobs("b", 5)) == 1


def test_a_concurrency_limit_holds_across_queue_objects_and_frees_on_completion(make_queue):
    limits = {"reports": QueueLimits(concurrency_limit=2)}
    one, two = make_queue(shards=2, queue_limits=limits), make_queue(shards=2, queue_limits=limits)
    one.enqueue_batch([{"payload": {"n": n}, "queue_name": "reports"} for n in range(5)])
    first = one.claim_jobs("a", 5)
    assert len(first) == 2 and two.claim_jobs("b", 5) == []
    one.complete_jobs([(first[0], None)])
    assert len(two.claim_jobs("b", 5)) == 1
    assert one.get_stats()["queues"]["reports"]["running_slots"] == 2


def test_a_slot_held_by_a_dead_worker_is_freed_when_its_lease_expires(make_queue, clock):
    limits = {"reports": {"concurrency_limit": 1}}
    one = make_queue(shards=1, clock=clock, lease_timeout=30, queue_limits=limits)
    two = make_queue(shards=1, clock=clock, lease_timeout=30, queue_limits=limits)
    one.enqueue_batch([{"payload": {"n": n}, "queue_name": "reports"} for n in range(2)])
    assert len(one.claim_jobs("dies", 1)) == 1
    assert two.claim_jobs("b", 1) == []
    clock.advance(31)
    assert len(two.claim_jobs("b", 1)) == 1


@pytest.mark.parametrize("limits, match", [
    ({"q": QueueLimits}, "must be a QueueLimits"),
    ({"q": {"rate_limit": -1}}, "rate_limit must be an int from 0"),
    ({"q": {"speed": 1}}, "allowed: rate_limit"),
    ({"bad name": {}}, "queue_name must"),
])
def test_bad_queue_limits_are_refused(make_queue, limits, match):
    with pytest.raises(ConfigError, match=match):
        make_queue(queue_limits=limits)


def test_no_limit_means_no_flow_state_is_written(make_queue):
    queue = make_queue(shards=1)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(5)])
    queue.complete_jobs([(job, None) for job in queue.claim_jobs("w", 5)])
    state = queue.backend.flow_state(queue.clock.time())
    assert (state.tokens, state.slots, state.breakers) == ({}, {}, {})


def test_breaker_transitions_and_pauses_are_events(make_queue, clock):
    queue = make_queue(shards=1, clock=clock, circuit_breaker_threshold=1, circuit_breaker_timeout=10, max_retries=0)
    seen = []
    queue.on("circuit_changed", lambda queue_name, old_state, new_state: seen.append((queue_name, old_state, new_state)))
    queue.on("queue_paused", lambda queue_name, paused: seen.append((queue_name, paused)))
    queue.enqueue_batch([{"payload": {"n": n}, "queue_name": "api"} for n in range(3)])
    queue.fail_job(queue.claim_jobs("w", 1)[0], error="down")
    clock.advance(10)
    queue.complete_job(queue.claim_jobs("w", 5)[0])
    queue.pause("api")
    queue.resume("api")
    assert seen == [("api", "closed", "open"), ("api", "open", "half_open"), ("api", "half_open", "closed"),
                    ("api", True), ("api", False)]


def test_a_running_job_whose_lease_is_extended_keeps_its_slot(make_queue, clock):
    limits = {"reports": QueueLimits(concurrency_limit=1)}
    one = make_queue(shards=1, clock=clock, lease_timeout=30, queue_limits=limits)
    two = make_queue(shards=1, clock=clock, lease_timeout=30, queue_limits=limits)
    one.enqueue_batch([{"payload": {"n": n}, "queue_name": "reports"} for n in range(2)])
    (running,) = one.claim_jobs("long", 1)
    # When the worker keeps the lease alive past its first expiry, as its heartbeat does
    clock.advance(20)
    assert one.extend_leases([running.lease]) == []
    clock.advance(20)
    # Then the slot is still held: the second job does not start
    assert two.claim_jobs("b", 1) == []
