"""The storage contract (queue_max.storage.base): every backend must pass this file unchanged."""

from __future__ import annotations

import json
import threading

import pytest

from queue_max.errors import JobNotFound, LeaseLost
from queue_max.models import ErrorInfo, JobStatus, NewJob
from queue_max.storage.base import Backend, Inspector
from _helpers import run_threads

NOW = 1_800_000_000.0
LEASE = 30.0
BOOM = ErrorInfo("RuntimeError", "boom", "Traceback: ...")


def jobs(n: int, **options: object) -> list[NewJob]:
    return [NewJob(json.dumps({"i": i}), **options) for i in range(n)]  # type: ignore[arg-type]


def drain(backend: Backend, now: float = NOW, worker: str = "w") -> list:
    claimed = []
    while batch := backend.claim(worker, 10, LEASE, now):
        claimed.extend(batch)
    return claimed


def test_enqueued_jobs_get_unique_ids_that_name_their_shard(backend):
    refs = backend.enqueue_many(jobs(50), NOW)
    assert len({ref.id for ref in refs}) == 50
    for ref in refs:
        assert backend.shard_of(ref.id) == ref.shard_id
        assert backend.get(ref.id).payload["i"] == refs.index(ref)


def test_a_lone_enqueue_stores_its_job_as_a_batch_of_one_would(backend):
    # Given jobs enqueued alone: a plain one, a scheduled one in a named queue with a priority,
    # and two with one dedupe key
    plain = backend.enqueue_one(NewJob('{"i": 1}'), NOW)
    later = backend.enqueue_one(NewJob('{"i": 2}', priority=3, run_at=NOW + 60, queue_name="mail"), NOW)
    first = backend.enqueue_one(NewJob('{"i": 3}', dedupe_key="k"), NOW)
    again = backend.enqueue_one(NewJob('{"i": 4}', dedupe_key="k"), NOW)
    # Then each got a ref naming its shard, the duplicate the live job's, and each job its options
    assert plain.created and later.created and first.created and not again.created
    assert again.id == first.id and len({plain.id, later.id, first.id}) == 3
    for ref in (plain, later, first):
        assert backend.shard_of(ref.id) == ref.shard_id
    stored = backend.get(later.id)
    assert stored is not None and stored.payload == {"i": 2} and stored.priority_int == 3
    assert stored.run_ts == NOW + 60 and stored.queue_name == "mail"
    assert sorted(job.payload["i"] for job in drain(backend)) == [1, 3]


def test_a_backend_says_how_many_of_a_process_writes_to_let_in_at_once(backend):
    # The workers' gate (workers/_hub.py) is sized by it: a positive int, at most one per shard
    # (a shard has one writer at a time, so more could only wait inside the storage)
    writers = backend.concurrent_writes
    assert type(writers) is int and 1 <= writers <= max(1, backend.num_shards)


def test_claim_hands_each_job_to_one_worker_with_a_fresh_lease(backend):
    backend.enqueue_many(jobs(20), NOW)
    first = backend.claim("a", 20, LEASE, NOW)
    # Given every job is leased, a second worker gets nothing
    assert backend.claim("b", 20, LEASE, NOW) == []
    assert len(first) == 20
    for job in first:
        assert job.status is JobStatus.PROCESSING
        assert job.worker_id == "a" and job.tentativas == 1 and job.lease_token >= 1
        assert job.lease_expires_ts == NOW + LEASE


def test_claim_never_returns_a_job_before_its_run_at(backend):
    backend.enqueue_many([NewJob('{"later": true}', run_at=NOW + 60)], NOW)
    assert backend.claim("w", 5, LEASE, NOW) == []
    assert backend.claim("w", 5, LEASE, NOW + 59.9) == []
    assert [job.payload for job in backend.claim("w", 5, LEASE, NOW + 60)] == [{"later": True}]


