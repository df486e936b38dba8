"""The tallies behind `get_stats()` stay exact under random mixes of every writing verb, from
two Queue objects (two connections per shard) and from concurrent processes."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_tallies import assert_exact

from queue_max import Queue
from queue_max._clock import FakeClock
from queue_max.config import Settings
from queue_max.errors import LeaseLost


def _step(rng: random.Random, queue: Queue, clock: FakeClock, held: list) -> None:
    """One random write: enqueues (lone, delayed, deduped, batched), claims (one, many, per
    queue), acks (one, grouped), failures (retried, dead), releases, cancels, recovery, DLQ
    requeue and prune, cleanup and purge."""
    try:
        _write(rng, queue, clock, held)
    except LeaseLost:
        pass  # the clock moved past its lease and a claim recovered it: refused, nothing changed


def _write(rng: random.Random, queue: Queue, clock: FakeClock, held: list) -> None:
    name = rng.choice(["default", "mail", "reports"])
    op = rng.randrange(16)
    if op <= 2:
        queue.enqueue({"n": rng.random()}, queue_name=name, delay=rng.choice([0, 0, 5, 60]),
                      dedupe_key=rng.choice([None, None, "k1", "k2"]))
    elif op == 3:
        queue.enqueue_batch([{"payload": {"b": i}, "queue_name": rng.choice(["default", "mail"]),
                              "priority": rng.choice([0, 0, 1])} for i in range(rng.randint(1, 12))])
    elif op == 4:
        job = queue.pop_job("w1")
        if job is not None:
            held.append(job)
    elif op == 5:
        held.extend(queue.claim_jobs("w2", rng.randint(1, 8), queues=rng.choice([None, [name]])))
    elif op == 6 and held:
        queue.complete_job(held.pop(rng.randrange(len(held))), result={"ok": 1})
    elif op == 7 and held:
        batch = [held.pop() for _ in range(min(len(held), rng.randint(1, 6)))]
        queue.complete_jobs([(job, None) for job in batch])
    elif op == 8 and held:
        queue.fail_job(held.pop(rng.randrange(len(held))), error="boom", permanent=rng.random() < 0.4)
    elif op == 9 and held:
        queue.release_job(held.pop(rng.randrange(len(held))))
    elif op == 10:
        pending = queue.list_jobs(status="pending", limit=5)
        if pending:
            queue.cancel(rng.choice(pending).id)
    elif op == 11:
        clock.advance(rng.choice([1, 30, 120]))
        if rng.random() < 0.3:
            clock.advance(3600)
            queue.recover_orphans()
            held.clear()  # their leases are gone; late acks are refused and change nothing
    elif op == 12:
        queue.dlq_requeue()
    elif op == 13 and rng.random() < 0.3:
        queue.dlq_prune()
    elif op == 14 and rng.random() < 0.2:
        clock.advance(86400 * 2)
        queue.cleanup_old_jobs(days=1)
    elif op == 15 and rng.random() < 0.1:
        queue.purge_queue(rng.choice(["completed", "failed", "cancelled"]))


@pytest.mark.parametrize("seed", range(6))
def test_random_writes_from_two_connections_keep_the_counts_exact(tmp_path: Path, seed: int):
    # Given two Queue objects on one 2-shard directory, sharing one fake clock
    rng = random.Random(seed)
    clock = FakeClock()
    data = tmp_path / "data"
    queues = [Queue(data_dir=data, shards=2, rate_limit=0, settings=Settings(), clock=clock, max_retries=1)
              for _ in range(2)]
    held: list = []
    try:
        # When 250 random writes run, each from either of them
        for n in range(250):
            _step(rng, rng.choice(queues), clock, held)
            # Then after every one, both report exactly what a row-by-row recount finds
            if n % 5 == 0:
                for queue in queues:
                    assert_exact(queue, data, clock.time())
        for queue in queues:
            assert_exact(queue, data, clock.time())
    finally:
        for queue in queues:
            queue.close()


_WRITER = textwrap.dedent("""
    import random, sys
    from queue_max import Queue
    seed, data = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(seed)
    queue = Queue(data_dir=data, shards=2, rate_limit=0, max_retries=1)
    held = []
    for _ in range(400):
        op = rng.randrange(8)
        if op < 3:
            queue.enqueue({"n": 1}, queue_name=rng.choice(["default", "mail"]))
        elif op == 3:
            queue.enqueue_batch([{"payload": {"b": i}} for i in range(rng.randint(1, 10))])
        elif op == 4:
            job = queue.pop_job(f"p{seed}")
            if job is not None:
                held.append(job)
        elif op == 5:
            held.extend(queue.claim_jobs(f"p{seed}", rng.randint(2, 8)))
        elif op == 6 and held:
            queue.complete_job(held.pop())
        elif op == 7 and held:
            batch = [held.pop() for _ in range(min(len(held), 4))]
            if rng.random() < 0.5:
                queue.complete_jobs([(job, None) for job in batch])
            else:
                for job in batch:
                    queue.fail_job(job, error="x", permanent=rng.random() < 0.5)
    queue.close()
""")


def test_concurrent_processes_writing_every_way_leave_exact_counts(tmp_path: Path):
    # Given four processes that enqueue, claim and ack at random on one directory at once
    data = tmp_path / "data"
    Queue(data_dir=data, shards=2, rate_limit=0).close()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(seed), str(data)]) for seed in range(4)]
    # When they have all finished
    assert [proc.wait(120) for proc in procs] == [0, 0, 0, 0]
    # Then the tallies agree with a recount of the rows
    clock = FakeClock()
    with Queue(data_dir=data, shards=2, rate_limit=0, clock=clock) as queue:
        assert_exact(queue, data, queue.clock.time())
