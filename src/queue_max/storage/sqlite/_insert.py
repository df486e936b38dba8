"""Writing one shard's part of a batch: runs of alike jobs, one statement each."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from ..._payload import oversize
from ...errors import InvalidPayload
from ...models import JobRef, NewJob
from ._ids import job_id_of, rowid_of
from ._sql import Q
from ._tally import tally_inserted

__all__ = ["insert_group", "insert_payloads"]


def insert_group(
    conn: sqlite3.Connection, shard_id: int, jobs: Sequence[NewJob], indices: list[int],
    refs: list[JobRef | None], now: float,
) -> list[tuple[int, int]]:
    """Insert one shard's part of a batch, counted in the tallies; returns the rowid ranges it
    created."""
    ranges: list[tuple[int, int]] = []
    counts: Counter[tuple[str, str]] = Counter()  # (queue, status) -> jobs the singles inserted
    plain = [i for i in indices if jobs[i].dedupe_key is None]
    for options, run in _runs(jobs, plain, now):
        key, priority, max_attempts, run_at, status, queue_name, concurrency_key = options
        if len(run) > 1:
            first = conn.execute(Q.next_id).fetchone()[0]
            array = "[" + ",".join([jobs[i].payload_json for i in run]) + "]"
            conn.execute(Q.insert_json_array, (first, key, priority, max_attempts, now, run_at, status,
                                               _ready(status), queue_name, concurrency_key, array))
            tally_inserted(conn, queue_name, status, len(run))
            last = first + len(run) - 1
        else:
            row = (key, jobs[run[0]].payload_json, priority, max_attempts, now, run_at, status, _ready(status))
            if queue_name == "default" and concurrency_key is None:
                cursor = conn.execute(Q.insert, row)
            else:
                cursor = conn.execute(Q.insert_named, (*row, queue_name, concurrency_key))
            first = last = int(cursor.lastrowid or 0)
            counts[queue_name, status] += 1
        ranges.append((first, last))
        for index, rowid in zip(run, range(first, last + 1)):
            refs[index] = JobRef(job_id_of(rowid, shard_id), shard_id, True)
    for index in indices:
        job = jobs[index]
        if job.dedupe_key is None:
            continue
        if job.dedupe_window is not None:
            held = conn.execute(Q.find_key_since, (job.dedupe_key, now - job.dedupe_window)).fetchone()
            if held is not None:
                refs[index] = JobRef(job_id_of(held[0], shard_id), shard_id, False)
                continue
        run_at = now if job.run_at is None else job.run_at
        status = "scheduled" if run_at > now else "pending"
        row = conn.execute(Q.insert_dedupe, (job.shard_key, job.payload_json, job.priority, job.max_attempts,
                                             now, run_at, status, _ready(status), job.dedupe_key,
                                             job.queue_name, job.concurrency_key)).fetchone()
        created = row is not None
        if row is None:
            row = conn.execute(Q.find_live_key, (job.dedupe_key,)).fetchone()
        else:
            ranges.append((row[0], row[0]))
            counts[job.queue_name, status] += 1
        refs[index] = JobRef(job_id_of(row[0], shard_id), shard_id, created)
    for (queue_name, status), count in counts.items():
        tally_inserted(conn, queue_name, status, count)
    if indices and jobs[indices[0]].trace is not None:  # the Queue traces a batch as a whole
        conn.executemany(Q.trace_put, [(rowid_of(refs[i].id), jobs[i].trace) for i in indices  # type: ignore[union-attr]
                                       if jobs[i].trace is not None and refs[i].created])  # type: ignore[union-attr]
    return ranges


def _ready(status: str) -> int | None:
    """The `ready` column: 1 while the job is in the run order (due, not finished)."""
    return 1 if status == "pending" else None


def _runs(jobs: Sequence[NewJob], indices: list[int], now: float) -> Iterator[tuple[tuple[Any, ...], list[int]]]:
    """Consecutive jobs that share every column but the payload, so one statement inserts each run."""
    current: tuple[Any, ...] | None = None
    start = 0
    for position, index in enumerate(indices):
        job = jobs[index]  # every column but the payload, the dedupe key and the trace
        options = (job.priority, job.max_attempts, job.run_at, job.shard_key, job.queue_name, job.concurrency_key)
        if options != current:
            if position:
                yield _columns(current, now), indices[start:position]  # type: ignore[arg-type]
            current, start = options, position
    if indices:
        yield _columns(current, now), indices[start:]  # type: ignore[arg-type]


def _columns(options: tuple[Any, ...], now: float) -> tuple[Any, ...]:
    priority, max_attempts, run_at, shard_key, queue_name, concurrency_key = options
    due = now if run_at is None else run_at
    return (shard_key, priority, max_attempts, due, "scheduled" if due > now else "pending", queue_name,
            concurrency_key)


def insert_payloads(
    conn: sqlite3.Connection, array: str, count: int, max_attempts: int, now: float,
    max_bytes: int, offset: int,
) -> int:
    """Insert a JSON array of validated payloads in one statement; returns the first rowid.

    SQLite splits the array and checks each payload's size, so Python never encodes or
    measures the payloads one by one."""
    first = int(conn.execute(Q.next_id).fetchone()[0])
    params = (first, max_attempts, now, now, array, max_bytes)
    if conn.execute(Q.insert_json_array_checked, params).rowcount != count:
        index, size = conn.execute(Q.first_oversize, (array, max_bytes)).fetchone()
        raise InvalidPayload(f"enqueue_batch item {offset + index}: {oversize(size, max_bytes)}")
    tally_inserted(conn, "default", "pending", count)
    return first
