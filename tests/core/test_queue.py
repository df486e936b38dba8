"""The Queue facade: enqueue, claim, acknowledge, retry, dead letters, housekeeping."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from queue_max import JobNotFound, JobStatus, LeaseLost, Permanent, Queue


def test_enqueue_returns_the_reference_shape_with_a_global_id(queue):
    ref = queue.enqueue({"task": "send_email"})
    assert set(ref) == {"id", "shard_id"}
    assert queue.shard_of(ref["id"]) == ref["shard_id"]
    job = queue.get_job(ref["id"])
    assert job.payload == {"task": "send_email"} and job.status is JobStatus.PENDING


def test_pop_returns_the_highest_priority_job_first(queue):
    for priority in (0, 2, 1):
        queue.enqueue({"p": priority}, pagina_id=7, priority=priority)
    assert [queue.pop_job("w").payload["p"] for _ in range(3)] == [2, 1, 0]
    assert queue.pop_job("w") is None


def test_pagina_id_routes_jobs_consistently(queue):
    shards = {queue.enqueue({"n": n}, pagina_id=42)["shard_id"] for n in range(10)}
    assert shards == {42 % queue.num_shards}


def test_complete_job_accepts_the_reference_call_and_keeps_the_result(queue):
    queue.enqueue({"x": 1})
    job = queue.pop_job("w")
    assert queue.complete_job(job.id, job.shard_id, result={"sent": True}) is True
    done = queue.get_job(job.id)
    assert done.is_completed and done.result == {"sent": True}
    # completed jobs leave the queue: nothing to pop, nothing pending
    assert queue.pop_job("w") is None
    assert queue.get_stats()["pending"] == 0


def test_complete_job_with_the_wrong_shard_is_refused(queue):
    queue.enqueue({"x": 1})
    job = queue.pop_job("w")
    with pytest.raises(JobNotFound):
        queue.complete_job(job.id, (job.shard_id + 1) % queue.num_shards)
    assert queue.get_job(job.id).is_processing


def test_a_stale_worker_cannot_complete_a_job_another_worker_now_owns(make_queue, clock):
    queue = make_queue(shards=1, clock=clock, lease_timeout=10)
    queue.enqueue({"x": 1})
    stale = {}
    # Given worker A claimed the job in its thread and then stalled past its lease
    worker_a = threading.Thread(target=lambda: stale.setdefault("job", queue.pop_job("A")))
    worker_a.start()
    worker_a.join()
    clock.advance(11)
    assert queue.recover_orphans() == 1
    # When worker B claims it again
    fresh = queue.pop_job("B")
    assert fresh.id == stale["job"].id
    # Then A's late completion is refused and changes nothing
    with pytest.raises(LeaseLost):
        queue.complete_job(stale["job"])
    assert queue.get_job(fresh.id).worker_id == "B"
    assert queue.complete_job(fresh.id, fresh.shard_id) is True


def test_complete_without_any_lease_says_so(queue):
    ref = queue.enqueue({"x": 1})
    other = Queue(data_dir=queue.backend.data_dir, rate_limit=0)
    try:
        with pytest.raises(LeaseLost):
            other.complete_job(ref["id"])
        with pytest.raises(JobNotFound):
            other.complete_job(ref["id"] + 1024 * 1000)
    finally:
        other.close()


def test_failures_retry_with_backoff_then_go_to_the_dead_letter_queue(make_queue, clock):
    queue = make_queue(shards=1, clock=clock, max_retries=2, retry_backoff=10)
    ref = queue.enqueue({"x": 1})
    delays = []
    for attempt in (1, 2):
        job = queue.pop_job("w")
        assert job.attempts == attempt
        assert queue.fail_job(job.id, job.shard_id, RuntimeError("flaky")) is JobStatus.PENDING
        pending = queue.get_job(ref["id"])
        delays.append(pending.run_ts - clock.time())
        assert queue.pop_job("w") is None  # not before its backoff
        clock.advance(delays[-1])
    # backoff doubles: ~10s then ~20s, with +/-20% jitter
    assert 8 <= delays[0] <= 12 and 16 <= delays[1] <= 24
    job = queue.pop_job("w")
    assert job.attempts == 3
    assert queue.fail_job(job, error=RuntimeError("still")) is JobStatus.FAILED
    assert [j.id for j in queue.get_failed_jobs()] == [ref["id"]]
    (entry,) = queue.dlq_list()
    assert entry.error == "still" and entry.error_type == "RuntimeError" and entry.attempts == 3
    assert [e.message for e in queue.get_job(ref["id"]).errors] == ["flaky", "flaky", "still"]


def test_max_retries_zero_means_no_retry(make_queue):
    queue = make_queue(max_retries=0)
    queue.enqueue({"x": 1})
    job = queue.pop_job("w")
    assert job.max_tentativas == 1
    assert queue.fail_job(job, error=RuntimeError("once")) is JobStatus.FAILED


def test_per_job_max_retries_zero_is_honoured(queue):
    queue.enqueue({"x": 1}, max_retries=0)
    assert queue.fail_job(queue.pop_job("w"), error="no") is JobStatus.FAILED


def test_permanent_errors_skip_the_retries(queue):
    queue.enqueue({"a": 1})
    queue.enqueue({"b": 1})
    assert queue.fail_job(queue.pop_job("w"), error="bad input", permanent=True) is JobStatus.FAILED
    assert queue.fail_job(queue.pop_job("w"), error=Permanent("nope")) is JobStatus.FAILED
    assert queue.get_stats()["failed"] == 2


def test_http_client_errors_are_permanent_but_429_and_5xx_retry(queue):
    requests = pytest.importorskip("requests")

    def http_error(status):
        response = requests.Response()
        response.status_code = status
        return requests.HTTPError(f"{status}", response=response)

    outcomes = {}
    for status in (404, 429, 503):
        queue.enqueue({"status": status})
        job = queue.pop_job("w")
        outcomes[job.payload["status"]] = queue.fail_job(job, error=http_error(job.payload["status"]))
    assert outcomes == {404: JobStatus.FAILED, 429: JobStatus.PENDING, 503: JobStatus.PENDING}


def test_delayed_and_scheduled_jobs_are_never_claimed_early(queue, clock):
    queue.enqueue({"n": "delay"}, delay=30)
    at = datetime.fromtimestamp(clock.time(), timezone.utc) + timedelta(seconds=60)
    queue.enqueue({"n": "run_at"}, run_at=at)
    assert queue.pop_job("w") is None
    assert queue.get_stats()["scheduled"] == 2
    clock.advance(30)
    assert queue.pop_job("w").payload == {"n": "delay"}
    assert queue.pop_job("w") is None
    clock.advance(30)
    assert queue.pop_job("w").payload == {"n": "run_at"}


def test_dedupe_key_keeps_one_live_job(queue):
    first = queue.enqueue({"v": 1}, dedupe_key="report:42")
    assert queue.enqueue({"v": 2}, dedupe_key="report:42") == first
    assert queue.get_stats()["pending"] == 1


def test_results_are_kept_for_the_ttl_then_cleaned(make_queue, clock):
    queue = make_queue(clock=clock, result_ttl=60)
    queue.enqueue({"x": 1})
    job = queue.pop_job("w")
    queue.complete_job(job, result=[1, 2])
    clock.advance(59)
    queue.run_maintenance()
    assert queue.get_job(job.id).result == [1, 2]
    clock.advance(2)
    queue.run_maintenance()
    assert queue.get_job(job.id) is None


def test_result_ttl_zero_deletes_at_completion(make_queue):
    queue = make_queue(result_ttl=0)
    queue.enqueue({"x": 1})
    job = queue.pop_job("w")
    queue.complete_job(job)
    assert queue.get_job(job.id) is None


def test_cancel_a_pending_job(queue):
    ref = queue.enqueue({"x": 1})
    assert queue.cancel(ref["id"]) is True
    assert queue.get_job(ref["id"]).is_cancelled
    assert queue.pop_job("w") is None
    assert queue.cancel(ref["id"]) is False


def test_dead_letters_can_be_requeued_with_fresh_retries(queue):
    ref = queue.enqueue({"x": 1}, max_retries=0)
    queue.fail_job(queue.pop_job("w"), error="boom")
    assert queue.retry_failed_jobs() == 1
    assert queue.dlq_list() == []
    job = queue.pop_job("w")
    assert job.id == ref["id"] and job.attempts == 1


def test_reference_shard_manager_api(queue):
    ref = queue.enqueue({"x": 1}, max_retries=0)
    job = queue.pop_job("w")
    queue.fail_job(job.id, job.shard_id, ValueError("bad"))
    (entry,) = queue.shard_manager.get_dead_letter_queue(shard_id=ref["shard_id"])
    assert entry["original_job_id"] == ref["id"] and entry["error"] == "bad"
    stats = queue.shard_manager.get_stats(ref["shard_id"])
    assert stats["failed"] == 1 and stats["total_jobs_failed"] == 1
    assert queue.shard_manager.retry_job(ref["shard_id"], ref["id"]) is True
    assert queue.pop_job("w").id == ref["id"]


def test_prune_dead_letters_by_age(queue, clock):
    for n in range(2):
        queue.enqueue({"n": n}, max_retries=0)
        queue.fail_job(queue.pop_job("w"), error="x")
        clock.advance(100)
    assert queue.dlq_prune(older_than=150) == 1
    assert len(queue.dlq_list()) == 1


def test_recover_orphans_requeues_expired_leases_counting_the_attempt(make_queue, clock):
    queue = make_queue(clock=clock, lease_timeout=30, max_retries=1)
    ref = queue.enqueue({"x": 1})
    queue.pop_job("dead-worker")
    clock.advance(29)
    assert queue.recover_orphans() == 0
    clock.advance(2)
    assert queue.recover_orphans() == 1
    job = queue.pop_job("w")
    assert job.id == ref["id"] and job.attempts == 2
    clock.advance(31)
    assert queue.recover_orphans() == 1
    assert queue.get_job(ref["id"]).is_failed


def test_heartbeat_extends_a_workers_leases(make_queue, clock):
    queue = make_queue(clock=clock, lease_timeout=30)
    queue.enqueue({"x": 1})
    job = queue.pop_job("w")
    for _ in range(5):
        clock.advance(20)
        assert queue.heartbeat(job.shard_id, "w") == 1
        assert queue.recover_orphans() == 0
    assert queue.complete_job(job) is True


def test_cleanup_purge_and_wait_until_empty(queue, clock):
    queue.enqueue({"a": 1})
    queue.enqueue({"b": 1})
    assert queue.wait_until_empty(timeout=0) is False
    queue.complete_job(queue.pop_job("w"))
    clock.advance(8 * 86400)
    assert queue.cleanup_old_jobs(days=7) == 1
    assert queue.purge_queue("pending") == 1
    assert queue.wait_until_empty(timeout=1) is True


def test_stats_have_every_reference_key(queue):
    stats = queue.get_stats()
    for key in ("pending", "processing", "failed", "num_shards", "rate_limit", "max_retries",
                "circuit_state", "circuit_failures", "tokens_available", "uptime_seconds",
                "is_healthy"):
        assert key in stats
    assert stats["num_shards"] == 3 and stats["circuit_state"] == "closed"


def test_get_processing_jobs_lists_leased_jobs(queue):
    queue.enqueue({"x": 1})
    job = queue.pop_job("w")
    assert [j.id for j in queue.get_processing_jobs()] == [job.id]


def test_context_manager_closes(tmp_path, settings):
    with Queue(data_dir=tmp_path / "q", settings=settings) as queue:
        queue.enqueue({"x": 1})
    from queue_max import QueueClosed

    with pytest.raises(QueueClosed):
        queue.enqueue({"x": 2})


def test_shard_counters_count_every_processed_job_once(make_queue, clock):
    queue = make_queue(shards=1, clock=clock, result_ttl=10)
    for n in range(3):
        queue.enqueue({"n": n})
    for _ in range(3):
        queue.complete_job(queue.pop_job("w"))
    assert queue.shard_manager.get_stats(0)["total_jobs_processed"] == 3
    clock.advance(11)
    queue.run_maintenance()  # the results expire and their rows go
    assert queue.get_stats()["completed"] == 0
    assert queue.shard_manager.get_stats(0)["total_jobs_processed"] == 3


def test_a_dedupe_hit_fires_no_enqueued_event(queue):
    seen = []
    queue.on("job_enqueued", lambda job_id, shard_id: seen.append(job_id))
    first = queue.enqueue({"v": 1}, dedupe_key="k")
    queue.enqueue({"v": 2}, dedupe_key="k")
    queue.enqueue_batch([{"payload": {"v": 3}, "dedupe_key": "k"}])
    assert seen == [first["id"]]


def test_a_database_url_opens_postgresql_and_an_unreachable_one_is_a_typed_error_without_its_password(
        tmp_path, settings):
    from queue_max.errors import StorageUnavailable

    # Given a URL (with a password) whose host cannot be reached, When a Queue opens it
    with pytest.raises(StorageUnavailable, match="127.0.0.1:1") as caught:
        Queue(data_dir=tmp_path, settings=settings.with_(database_url="postgresql://u:s3cret@127.0.0.1:1/y"))
    # Then the error names the server, never the password, and no SQLite queue was made instead
    assert "s3cret" not in str(caught.value)
    assert not (tmp_path / "shard_0.db").exists()


@pytest.mark.parametrize("url", ["mysql://u:s3cret@h/db", "sqlite:///x.db", "data/dir"])
def test_a_database_url_that_is_not_postgresql_is_refused_without_its_password(tmp_path, settings, url):
    from queue_max import ConfigError

    with pytest.raises(ConfigError, match="postgresql://") as caught:
        Queue(data_dir=tmp_path, database_url=url, settings=settings)
    assert "s3cret" not in str(caught.value)


def test_connections_of_finished_threads_are_closed(queue):
    shard = queue.backend.shards[0]
    worker = threading.Thread(target=lambda: shard.conn().execute("SELECT 1"))
    worker.start()
    worker.join()
    import gc

    gc.collect()
    assert len(shard._all) == 0 or all(h.conn is not None for h in shard._all)
    assert len([h for h in shard._all]) <= 1  # at most this thread's own connection


def test_each_recorded_error_says_which_attempt_and_worker_failed(make_queue, clock):
    queue = make_queue(shards=1, clock=clock, max_retries=1, retry_backoff=1)
    ref = queue.enqueue({"x": 1})
    queue.fail_job(queue.pop_job("alpha"), error=RuntimeError("one"))
    clock.advance(5)
    queue.fail_job(queue.pop_job("beta"), error=RuntimeError("two"))
    errors = queue.get_job(ref["id"]).errors
    assert [(e.attempt, e.worker_id, e.message) for e in errors] == [(1, "alpha", "one"), (2, "beta", "two")]
    assert errors[1].failed_at == clock.time()


def test_requeueing_many_dead_letters_by_id(make_queue):
    queue = make_queue(shards=1, max_retries=0, circuit_breaker_threshold=10**6)
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(1200)])["ids"]
    while jobs := queue.claim_jobs("w", 100):
        for job in jobs:
            queue.fail_job(job, error="x")
    assert queue.dlq_requeue(job_ids=ids) == 1200


def test_a_dead_workers_leases_are_expired_and_recovered_through_the_queue(queue):
    # Given a job claimed by a worker whose process then died
    queue.enqueue({"n": 1})
    job = queue.pop_job("dead-worker")
    # When its leases are expired and orphans recovered, without waiting for the lease time
    assert queue.expire_leases("dead-worker") == 1
    assert queue.recover_orphans() == 1
    # Then the job is pending again with the attempt counted
    again = queue.get_job(job.id)
    assert again.status is JobStatus.PENDING and again.tentativas == 1


def test_expire_leases_refuses_a_worker_id_that_is_not_a_name(queue):
    from queue_max import ConfigError

    with pytest.raises(ConfigError, match="worker_id must be a non-empty str, got ''"):
        queue.expire_leases("")


def test_pop_job_checks_each_new_worker_id_even_after_a_valid_one(queue):
    from queue_max import ConfigError

    # Given a job popped by a valid worker id, and another job waiting
    queue.enqueue({"n": 1})
    queue.enqueue({"n": 2})
    assert queue.pop_job("w") is not None
    # When a worker id with a lone surrogate pops next, then an empty one
    with pytest.raises(ConfigError, match="worker_id must be a non-empty str of valid Unicode"):
        queue.pop_job("host-\udcff")
    with pytest.raises(ConfigError, match="worker_id must be a non-empty str of valid Unicode"):
        queue.pop_job("")
    # Then both were refused before any claim: the second job still waits
    assert queue.get_stats()["pending"] == 1


def test_the_queue_reports_where_its_jobs_live_and_the_backlog_age(queue, clock):
    # Given one job enqueued now
    queue.enqueue({"n": 1})
    # Then the queue names its location and how long the oldest ready job has waited
    assert queue.location == str(queue.backend.data_dir)
    assert queue.oldest_ready() == pytest.approx(clock.time())
    assert queue.counts()["pending"] == 1 and queue.has_ready()


def test_a_job_names_its_status_as_a_string_as_in_0_1_1(queue):
    queue.enqueue({"n": 1})
    job = queue.pop_job("w")
    assert job.status_str == "processing"


def test_recovery_logs_one_job_in_the_singular(queue, caplog):
    # Given one job whose worker died
    queue.enqueue({"n": 1})
    queue.pop_job("dead")
    queue.expire_leases("dead")
    # When it is recovered, the log says "1 job", not "1 jobs"
    with caplog.at_level("WARNING", logger="queue_max.queue"):
        assert queue.recover_orphans() == 1
    assert "recovered 1 job with expired leases" in caplog.text


def test_wait_until_empty_times_out_on_the_queues_own_clock(queue, clock):
    # Given a pending job and a fake clock that another thread moves 10 s ahead
    queue.enqueue({"n": 1})
    mover = threading.Timer(0.05, clock.advance, args=(10.0,))
    mover.start()
    # When we wait up to 5 s of the queue's clock, it gives up once that clock has moved
    try:
        assert queue.wait_until_empty(timeout=5, poll_interval=0.01) is False
    finally:
        mover.cancel()


def test_maintenance_of_an_idle_queue_writes_nothing_and_wakes_no_other_process(make_queue, clock, tmp_path):
    import sqlite3

    # Given a queue whose only job finished, and another process watching its shard files
    queue = make_queue(shards=2, clock=clock, result_ttl=3600)
    queue.enqueue({"n": 1})
    queue.complete_job(queue.pop_job("w"))
    queue.run_maintenance()  # the WAL of that work is checkpointed once
    watchers = [sqlite3.connect(tmp_path / "data" / f"shard_{n}.db") for n in range(2)]
    before = [w.execute("PRAGMA data_version").fetchone()[0] for w in watchers]
    wal = [(tmp_path / "data" / f"shard_{n}.db-wal").stat().st_size for n in range(2)]
    # When maintenance runs again and again while nothing happens
    for _ in range(5):
        clock.advance(queue.options.recovery_interval)
        queue.run_maintenance()
    # Then no shard changed: the watchers' data_version and the WAL files are as they were
    assert [w.execute("PRAGMA data_version").fetchone()[0] for w in watchers] == before
    assert [(tmp_path / "data" / f"shard_{n}.db-wal").stat().st_size for n in range(2)] == wal
    for w in watchers:
        w.close()


def test_maintenance_has_one_schedule_that_claims_and_workers_share(queue, clock):
    # Given a queue whose maintenance just ran
    runs = []
    original = queue.backend.checkpoint  # called once by every maintenance run
    queue.backend.checkpoint = lambda: (runs.append(clock.monotonic()), original())[1]
    interval = queue.options.recovery_interval
    clock.advance(interval)
    queue.maintain()
    runs.clear()
    clock.advance(interval)
    # When a claim and a worker's keeper both ask within one interval
    assert queue.maintain() == interval
    queue.claim_jobs("w", 1)
    left = queue.maintain()
    # Then it ran once, and the next caller is told when it is due again
    assert len(runs) == 1 and 0 < left <= interval
