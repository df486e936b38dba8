"""The job counts of `get_stats()` come from tallies kept in each shard: exact after every verb."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from test_named_queue_storage import downgrade_to_v4

from queue_max import Queue
from queue_max._clock import FakeClock
from queue_max.config import Settings
from queue_max.storage.sqlite._sql import ACK_CHUNK, SCHEMA_VERSION


# the rows of the tail: not counted in the tallies yet (see TALLIES_SCHEMA)
UNCOUNTED = "SELECT count(*) FROM fila WHERE id > (SELECT mark FROM tally_mark) AND coalesce(tallied, -1) < 0"


def recount(data: Path, now: float) -> dict[str, dict[str, int]]:
    """The per-queue counts of `queue_stats`, counted row by row from the shard files."""
    out: dict[str, dict[str, int]] = {}
    for path in sorted(data.glob("shard_*.db")):
        conn = sqlite3.connect(path)
        for name, status, run_at in conn.execute("SELECT queue_name, status, run_at FROM fila"):
            per = out.setdefault(name, dict.fromkeys(
                ("pending", "processing", "completed", "failed", "cancelled", "scheduled"), 0))
            if status == "scheduled":
                per["pending"] += 1
                per["scheduled"] += run_at > now
            else:
                per[status] += 1
        conn.close()
    return dict(sorted(out.items()))


def dead_letters(data: Path) -> int:
    total = 0
    for path in data.glob("shard_*.db"):
        conn = sqlite3.connect(path)
        total += conn.execute("SELECT count(*) FROM dead_letter_queue").fetchone()[0]
        conn.close()
    return total


def assert_exact(queue: Queue, data: Path, now: float) -> None:
    expected = recount(data, now)
    per_queue = {name: {key: figures[key] for key in next(iter(expected.values()), {})}
                 for name, figures in queue.queue_stats().items() if name in expected}
    assert per_queue == expected
    totals = queue.counts()
    for key in ("pending", "processing", "completed", "failed", "cancelled", "scheduled"):
        assert totals[key] == sum(per[key] for per in expected.values()), key
    assert totals["dead_letter"] == dead_letters(data)


def test_the_counts_match_a_recount_after_every_kind_of_write(tmp_path: Path):
    # Given a queue on three shards with a fake clock
    clock = FakeClock()
    data = tmp_path / "data"
    queue = Queue(data_dir=data, shards=3, rate_limit=0, settings=Settings(), clock=clock, max_retries=1)
    check = lambda: assert_exact(queue, data, clock.time())  # noqa: E731
    # When jobs are added every way there is
    for i in range(5):
        queue.enqueue({"i": i})
    queue.enqueue({"named": 1}, queue_name="mail")
    queue.enqueue({"later": 1}, delay=60)
    queue.enqueue({"later": 2}, delay=60, queue_name="mail")
    queue.enqueue_batch([{"payload": {"b": i}} for i in range(20)])
    queue.enqueue({"k": 1}, dedupe_key="same")
    queue.enqueue({"k": 2}, dedupe_key="same")  # a dedupe hit adds nothing
    check()
    # ... then claimed, completed, failed, retried, released and cancelled
    jobs = queue.claim_jobs("w", 10)
    check()
    queue.complete_jobs([(job, None) for job in jobs[:4]])
    queue.complete_job(jobs[4], result={"ok": True})
    queue.fail_job(jobs[5], error="retry me")  # retried
    queue.fail_job(jobs[6], error="dead", permanent=True)  # dead-lettered
    queue.release_job(jobs[7])
    check()
    waiting = queue.list_jobs(status="pending", limit=1)[0]
    queue.cancel(waiting.id)
    check()
    # ... a delayed job comes due (it counts as pending, no longer as scheduled)
    clock.advance(61)
    check()
    assert queue.queue_stats()["mail"]["scheduled"] == 0
    queue.claim_jobs("w", 1, queues=["mail"])  # promotes the due jobs
    check()
    # ... leases expire and are recovered, dead letters are requeued and pruned
    clock.advance(3600)
    queue.recover_orphans()
    check()
    assert queue.dlq_requeue() == 1
    check()
    job = queue.pop_job("w")
    assert job is not None
    queue.fail_job(job, error="dead again", permanent=True)
    queue.dlq_prune()
    check()
    # ... and housekeeping deletes what is finished, and a purge the rest
    clock.advance(86400 * 30)
    queue.cleanup_old_jobs(days=1)
    check()
    queue.purge_queue("pending")
    check()
    queue.purge_queue()
    # Then every count matched a row-by-row recount at every step, down to nothing
    check()
    assert sum(queue.counts()[key] for key in ("pending", "processing", "completed", "failed")) == 0
    queue.close()


def one_shard(data: Path, clock: FakeClock) -> Queue:
    return Queue(data_dir=data, shards=1, rate_limit=0, settings=Settings(), clock=clock)


def test_a_schema_4_shard_is_tallied_from_its_rows_when_opened(tmp_path: Path):
    # Given a shard written before the tallies, holding jobs in several states
    clock = FakeClock()
    data = tmp_path / "data"
    with one_shard(data, clock) as queue:
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(6)])
        queue.enqueue({"m": 1}, queue_name="mail")
        queue.enqueue({"later": 1}, delay=60)
        job = queue.pop_job("w")
        assert job is not None
        queue.complete_job(job)
        running = queue.pop_job("w")
        assert running is not None
        queue.fail_job(queue.pop_job("w"), error="dead", permanent=True)  # type: ignore[arg-type]
    downgrade_to_v4(data / "shard_0.db")
    # When it is opened again
    with one_shard(data, clock) as queue:
        # Then it is at the current schema and its counts are exact
        assert_exact(queue, data, clock.time())
        assert queue.counts()["processing"] == 1 and queue.counts()["dead_letter"] == 1
    conn = sqlite3.connect(data / "shard_0.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
    conn.close()


def test_a_status_changed_by_hand_in_sql_is_still_counted(tmp_path: Path):
    # Given a queue whose rows an operator edits with the sqlite3 shell
    clock = FakeClock()
    with one_shard(tmp_path / "data", clock) as queue:
        data = tmp_path / "data"
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(4)])
        conn = sqlite3.connect(data / "shard_0.db")
        # When one job is moved to another queue and another is deleted
        conn.execute("UPDATE fila SET queue_name = 'other' WHERE id = (SELECT min(id) FROM fila)")
        conn.execute("DELETE FROM fila WHERE id = (SELECT max(id) FROM fila)")
        conn.commit()
        conn.close()
        # Then the counts follow
        assert_exact(queue, data, clock.time())
        assert queue.queue_stats()["other"]["pending"] == 1
        assert queue.queue_stats()["default"]["pending"] == 2


def test_lone_enqueues_are_counted_before_any_fold_and_their_leases_still_recovered(tmp_path: Path):
    # Given jobs added one at a time (counted later), one of them claimed alone and left to expire
    clock = FakeClock()
    data = tmp_path / "data"
    with one_shard(data, clock) as queue:
        for i in range(5):
            queue.enqueue({"i": i})
        conn = sqlite3.connect(data / "shard_0.db")
        # (the first one's once-a-second metrics write folded it in at once)
        assert conn.execute(UNCOUNTED).fetchone()[0] == 4
        job = queue.pop_job("w")
        assert job is not None
        # Then the counts see them at once, running job included
        assert_exact(queue, data, clock.time())
        assert queue.counts()["processing"] == 1
        assert queue.backend.heartbeat("w", clock.time() + 60) == 1
        # When the lease runs out, recovery finds the running job among the uncounted rows
        clock.advance(3600)
        assert queue.recover_orphans() == 1
        assert_exact(queue, data, clock.time())
        # and a batch claim folds them into the tallies first, then counts its own claim
        assert len(queue.claim_jobs("w", 10)) == 5
        assert conn.execute(UNCOUNTED).fetchone()[0] == 0
        assert_exact(queue, data, clock.time())
        assert queue.counts()["processing"] == 5
        conn.close()


def test_a_fold_counts_a_tail_whose_rows_differ_from_the_newest_one_by_queue_or_status(tmp_path: Path):
    # Given uncounted lone enqueues whose newest row shares its queue and status with only some
    # of the others: another queue's job among them, then the oldest claimed alone
    clock = FakeClock()
    data = tmp_path / "data"
    with one_shard(data, clock) as queue:
        queue.enqueue({"first": 1})  # (its metrics write folds it in at once)
        for queue_name in ("default", "mail", "default", "default"):
            queue.enqueue({"q": queue_name}, queue_name=queue_name)
        conn = sqlite3.connect(data / "shard_0.db")
        assert conn.execute(UNCOUNTED).fetchone()[0] == 4
        assert_exact(queue, data, clock.time())
        # When a batch folds the tail into the tallies, before and after a lone claim in it
        queue.enqueue_batch([{"payload": {"batch": 1}}])
        assert conn.execute(UNCOUNTED).fetchone()[0] == 0
        assert_exact(queue, data, clock.time())
        for i in range(3):
            queue.enqueue({"i": i})
        assert queue.pop_job("w", queues=["default"]) is not None
        queue.enqueue_batch([{"payload": {"batch": 2}}])
        # Then every job is counted once, under its own queue and status
        assert conn.execute(UNCOUNTED).fetchone()[0] == 0
        assert_exact(queue, data, clock.time())
        assert queue.queue_stats()["mail"]["pending"] == 1 and queue.counts()["processing"] == 1
        conn.close()


def test_a_batch_claim_and_a_grouped_ack_count_even_when_the_queues_tallies_row_was_removed(tmp_path: Path):
    # Given one shard with five jobs of queue "q", whose tallies row is then removed by hand
    clock = FakeClock()
    data = tmp_path / "data"
    queue = Queue(data_dir=data, shards=1, rate_limit=0, settings=Settings(), clock=clock)
    queue.enqueue_batch([{"payload": {"i": i}, "queue_name": "q"} for i in range(5)])
    conn = sqlite3.connect(data / "shard_0.db")
    conn.execute("DELETE FROM tallies WHERE queue_name = 'q'")
    conn.commit()
    # When three are claimed at once and acknowledged together
    jobs = queue.claim_jobs("w", 3)
    queue.complete_jobs([(job, None) for job in jobs])
    # Then both moves were still written: the row is back, holding exactly what moved since
    row = conn.execute("SELECT pending, processing, completed FROM tallies WHERE queue_name = 'q'").fetchone()
    assert row == (-3, 0, 3)
    conn.close()
    queue.close()


def test_a_batch_claim_woken_by_one_lone_enqueue_leases_it_alone_and_the_counts_stay_exact(tmp_path: Path):
    # Given six shards this thread has just found empty, then one job added alone
    clock = FakeClock()
    data = tmp_path / "data"
    with Queue(shards=6, rate_limit=0, data_dir=str(data), clock=clock) as queue:
        assert queue.claim_jobs("w", 32) == []
        ref = queue.enqueue({"lone": True})
        # When a batch claim (a worker's) runs
        jobs = queue.claim_jobs("w", 32)
        # Then it leases that job, and the counts see it running, then done
        assert [job.id for job in jobs] == [ref["id"]]
        assert_exact(queue, data, clock.time())
        assert queue.counts()["processing"] == 1
        assert queue.complete_jobs([(jobs[0], None)]) == []
        assert_exact(queue, data, clock.time())
        # and jobs added later by a batch are all claimed by the next batch claim
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(5)])
        assert len(queue.claim_jobs("w", 32)) == 5
        assert_exact(queue, data, clock.time())


def test_a_grouped_ack_longer_than_one_statement_completes_every_job_and_reports_the_one_lost(tmp_path: Path):
    # Given 150 jobs claimed at once on one shard (more than one grouped-ack statement takes)
    clock = FakeClock()
    data = tmp_path / "data"
    queue = Queue(data_dir=data, shards=1, rate_limit=0, settings=Settings(), clock=clock)
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(150)])
    jobs = queue.claim_jobs("w", 150)
    assert len(jobs) == 150 > ACK_CHUNK
    # ... one of which another worker has taken over since (its lease token moved on)
    conn = sqlite3.connect(data / "shard_0.db")
    conn.execute("UPDATE fila SET lease_token = lease_token + 1 WHERE id = ?", (jobs[100].id // 1024,))
    conn.commit()
    conn.close()
    # When all of them are acknowledged together, each with its own result
    lost = queue.complete_jobs([(job, {"n": job.payload["i"]}) for job in jobs])
    # Then only that one is reported lost; every other job is completed with its own result
    assert lost == [jobs[100].id]
    assert [queue.get_job(job.id).result for job in jobs[60:70]] == [{"n": job.payload["i"]} for job in jobs[60:70]]
    assert queue.counts()["completed"] == 149
    assert_exact(queue, data, clock.time())
    queue.close()
