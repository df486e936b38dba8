"""A worker's claim woken by one job enqueued alone in this process: it takes that job and ends,
and the next claim still finds everything else (other processes' jobs, scheduled jobs fallen due)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from queue_max import Queue
from queue_max._clock import FakeClock


@contextmanager
def two_processes(tmp_path: Path) -> Iterator[tuple[Queue, Queue, FakeClock]]:
    """Two processes' queues on one directory of 2 shards (two Queue objects: two sets of
    connections and claim notes), on one fake clock."""
    clock = FakeClock()
    data = str(tmp_path / "data")
    with Queue(shards=2, rate_limit=0, data_dir=data, clock=clock) as ours, \
            Queue(shards=2, rate_limit=0, data_dir=data, clock=clock) as theirs:
        yield ours, theirs, clock


def test_a_claim_woken_by_a_lone_enqueue_ends_with_its_job_and_the_next_finds_another_processes(tmp_path: Path):
    # Given two processes' queues on one directory, both of whose shards this thread found empty
    with two_processes(tmp_path) as (ours, theirs, clock):
        assert ours.claim_jobs("w", 32) == []
        # ... then three jobs added by the other process on shard 1, and one alone by this one on shard 0
        others = theirs.enqueue_batch([{"payload": {"i": i}, "shard_key": 1} for i in range(3)])["ids"]
        lone = ours.enqueue({"lone": True}, shard_key=0)["id"]
        clock.advance(0.01)  # past the shortest wait before a shard found empty is looked at again
        # When a batch claim (a woken worker's) runs, then another
        first = ours.claim_jobs("w", 32)
        second = ours.claim_jobs("w", 32)
        # Then the first leased the lone job alone, the second the other process's jobs, each once
        assert [job.id for job in first] == [lone]
        assert sorted(job.id for job in second) == sorted(others)
        assert ours.claim_jobs("w", 32) == []


def test_a_scheduled_job_fallen_due_beside_a_lone_job_is_claimed_by_the_next_claim(tmp_path: Path):
    # Given a job scheduled 20 ms ahead on the one shard, which this thread then found empty
    clock = FakeClock()
    with Queue(shards=1, rate_limit=0, data_dir=str(tmp_path / "data"), clock=clock) as queue:
        scheduled = queue.enqueue({"at": "later"}, delay=0.02)["id"]
        assert queue.claim_jobs("w", 32) == []
        # ... and, once it fell due, a job enqueued alone
        clock.advance(0.05)
        lone = queue.enqueue({"at": "now"})["id"]
        # When two batch claims run
        first = queue.claim_jobs("w", 32)
        second = queue.claim_jobs("w", 32)
        # Then the first leased one job, and between them both jobs were leased, each once
        assert len(first) == 1
        assert sorted(job.id for job in first + second) == sorted([scheduled, lone])
        assert queue.claim_jobs("w", 32) == []


def test_another_processes_job_is_claimed_within_the_longest_hint_wait_while_this_one_keeps_adding(tmp_path: Path):
    # Given two processes' queues on one directory, both of whose shards this thread found empty,
    # then a job the other process added on shard 1
    with two_processes(tmp_path) as (ours, theirs, clock):
        assert ours.claim_jobs("w", 4) == []
        theirs_id = theirs.enqueue({"from": "them"}, shard_key=1)["id"]
        # When this process keeps adding a job to shard 0 and claiming, every 30 ms
        claimed = []
        for i in range(8):
            clock.advance(0.03)
            ours.enqueue({"i": i}, shard_key=0)
            claimed += [job.id for job in ours.claim_jobs("w", 4)]
        # Then the other process's job was claimed once its shard went unlooked-at for
        # EMPTY_HINT_MAX (100 ms), and every job of this process too
        assert theirs_id in claimed[:6]
        assert len(claimed) + len(ours.claim_jobs("w", 4)) == 9
