"""Storage faults: full disk, read-only files, busy locks, clock jumps. Typed errors, nothing lost."""

from __future__ import annotations

import sqlite3

import pytest

from queue_max import Queue, StorageBusy, StorageFull, StorageReadOnly


def fill_limit(queue: Queue, shard_id: int, extra_pages: int = 2) -> None:
    """Make one shard 'full' for this thread's connection: only a few more pages fit."""
    conn = queue.backend.shards[shard_id].conn()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + extra_pages}")


def test_a_full_disk_on_enqueue_is_a_typed_error_and_writes_nothing(make_queue):
    queue = make_queue(shards=2)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(10)])
    fill_limit(queue, 1)
    # keyed jobs spread over both shards (a batch of unkeyed jobs goes to a single shard)
    big = [{"payload": {"n": n, "pad": "x" * 200}, "shard_key": n % 2} for n in range(2000)]
    with pytest.raises(StorageFull, match="full"):
        queue.enqueue_batch(big)
    # shard 0 had room, but the batch is all-or-nothing across shards
    assert queue.get_stats()["pending"] == 10


def test_a_full_disk_on_complete_keeps_the_job_leased(make_queue):
    queue = make_queue(shards=1)
    queue.enqueue({"n": 1})
    job = queue.pop_job("w")
    fill_limit(queue, 0, extra_pages=0)
    with pytest.raises(StorageFull):
        queue.complete_job(job, result={"blob": "y" * 5000})
    assert queue.get_job(job.id).is_processing
    queue.backend.shards[0].conn().execute("PRAGMA max_page_count = 1073741823")
    assert queue.complete_job(job, result={"ok": True}) is True


def test_a_read_only_shard_gives_a_typed_error(make_queue):
    queue = make_queue(shards=1)
    queue.enqueue({"n": 1})
    queue.backend.shards[0].conn().execute("PRAGMA query_only = 1")
    with pytest.raises(StorageReadOnly):
        queue.enqueue({"n": 2})
    with pytest.raises(StorageReadOnly):
        queue.enqueue_batch([{"payload": {"n": 3}}, {"payload": {"n": 4}}])
    queue.backend.shards[0].conn().execute("PRAGMA query_only = 0")
    assert queue.get_stats()["pending"] == 1


def test_a_lock_held_past_the_busy_timeout_is_storage_busy_and_nothing_half_applied(tmp_path, settings):
    queue = Queue(data_dir=tmp_path / "d", shards=2, rate_limit=0,
                  settings=settings.with_(busy_timeout=0.05))
    try:
        blocker = sqlite3.connect(tmp_path / "d" / "shard_1.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageBusy, match="busy"):
            queue.enqueue_batch([{"payload": {"n": n}, "shard_key": n % 2} for n in range(10)])
        blocker.execute("ROLLBACK")
        blocker.close()
        assert queue.get_stats()["pending"] == 0
        assert queue.enqueue_batch([{"payload": {"n": n}} for n in range(10)])["total"] == 10
    finally:
        queue.close()


def test_a_wall_clock_jump_backwards_loses_no_job(make_queue, clock):
    queue = make_queue(shards=1, clock=clock, lease_timeout=30)
    for n in range(3):
        queue.enqueue({"n": n})
    job = queue.pop_job("w")
    clock.set_wall(clock.time() - 3600)  # NTP steps the clock back an hour
    assert queue.recover_orphans() == 0  # the lease looks longer, not expired
    assert queue.complete_job(job) is True
    later = [queue.pop_job("w") for _ in range(2)]
    assert all(j is not None for j in later)  # jobs enqueued "in the future" are still due
    clock.set_wall(clock.time() + 7200)


def test_a_wall_clock_jump_forwards_redelivers_but_fencing_refuses_the_stale_ack(make_queue, clock):
    from queue_max import LeaseLost

    queue = make_queue(shards=1, clock=clock, lease_timeout=30, max_retries=3)
    queue.enqueue({"n": 1})
    job = queue.pop_job("w")
    clock.set_wall(clock.time() + 3600)  # the clock leaps: the lease looks expired
    assert queue.recover_orphans() == 1
    again = queue.pop_job("w2")
    assert again.id == job.id and again.attempts == 2
    with pytest.raises(LeaseLost):
        queue.complete_job(job)
    assert queue.complete_job(again) is True
    assert queue.get_job(job.id).is_completed
