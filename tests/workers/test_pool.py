"""WorkerPool: starting and stopping together, waiting for idle, scaling on real queue depth."""

from __future__ import annotations

import threading

from queue_max.workers import AsyncWorker, Worker, WorkerPool
from _helpers import wait_until


def test_a_pool_starts_all_waits_for_idle_and_stops_all(make_queue):
    queue = make_queue(shards=3)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(500)])
    pool = WorkerPool([Worker(f"w{k}", lambda payload: None, queue, poll_interval=0.05) for k in range(3)])
    pool.start_all()
    try:
        assert pool.wait_for_idle(timeout=20)
        assert queue.get_stats()["completed"] == 500
    finally:
        assert pool.stop_all() is True
    stats = pool.get_stats()
    assert stats["processed"] == 500 and stats["total_workers"] == 3
    # and the keys of queue-max 0.1.1 beside ours
    assert (stats["total_processed"], stats["total_failed"], stats["total_retried"]) == (500, 0, 0)
    assert len(stats["workers"]) == 3 and stats["workers"][0]["worker_id"]
    assert stats["auto_scale_enabled"] is stats["auto_scale"]
    assert all(s["state"] == "stopped" for s in stats["per_worker"])


def test_wait_for_idle_says_false_when_work_remains(make_queue):
    queue = make_queue(shards=1)
    queue.enqueue({"n": 1})
    pool = WorkerPool([Worker("w", lambda payload: None, queue)])  # never started
    assert pool.wait_for_idle(timeout=0.1) is False


def test_the_pool_grows_with_the_backlog_and_shrinks_when_it_is_gone(make_queue):
    # Given a backlog of 200 jobs that cannot finish until we allow it, and a pool of one
    queue = make_queue(shards=2)
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(200)])["ids"]
    gate = threading.Event()
    runs: list[int] = []

    def handler(payload: dict) -> None:
        gate.wait(30)
        runs.append(payload["n"])

    template = Worker("w", handler, queue, poll_interval=0.05, prefetch=2)
    pool = WorkerPool([template], auto_scale=True, min_workers=1, max_workers=4,
                      scale_up_threshold=50, scale_down_threshold=5, scale_check_interval=0.05)
    pool.start_all()
    try:
        # When the backlog stays deep, the pool grows to its maximum
        assert wait_until(lambda: len(pool) == 4)
        assert pool.get_stats()["scale_ups"] == 3
        # When the backlog drains, it shrinks back to its minimum, retiring idle workers only
        gate.set()
        assert wait_until(lambda: len(pool) == 1)
        assert pool.wait_for_idle(timeout=20)
    finally:
        pool.stop_all()
    stats = pool.get_stats()
    assert stats["scale_downs"] == 3
    assert sorted(runs) == list(range(200)) and all(queue.get_job(i).is_completed for i in ids)


def test_the_pool_never_retires_a_busy_worker(make_queue):
    # Given a pool above its minimum whose workers are all busy, and an empty backlog
    queue = make_queue(shards=1)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(2)])
    gate = threading.Event()
    workers = [Worker(f"w{k}", lambda payload: gate.wait(30), queue, poll_interval=0.05, prefetch=1)
               for k in range(2)]
    pool = WorkerPool(workers, auto_scale=True, min_workers=1, max_workers=2,
                      scale_up_threshold=10, scale_down_threshold=5, scale_check_interval=60)
    pool.start_all()
    try:
        assert wait_until(lambda: all(w.get_current_job() is not None for w in workers))
        # When the scaler checks, there is no idle worker to retire
        assert pool.check_scale() == 0 and len(pool) == 2
        gate.set()
        assert wait_until(lambda: all(w.is_idle for w in workers))
        assert pool.check_scale() == -1 and len(pool) == 1
    finally:
        gate.set()
        pool.stop_all()


def test_a_pool_can_mix_thread_and_async_workers_and_build_its_own(make_queue):
    queue = make_queue(shards=2)

    async def handler(payload: dict) -> None:
        return None

    made: list[str] = []

    def factory(worker_id: str) -> AsyncWorker:
        made.append(worker_id)
        return AsyncWorker(worker_id, handler, queue, poll_interval=0.05)

    pool = WorkerPool([Worker("t", lambda payload: None, queue, poll_interval=0.05)], auto_scale=True,
                      min_workers=2, max_workers=3, scale_check_interval=60, worker_factory=factory)
    pool.start_all()
    try:
        assert len(pool) == 2 and made == ["pool-1"]
        queue.enqueue_batch([{"payload": {"n": n}} for n in range(100)])
        assert pool.wait_for_idle(timeout=20)
    finally:
        pool.stop_all()
    assert pool.get_stats()["processed"] == 100
