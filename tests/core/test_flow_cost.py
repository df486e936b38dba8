"""What flow control costs a queue with no limit: SQL statements per job, counted on the real
connections (SQLite's trace callback, psycopg's cursor), never timed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _pg import PG_URL, drop_schema, fresh_schema, require_pg

from queue_max import Queue, Settings
from queue_max._clock import FakeClock


def sqlite_queue(tmp_path: Path, shards: int, clock: FakeClock) -> Queue:
    return Queue(data_dir=tmp_path / "data", shards=shards, rate_limit=0, settings=Settings(), clock=clock)


def trace(queue: Queue) -> list[str]:
    """Every statement this thread's connections to the queue's shards run from now on.

    A trigger (the job tallies' ones) reports the text of the statement that fired it again:
    a repeat of the line just before is that, not a statement."""
    statements: list[str] = []

    def seen(sql: str) -> None:
        if not statements or statements[-1] != sql:
            statements.append(sql)

    for shard in queue.backend.shards:  # type: ignore[attr-defined]
        shard.conn().set_trace_callback(seen)
    return statements


def warm_up(queue: Queue, jobs: int) -> None:
    """Fill every shard and let the first claims do their once-a-while work (promotion looks)."""
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(jobs)])
    for _ in range(3 * queue.num_shards):
        queue.complete_job(queue.pop_job("w"))  # type: ignore[arg-type]


@pytest.mark.parametrize("shards", [1, 6])
def test_pop_and_complete_cost_two_statements_a_job_with_no_limit(tmp_path, shards):
    # Given a queue with no limit whose shards all hold jobs, and a clock that stands still
    queue = sqlite_queue(tmp_path, shards, FakeClock())
    warm_up(queue, 400 * shards)
    statements = trace(queue)
    # When 200 jobs are popped and completed one at a time
    for _ in range(200):
        job = queue.pop_job("w")
        assert job is not None
        queue.complete_job(job)
    # Then each job costs its claim and its ack, and nothing reads the flow-control tables
    assert len(statements) / 200 <= 2.0, statements[:10]
    assert not [s for s in statements if "flow_" in s]
    queue.close()


@pytest.mark.parametrize("shards", [1, 6])
def test_the_batch_claim_and_grouped_ack_read_no_flow_state_with_no_limit(tmp_path, shards):
    queue = sqlite_queue(tmp_path, shards, FakeClock())
    warm_up(queue, 200 * shards)
    statements = trace(queue)
    # When a worker claims batches of 32 and acknowledges each batch in one call
    for _ in range(5):
        jobs = queue.claim_jobs("w", 32)
        assert len(jobs) == 32
        assert queue.complete_jobs([(job, None) for job in jobs]) == []
    # Then no statement touched the paused queues or the breakers
    assert not [s for s in statements if "flow_" in s]
    queue.close()


def test_a_pause_by_another_queue_object_is_seen_by_the_next_claim_without_the_clock_moving(tmp_path):
    # Given a worker's queue that has claimed (and so cached the flow state) on a still clock
    clock = FakeClock()
    mine, theirs = sqlite_queue(tmp_path, 2, clock), sqlite_queue(tmp_path, 2, clock)
    mine.enqueue_batch([{"payload": {"n": n}} for n in range(5)])
    mine.complete_job(mine.pop_job("w"))  # type: ignore[arg-type]
    # When another opener of the directory pauses the queue
    assert theirs.pause("default")
    # Then the worker's next claim sees it at once, and sees the resume too
    assert mine.pop_job("w") is None
    theirs.resume("default")
    assert mine.pop_job("w") is not None
    mine.close()
    theirs.close()


def test_a_change_whose_token_bump_was_lost_is_seen_after_the_refresh_bound(tmp_path):
    # Given a worker that cached the flow state
    from queue_max.flow import FLOW_REFRESH

    clock = FakeClock()
    queue = sqlite_queue(tmp_path, 1, clock)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(5)])
    queue.complete_job(queue.pop_job("w"))  # type: ignore[arg-type]
    # When a writer pauses the queue and dies before it moves the token (written here by hand)
    with queue.backend.shards[0].write() as conn:  # type: ignore[attr-defined]
        conn.execute("INSERT INTO flow_paused(name, paused_at) VALUES ('default', 0)")
    # Then claims go on until FLOW_REFRESH has passed, and stop from then on
    assert queue.pop_job("w") is not None
    clock.advance(FLOW_REFRESH - 0.01)
    assert queue.pop_job("w") is not None
    clock.advance(0.01)
    assert queue.pop_job("w") is None
    queue.close()


def test_a_success_closes_a_run_of_failures_recorded_by_another_opener(tmp_path):
    # Given a queue whose breaker counts two failures recorded by another opener (threshold 3)
    clock = FakeClock()
    mine = Queue(data_dir=tmp_path / "data", shards=1, rate_limit=0, settings=Settings(), clock=clock,
                 circuit_breaker_threshold=3)
    theirs = Queue(data_dir=tmp_path / "data", shards=1, rate_limit=0, settings=Settings(), clock=clock,
                   circuit_breaker_threshold=3)
    mine.enqueue_batch([{"payload": {"n": n}} for n in range(5)])
    mine.complete_job(mine.pop_job("w"))  # type: ignore[arg-type]
    for _ in range(2):
        theirs.fail_job(theirs.pop_job("v"), error="down", permanent=True)  # type: ignore[arg-type]
    assert mine.circuit_breaker.failures == 2
    # When this worker completes a job
    mine.complete_job(mine.pop_job("w"))  # type: ignore[arg-type]
    # Then the run is broken: one more failure does not open the breaker
    assert mine.circuit_breaker.failures == 0
    theirs.fail_job(theirs.pop_job("v"), error="down", permanent=True)  # type: ignore[arg-type]
    assert mine.circuit_breaker.state.value == "closed"
    mine.close()
    theirs.close()


# ── PostgreSQL: statements sent by this thread (the LISTEN thread and the pool's own are not ours) ──
@pytest.fixture
def pg_queue() -> Iterator[Queue]:
    require_pg()
    schema = fresh_schema()
    settings = Settings(database_schema=schema)  # type: ignore[call-arg]
    queue = Queue(database_url=PG_URL, rate_limit=0, settings=settings, clock=FakeClock())
    yield queue
    queue.close()
    drop_schema(schema)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import psycopg

    statements: list[str] = []
    me = threading.get_ident()
    real = psycopg.Cursor.execute

    def counting(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me:
            statements.append(str(query))
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    return statements


def test_postgres_pop_and_complete_cost_two_round_trips_a_job_with_no_limit(pg_queue, sent):
    pg_queue.enqueue_batch([{"payload": {"n": n}} for n in range(220)])
    for _ in range(10):
        pg_queue.complete_job(pg_queue.pop_job("w"))  # type: ignore[arg-type]
    sent.clear()
    for _ in range(200):
        pg_queue.complete_job(pg_queue.pop_job("w"))  # type: ignore[arg-type]
    # the metrics rollup is flushed at most once a second, whatever the number of jobs
    per_job = [s for s in sent if ".metrics " not in s]
    assert len(per_job) / 200 <= 2.0, per_job[:10]
    assert not [s for s in sent if "flow_" in s]


def test_postgres_batch_claim_and_grouped_ack_read_no_flow_state(pg_queue, sent):
    pg_queue.enqueue_batch([{"payload": {"n": n}} for n in range(200)])
    pg_queue.complete_job(pg_queue.pop_job("w"))  # type: ignore[arg-type]
    sent.clear()
    for _ in range(5):
        jobs = pg_queue.claim_jobs("w", 32)
        assert pg_queue.complete_jobs([(job, None) for job in jobs]) == []
    assert not [s for s in sent if "flow_" in s]


def test_a_pause_by_another_process_is_seen_by_the_next_claim(tmp_path):
    import subprocess
    import sys

    # Given a worker's queue that has claimed (and so cached the flow state) on a still clock
    queue = sqlite_queue(tmp_path, 2, FakeClock())
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(5)])
    queue.complete_job(queue.pop_job("w"))  # type: ignore[arg-type]
    # When another process pauses the queue (`queue-max pause`) and exits
    subprocess.run([sys.executable, "-m", "queue_max", "--data-dir", str(tmp_path / "data"), "pause", "default"],
                   check=True, capture_output=True, timeout=60)
    # Then the worker's very next claim sees the pause
    assert queue.pop_job("w") is None
    queue.close()


def test_postgres_a_pause_by_another_backend_reaches_the_cached_state_through_notify(pg_queue):
    import time

    # Given a worker's queue that cached the flow state, and a second opener of the same schema
    pg_queue.flow.blocks()
    other = Queue(database_url=PG_URL, rate_limit=0, clock=FakeClock(),
                  settings=Settings(database_schema=pg_queue.backend.schema))  # type: ignore[attr-defined,call-arg]
    try:
        # When the other pauses the queue
        other.pause("default")
        # Then the worker's cached state learns of it from the NOTIFY, without the clock moving
        deadline = time.monotonic() + 10
        while "default" not in pg_queue.flow.blocks()[0]:
            assert time.monotonic() < deadline, "the pause never reached the cached state"
            time.sleep(0.01)
    finally:
        other.close()