def test_within_a_shard_claims_follow_priority_then_run_at_then_enqueue_order(backend):
    specs = [
        NewJob('{"n": "low-1"}', priority=0, shard_key=0),
        NewJob('{"n": "high-late"}', priority=2, run_at=NOW - 1, shard_key=0),
        NewJob('{"n": "low-2"}', priority=0, shard_key=0),
        NewJob('{"n": "high-early"}', priority=2, run_at=NOW - 5, shard_key=0),
        NewJob('{"n": "mid"}', priority=1, shard_key=0),
    ]
    for spec in specs:
        backend.enqueue_many([spec], NOW - 10)
    order = [backend.claim("w", 1, LEASE, NOW)[0].payload["n"] for _ in specs]
    assert order == ["high-early", "high-late", "mid", "low-1", "low-2"]


def test_a_batch_claim_is_sorted_by_priority(backend):
    backend.enqueue_many([NewJob('{"p": 0}', priority=0, shard_key=0),
                          NewJob('{"p": 2}', priority=2, shard_key=0)], NOW)
    assert [job.priority_int for job in backend.claim("w", 2, LEASE, NOW)] == [2, 0]


def test_completing_with_the_current_lease_stores_the_result(backend):
    (ref,) = backend.enqueue_many(jobs(1), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    assert backend.complete_many([(job.lease, '{"ok": 1}')], NOW + 1, 3600) == []
    done = backend.get(ref.id)
    assert done.status is JobStatus.COMPLETED and done.result == {"ok": 1}
    assert done.completed_ts == NOW + 1


def test_a_zero_result_ttl_deletes_the_job_at_completion(backend):
    (ref,) = backend.enqueue_many(jobs(1), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    assert backend.complete_many([(job.lease, None)], NOW, 0) == []
    assert backend.get(ref.id) is None


def test_stale_leases_change_nothing_and_are_reported(backend):
    backend.enqueue_many(jobs(1), NOW)
    (old,) = backend.claim("a", 1, LEASE, NOW)
    # When the lease expires and another worker claims the job
    backend.requeue_expired(NOW + LEASE + 1, BOOM)
    (new,) = backend.claim("b", 1, LEASE, NOW + LEASE + 2)
    assert new.id == old.id and new.lease_token > old.lease_token
    # Then every verb with the old lease is refused and leaves the job to its new owner
    assert backend.complete_many([(old.lease, None)], NOW, 60) == [old.lease]
    assert backend.extend([old.lease], NOW + 999) == [old.lease]
    assert backend.release([old.lease], NOW) == [old.lease]
    with pytest.raises(LeaseLost):
        backend.retry(old.lease, NOW, BOOM, NOW)
    with pytest.raises(LeaseLost):
        backend.bury(old.lease, BOOM, NOW)
    current = backend.get(new.id)
    assert current.status is JobStatus.PROCESSING and current.worker_id == "b"
    assert backend.complete_many([(new.lease, None)], NOW, 60) == []


def test_a_completed_job_cannot_be_completed_twice(backend):
    backend.enqueue_many(jobs(1), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    assert backend.complete_many([(job.lease, None)], NOW, 60) == []
    assert backend.complete_many([(job.lease, None)], NOW, 60) == [job.lease]


def test_a_grouped_ack_stores_each_jobs_own_result_exactly(backend):
    # Given five claimed jobs, and results with quotes, escapes, non-ASCII text and none at all
    backend.enqueue_many(jobs(5), NOW)
    claimed = backend.claim("w", 5, LEASE, NOW)
    results = ['{"ok": 1}', '"a \\"quoted\\" \\\\ path"', '"caf\u00e9 \u00e9 😀"', "[1, 2.5, null]", None]
    # When they are acknowledged in one call
    assert backend.complete_many(list(zip([job.lease for job in claimed], results)), NOW, 60) == []
    # Then each job holds its own result, as given
    for job, result in zip(claimed, results):
        done = backend.get(job.id)
        assert done.status is JobStatus.COMPLETED
        assert done.result == (None if result is None else json.loads(result))


def test_a_grouped_ack_with_a_lost_lease_completes_the_others_and_reports_it(backend):
    # Given three claimed jobs, one of them already acknowledged
    backend.enqueue_many(jobs(3), NOW)
    first, second, third = backend.claim("w", 3, LEASE, NOW)
    assert backend.complete_many([(second.lease, '"early"')], NOW, 60) == []
    # When all three are acknowledged together
    lost = backend.complete_many([(job.lease, f'"{job.id}"') for job in (first, second, third)], NOW, 60)
    # Then only the lost one is reported, and the others are completed with their results
    assert lost == [second.lease]
    assert [backend.get(job.id).result for job in (first, second, third)] == [str(first.id), "early", str(third.id)]
    assert backend.counts(NOW)["completed"] == 3

def test_retry_makes_the_job_claimable_again_at_its_run_at_and_records_the_error(backend):
    (ref,) = backend.enqueue_many(jobs(1, max_attempts=3), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    backend.retry(job.lease, NOW + 10, BOOM, NOW)
    assert backend.claim("w", 1, LEASE, NOW + 9) == []
    (again,) = backend.claim("w", 1, LEASE, NOW + 10)
    assert again.tentativas == 2 and again.last_error == "boom"
    assert [e.type for e in backend.get(ref.id).errors] == ["RuntimeError"]


def test_bury_moves_the_job_to_the_dead_letter_queue(backend):
    (ref,) = backend.enqueue_many(jobs(1), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    backend.bury(job.lease, BOOM, NOW)
    assert backend.get(ref.id).status is JobStatus.FAILED
    (entry,) = backend.dlq_list(10)
    assert entry.original_job_id == ref.id and entry.error == "boom"
    assert entry.error_type == "RuntimeError" and entry.attempts == 1 and entry.payload == {"i": 0}
    assert backend.claim("w", 1, LEASE, NOW) == []


def test_requeueing_a_dead_letter_gives_fresh_attempts_and_removes_the_entry(backend):
    (ref,) = backend.enqueue_many(jobs(1, max_attempts=1), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    backend.bury(job.lease, BOOM, NOW)
    assert backend.dlq_requeue(NOW, job_ids=[ref.id]) == 1
    assert backend.dlq_list(10) == []
    (again,) = backend.claim("w", 1, LEASE, NOW)
    assert again.id == ref.id and again.tentativas == 1


def test_dlq_filters_and_prune(backend):
    refs = backend.enqueue_many(jobs(3), NOW)
    for job in backend.claim("w", 3, LEASE, NOW):
        error = BOOM if job.payload["i"] else ErrorInfo("KeyError", "k")
        backend.bury(job.lease, error, NOW + job.payload["i"])
    assert {e.error_type for e in backend.dlq_list(10, error_type="KeyError")} == {"KeyError"}
    assert backend.dlq_requeue(NOW, error_type="KeyError") == 1
    assert backend.dlq_prune(older_than=NOW + 1.5) == 1
    assert [e.original_job_id for e in backend.dlq_list(10)] == [refs[2].id]
    assert backend.get(refs[1].id) is None


def test_release_returns_a_job_without_counting_the_attempt(backend):
    backend.enqueue_many(jobs(1), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    assert backend.release([job.lease], NOW) == []
    (again,) = backend.claim("w", 1, LEASE, NOW)
    assert again.tentativas == 1 and again.lease_token > job.lease_token


def test_extend_and_heartbeat_keep_a_lease_from_expiring(backend):
    backend.enqueue_many(jobs(2), NOW)
    a, b = backend.claim("w", 2, LEASE, NOW)
    assert backend.extend([a.lease], NOW + 100) == []
    assert backend.heartbeat("w", NOW + 100) == 2
    report = backend.requeue_expired(NOW + 99, BOOM)
    assert report.total == 0
    assert backend.claim("x", 2, LEASE, NOW + 99) == []


def test_expired_leases_are_requeued_counting_the_attempt_then_buried(backend):
    (ref,) = backend.enqueue_many(jobs(1, max_attempts=2), NOW)
    backend.claim("w", 1, LEASE, NOW)
    assert backend.requeue_expired(NOW + LEASE + 1, BOOM).requeued == 1
    (job,) = backend.claim("w", 1, LEASE, NOW + LEASE + 1)
    assert job.tentativas == 2
    report = backend.requeue_expired(NOW + 2 * LEASE + 2, BOOM)
    assert (report.requeued, report.buried) == (0, 1)
    assert backend.get(ref.id).status is JobStatus.FAILED
    assert backend.dlq_list(10)[0].original_job_id == ref.id


def test_a_dedupe_key_allows_one_live_job(backend):
    first = backend.enqueue_many([NewJob('{"v": 1}', dedupe_key="k")], NOW)[0]
    second = backend.enqueue_many([NewJob('{"v": 2}', dedupe_key="k")], NOW)[0]
    assert first.created is True
    assert second.id == first.id and second.created is False
    (job,) = backend.claim("w", 5, LEASE, NOW)
    assert backend.enqueue_many([NewJob('{"v": 3}', dedupe_key="k")], NOW)[0].id == first.id
    backend.complete_many([(job.lease, None)], NOW, 60)
    # Once the job finished, the key is free again
    third = backend.enqueue_many([NewJob('{"v": 4}', dedupe_key="k")], NOW)[0]
    assert third.id != first.id and third.created and backend.get(third.id).payload == {"v": 4}


def test_with_a_dedupe_window_a_job_completed_inside_it_still_holds_the_key(backend):
    # Given a keyed job that completed at NOW + 10
    first = backend.enqueue_many([NewJob('{"v": 1}', dedupe_key="k")], NOW)[0]
    (job,) = backend.claim("w", 5, LEASE, NOW)
    backend.complete_many([(job.lease, None)], NOW + 10, 3600)
    # When a producer retries with a 60 s window, 30 s after it completed
    again = backend.enqueue_many([NewJob('{"v": 2}', dedupe_key="k", dedupe_window=60.0)], NOW + 40)[0]
    # Then the completed job's reference comes back and nothing is added
    assert (again.id, again.created) == (first.id, False)
    assert drain(backend, NOW + 40) == []
    # And without a window the key is free again, as before
    plain = backend.enqueue_many([NewJob('{"v": 3}', dedupe_key="k")], NOW + 40)[0]
    assert plain.created and plain.id != first.id


def test_a_dedupe_window_that_has_passed_lets_a_new_job_in(backend):
    # Given a keyed job that completed at NOW
    first = backend.enqueue_many([NewJob('{"v": 1}', dedupe_key="k")], NOW)[0]
    (job,) = backend.claim("w", 5, LEASE, NOW)
    backend.complete_many([(job.lease, None)], NOW, 3600)
    # When the retry comes 61 s later with a 60 s window
    late = backend.enqueue_many([NewJob('{"v": 2}', dedupe_key="k", dedupe_window=60.0)], NOW + 61)[0]
    # Then a new job is created
    assert late.created and late.id != first.id
    assert backend.get(late.id).payload == {"v": 2}


def test_a_dedupe_window_still_matches_a_live_job_and_ignores_failed_ones(backend):
    # Given a keyed job that is dead-lettered (failed, not completed)
    backend.enqueue_many([NewJob('{"v": 1}', dedupe_key="k", max_attempts=1)], NOW)
    (job,) = backend.claim("w", 5, LEASE, NOW)
    backend.bury(job.lease, BOOM, NOW)
    # When a windowed enqueue of the key follows, twice
    fresh = backend.enqueue_many([NewJob('{"v": 2}', dedupe_key="k", dedupe_window=60.0)], NOW + 1)[0]
    again = backend.enqueue_many([NewJob('{"v": 3}', dedupe_key="k", dedupe_window=60.0)], NOW + 2)[0]
    # Then the failed job does not count, and the new live one does
    assert fresh.created and fresh.id != job.id
    assert (again.id, again.created) == (fresh.id, False)


def test_progress_is_stored_by_the_lease_holder_and_kept_after_the_job_finishes(backend):
    # Given a running job that has reported nothing yet
    (ref,) = backend.enqueue_many(jobs(1), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    assert backend.progress(ref.id) is None
    # When its handler reports twice, then completes
    backend.set_progress(job.lease, 0.25, "a quarter")
    backend.set_progress(job.lease, 0.75, None)
    backend.complete_many([(job.lease, None)], NOW, 3600)
    # Then the last report is what is read back
    progress = backend.progress(ref.id)
    assert progress is not None and (progress.fraction, progress.message) == (0.75, None)


def test_progress_from_a_stale_lease_is_refused_and_changes_nothing(backend):
    (ref,) = backend.enqueue_many(jobs(1), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    backend.set_progress(job.lease, 0.5, "mine")
    # Given the lease expired and another worker claimed the job
    backend.requeue_expired(NOW + LEASE + 1, BOOM)
    backend.claim("other", 1, LEASE, NOW + LEASE + 1)
    # When the first worker reports again, Then it is told its lease is lost
    with pytest.raises(LeaseLost):
        backend.set_progress(job.lease, 0.9, "stale")
    assert backend.progress(ref.id).message == "mine"


def test_a_cancel_request_marks_only_a_running_job_and_ends_it_cancelled(backend):
    waiting, running = backend.enqueue_many(jobs(2, shard_key=0), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    assert job.id == running.id or job.id == waiting.id
    other = waiting.id if job.id == running.id else running.id
    # Given one running and one waiting job, When a cancel is requested of each
    assert backend.request_cancel(job.id, NOW) is True
    assert backend.request_cancel(other, NOW) is False
    # Then only the running one is marked
    assert backend.cancel_requested(job.id) is True and backend.cancel_requested(other) is False
    # And when its handler stops as asked, it ends cancelled and is never claimed again
    backend.cancel_running(job.lease, NOW + 1)
    assert backend.get(job.id).status is JobStatus.CANCELLED
    assert [j.id for j in drain(backend, NOW + 1)] == [other]
    # And a stale lease cannot end it
    with pytest.raises(LeaseLost):
        backend.cancel_running(job.lease, NOW + 2)


def test_a_batch_with_duplicate_keys_stores_one_job_per_key(backend):
    refs = backend.enqueue_many([NewJob('{"v": 1}', dedupe_key="k"), NewJob('{"v": 2}', dedupe_key="k"),
                                 NewJob('{"v": 3}')], NOW)
    assert refs[0].id == refs[1].id and refs[2].id != refs[0].id
    assert [ref.created for ref in refs] == [True, False, True]
    assert len(drain(backend)) == 2


def test_cancel_only_cancels_waiting_jobs(backend):
    a, b = backend.enqueue_many(jobs(2, shard_key=0), NOW)
    assert backend.cancel(a.id, NOW) is True
    assert backend.get(a.id).status is JobStatus.CANCELLED
    (running,) = backend.claim("w", 5, LEASE, NOW)
    assert backend.cancel(running.id, NOW) is False
    assert backend.cancel(a.id, NOW) is False


def test_unknown_ids_are_not_found(backend):
    assert backend.get(10**12) is None
    with pytest.raises(JobNotFound):
        backend.cancel(10**12 + 1023, NOW)


def test_counts_report_every_status(backend):
    backend.enqueue_many(jobs(4), NOW)
    backend.enqueue_many([NewJob("{}", run_at=NOW + 60)], NOW)
    claimed = backend.claim("w", 3, LEASE, NOW)
    backend.complete_many([(claimed[0].lease, None)], NOW, 60)
    backend.bury(claimed[1].lease, BOOM, NOW)
    counts = backend.counts(NOW)
    assert counts["pending"] == 2 and counts["scheduled"] == 1
    assert counts["processing"] == 1 and counts["completed"] == 1
    assert counts["failed"] == 1 and counts["dead_letter"] == 1
    assert backend.count_live() == 3
    assert backend.has_ready(NOW) is True


def test_list_jobs_filters_by_status(backend):
    backend.enqueue_many(jobs(3), NOW)
    backend.claim("w", 1, LEASE, NOW)
    assert len(backend.list_jobs(JobStatus.PENDING, 10)) == 2
    assert len(backend.list_jobs(JobStatus.PROCESSING, 10)) == 1
    assert len(backend.list_jobs(None, 10)) == 3


def test_purge_and_cleanup(backend):
    backend.enqueue_many(jobs(4), NOW)
    done = backend.claim("w", 2, LEASE, NOW)
    backend.complete_many([(job.lease, None) for job in done], NOW, 10)
    assert backend.cleanup(NOW + 5, NOW - 1) == 0
    assert backend.cleanup(NOW + 10, NOW - 1) == 2  # the results expired
    assert backend.purge(JobStatus.PENDING) == 2
    assert backend.count_live() == 0


def test_change_token_moves_when_another_connection_commits(backend):
    before = backend.change_token()
    writer = threading.Thread(target=lambda: backend.enqueue_many(jobs(1), NOW))
    writer.start()
    writer.join()
    assert backend.change_token() != before


def test_concurrent_claims_hand_out_each_job_exactly_once(backend):
    # Given 400 ready jobs and 8 threads released at the same instant
    backend.enqueue_many(jobs(400), NOW)
    start, claimed, lock = threading.Barrier(8), [], threading.Lock()

    def work(name: str) -> None:
        start.wait()
        while batch := backend.claim(name, 7, LEASE, NOW):
            with lock:
                claimed.extend(job.id for job in batch)
            backend.complete_many([(job.lease, None) for job in batch], NOW, 60)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every job was handed out once, and only once
    assert len(claimed) == len(set(claimed)) == 400
    assert backend.counts(NOW)["completed"] == 400


def test_a_schedule_tick_fires_once_and_enqueues_its_job_atomically(backend):
    due, last = backend.schedule_state("cleanup", NOW + 60)
    assert (due, last) == (NOW + 60, None)
    # the first creator decides the first due time
    assert backend.schedule_state("cleanup", NOW + 999)[0] == NOW + 60
    ref = backend.fire_schedule("cleanup", NOW + 60, NOW + 120, NewJob('{"tick": 1}'), NOW + 60)
    assert ref is not None and backend.get(ref.id).payload == {"tick": 1}
    # a second firer of the same tick loses, and its job is not written
    assert backend.fire_schedule("cleanup", NOW + 60, NOW + 120, NewJob('{"tick": 2}'), NOW + 61) is None
    assert backend.count_live() == 1
    assert backend.schedule_state("cleanup", 0) == (NOW + 120, NOW + 60)
    (row,) = backend.list_schedules()
    assert row["name"] == "cleanup" and row["last_job_id"] == ref.id


def test_concurrent_firers_of_one_tick_enqueue_one_job(backend):
    backend.schedule_state("tick", NOW)
    start, fired = threading.Barrier(6), []

    def fire() -> None:
        start.wait()
        fired.append(backend.fire_schedule("tick", NOW, NOW + 1, NewJob("{}"), NOW))

    run_threads(6, fire)
    assert sum(ref is not None for ref in fired) == 1
    assert backend.count_live() == 1


def test_ids_are_never_reused_after_the_newest_jobs_are_deleted(backend):
    refs = backend.enqueue_many(jobs(3, shard_key=0), NOW)
    for job in backend.claim("w", 3, LEASE, NOW):
        backend.complete_many([(job.lease, None)], NOW, 0)  # deleted at completion
    newer = backend.enqueue_many(jobs(2, shard_key=0), NOW)
    assert min(r.id for r in newer) > max(r.id for r in refs)
    backend.purge(None)
    newest = backend.enqueue_many(jobs(1, shard_key=0), NOW)
    assert newest[0].id > max(r.id for r in newer)


def test_bulk_payloads_are_stored_in_order_or_not_at_all(backend):
    ids = backend.enqueue_payloads([{"i": i} for i in range(25)], 3, NOW, 1000)
    assert [backend.get(job_id).payload["i"] for job_id in ids] == list(range(25))
    assert backend.get(ids[0]).max_tentativas == 3
    from queue_max.errors import InvalidPayload

    with pytest.raises(InvalidPayload, match="item 7"):
        backend.enqueue_payloads([{"i": i} for i in range(7)] + [{"big": "x" * 50}], 3, NOW, 20)
    assert backend.count_live() == 25


def test_the_backend_declares_every_verb_the_upper_layers_use(backend):
    # Given any backend, Then it satisfies both protocols without optional verbs to probe for
    assert isinstance(backend, Backend) and isinstance(backend, Inspector)
    assert isinstance(backend.location, str) and backend.location
    backend.checkpoint()  # a no-op is allowed, a missing verb is not


def test_expiring_a_dead_workers_leases_lets_recovery_requeue_them_at_once(backend):
    # Given two workers holding one job each
    backend.enqueue_many(jobs(2), NOW)
    (dead,) = backend.claim("dead", 1, LEASE, NOW)
    (alive,) = backend.claim("alive", 1, LEASE, NOW)
    # When the dead worker's leases are expired, long before their lease time is up
    assert backend.expire_leases("dead", NOW + 1) == 1
    report = backend.requeue_expired(NOW + 1, BOOM)
    # Then only its job is recovered, with the attempt counted
    assert report.requeued == 1 and report.buried == 0
    assert backend.get(dead.id).status is JobStatus.PENDING
    assert backend.get(alive.id).status is JobStatus.PROCESSING
    assert backend.expire_leases("nobody", NOW + 1) == 0


def test_shard_stats_and_the_oldest_ready_job_describe_the_backlog(backend):
    # Given one job due long ago, one due later, and one scheduled ahead
    backend.enqueue_many([NewJob('{"a": 1}', run_at=NOW - 50, shard_key=0),
                          NewJob('{"a": 2}', run_at=NOW - 10, shard_key=0),
                          NewJob('{"a": 3}', run_at=NOW + 60, shard_key=0)], NOW - 100)
    # Then the backlog's age comes from the oldest due job, and the stats count all three
    assert backend.oldest_ready(NOW) == NOW - 50
    shard = backend.shard_of(backend.list_jobs(None, 10)[0].id)
    stats = backend.shard_stats(shard, NOW)
    assert stats["shard_id"] == shard
    assert stats["pending"] == 3 and stats["scheduled"] == 1
    assert backend.oldest_ready(NOW - 60) is None


def test_an_error_type_filter_accepts_the_short_name_and_the_qualified_one(backend):
    # Given dead letters under a qualified type name, a short one, and a look-alike
    for kind in ("queue_max.workers.errors.JobTimeout", "LeaseExpired", "app.NotJobTimeout"):
        backend.enqueue_many([NewJob(json.dumps({"kind": kind}), max_attempts=1)], NOW)
        (job,) = backend.claim("w", 1, LEASE, NOW)
        backend.bury(job.lease, ErrorInfo(kind, "boom"), NOW)
    # Then the short name and the full name both find exactly the JobTimeout entry
    for wanted in ("JobTimeout", "queue_max.workers.errors.JobTimeout"):
        assert [e.error_type for e in backend.dlq_list(10, error_type=wanted)] == [
            "queue_max.workers.errors.JobTimeout"]
    assert [e.error_type for e in backend.dlq_list(10, error_type="LeaseExpired")] == ["LeaseExpired"]
    # And requeueing by the short name moves only that one
    assert backend.dlq_requeue(NOW, error_type="JobTimeout") == 1


def test_next_due_names_the_earliest_scheduled_job_only(backend):
    # Given nothing scheduled, then a ready job and two scheduled ones
    assert backend.next_due() is None
    backend.enqueue_many([NewJob('{"a": 1}'), NewJob('{"a": 2}', run_at=NOW + 60),
                          NewJob('{"a": 3}', run_at=NOW + 30)], NOW)
    # Then next_due is the earlier scheduled time, and it is gone once that job was claimed
    assert backend.next_due() == NOW + 30
    backend.claim("w", 10, LEASE, NOW + 30)
    assert backend.next_due() == NOW + 60
