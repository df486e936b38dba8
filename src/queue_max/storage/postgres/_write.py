"""Writing jobs inside one open transaction: a batch's plain jobs in one statement, keyed ones by key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from ..._json import dumps
from ..._payload import oversize
from ...errors import InvalidPayload
from ...models import JobRef, NewJob
from ..sqlite._ids import job_id_of
from ._metrics import put_traces
from ._sql import Statements

__all__ = ["insert_jobs", "insert_payloads"]

_new = tuple.__new__


def insert_jobs(
    conn: psycopg.Connection[Any], q: Statements, jobs: Sequence[NewJob], now: float, channel: str | None,
) -> list[JobRef]:
    """Insert `jobs` on `conn` (already in a transaction); refs in input order. NOTIFY `channel`
    once, with the transaction, when given."""
    refs: list[JobRef | None] = [None] * len(jobs)
    plain = [i for i, job in enumerate(jobs) if job.dedupe_key is None]
    if plain:
        ids = _reserve(conn, q, len(plain))
        columns: list[list[Any]] = [ids, [], [], [], [], [], [], [], []]
        for i in plain:
            job = jobs[i]
            run_at = now if job.run_at is None else job.run_at
            for column, value in zip(columns[1:], (job.shard_key, job.payload_json, job.priority,
                                                   job.max_attempts, run_at, _status(run_at, now),
                                                   job.queue_name, job.concurrency_key)):
                column.append(value)
        conn.execute(q.insert_arrays, (now, *columns))
        for i, rowid in zip(plain, ids):
            refs[i] = _new(JobRef, (job_id_of(rowid, 0), 0, True))
    for i, job in enumerate(jobs):
        if job.dedupe_key is not None:
            refs[i] = _insert_keyed(conn, q, job, now)
    if any(job.trace is not None for job in jobs):
        put_traces(conn, q, jobs, refs)  # type: ignore[arg-type]
    if channel is not None:
        conn.execute(q.notify, (channel,))
    return refs  # type: ignore[return-value]


def _insert_keyed(conn: psycopg.Connection[Any], q: Statements, job: NewJob, now: float) -> JobRef:
    run_at = now if job.run_at is None else job.run_at
    params = (job.shard_key, job.payload_json, job.priority, job.max_attempts, now, run_at,
              _status(run_at, now), job.dedupe_key, job.queue_name, job.concurrency_key)
    if job.dedupe_window is not None:
        held = conn.execute(q.find_key_since, (job.dedupe_key, now - job.dedupe_window)).fetchone()
        if held is not None:
            return JobRef(job_id_of(held[0], 0), 0, False)
    while True:
        row = conn.execute(q.insert_dedupe, params).fetchone()
        if row is not None:
            return JobRef(job_id_of(row[0], 0), 0, True)
        live = conn.execute(q.find_live_key, (job.dedupe_key,)).fetchone()
        if live is not None:  # else the live job finished in between: the key is free again
            return JobRef(job_id_of(live[0], 0), 0, False)


def _reserve(conn: psycopg.Connection[Any], q: Statements, count: int) -> list[int]:
    """`count` fresh ids, ascending, so enqueue order is id order."""
    return [row[0] for row in conn.execute(q.reserve_ids, (count,)).fetchall()]


def _status(run_at: float, now: float) -> str:
    return "scheduled" if run_at > now else "pending"


def insert_payloads(
    conn: psycopg.Connection[Any], q: Statements, payloads: Sequence[dict[str, Any]], max_attempts: int,
    now: float, max_bytes: int, channel: str | None,
) -> list[int]:
    """Insert validated payloads with default options, refusing the whole call on an oversize one."""
    texts = [dumps(payload) for payload in payloads]
    for index, text in enumerate(texts):
        if len(text) > max_bytes:
            raise InvalidPayload(f"enqueue_batch item {index}: {oversize(len(text), max_bytes)}")
    ids = _reserve(conn, q, len(texts))
    conn.execute(q.insert_payloads, (max_attempts, now, now, ids, texts))
    if channel is not None:
        conn.execute(q.notify, (channel,))
    return [job_id_of(rowid, 0) for rowid in ids]
