"""Writing the completions of one shard's leases in one transaction (grouped acks)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ...models import Lease
from ._ids import rowid_of
from ._sql import ACK_CHUNK, Q, complete_values
from ._tally import tally_completed, tally_moved

__all__ = ["SomeLeaseLost", "complete_all", "complete_each"]


_PADDING = (None,) * (3 * ACK_CHUNK)


class SomeLeaseLost(Exception):
    """`complete_all` changed fewer rows than it had leases; roll back, then `complete_each`."""


def complete_all(conn: sqlite3.Connection, group: Sequence[tuple[Lease, Any]], now: float,
                 result_ttl: float, queues: list[str] | None = None) -> None:
    """Complete every lease of the group in one statement (or one `executemany` per statement).

    The fast path of grouped acks. Kept results: one UPDATE ... FROM (VALUES ...) per group of
    up to ACK_CHUNK leases (see `complete_values`), instead of an `executemany` that ran the
    statement (and the tallies' trigger program, and the statement journal that a trigger
    brings) once per job: claim(32) + grouped ack went from 167.7k to 158.8k instructions a job
    (`benchmarks/instr.py claim_ack --n 1000`) with the JSON form this replaced. It cannot tell
    which lease was lost, so it raises `SomeLeaseLost` when any was. `queues`, when the caller
    knows them, are the jobs' queue names, one per lease: the tallies are then counted from them
    instead of from the rows."""
    if result_ttl > 0:
        changed = 0
        for start in range(0, len(group), ACK_CHUNK):
            chunk = group[start:start + ACK_CHUNK]
            params: list[Any] = [now, now + result_ttl]
            for (job_id, _shard, token, _worker), result in chunk:
                params += (rowid_of(job_id), token, result)
            size = 1 << (len(chunk) - 1).bit_length()  # a power of two, padded with NULLs
            params += _PADDING[:3 * (size - len(chunk))]
            changed += conn.execute(complete_values(size), params).rowcount
        if changed != len(group):
            raise SomeLeaseLost
        if queues is not None and len(queues) == len(group):
            tally_moved(conn, queues, "processing", "completed")
        else:
            tally_completed(conn, [rowid_of(lease.job_id) for lease, _result in group])
        return
    conn.execute(Q.raise_floor)
    keys = [{"id": rowid_of(lease.job_id), "token": lease.token} for lease, _result in group]
    if conn.executemany(Q.complete_delete, keys).rowcount != len(group):
        raise SomeLeaseLost
    conn.executemany(Q.delete_errors_of, [(key["id"],) for key in keys])
    # rows kept with a result are counted when cleanup deletes them
    conn.execute(Q.add_meta, (len(group), "total_jobs_processed"))


def complete_each(conn: sqlite3.Connection, group: Sequence[tuple[Lease, Any]], now: float,
                  result_ttl: float) -> list[Lease]:
    """Complete the leases one statement each; returns those that were lost (nothing changed)."""
    lost: list[Lease] = []
    done = 0
    if result_ttl <= 0:
        conn.execute(Q.raise_floor)
    for lease, result in group:
        rowid = rowid_of(lease.job_id)
        if result_ttl > 0:
            params = {"id": rowid, "token": lease.token, "now": now, "expires": now + result_ttl, "result": result}
            changed = conn.execute(Q.complete, params).rowcount
        else:
            changed = conn.execute(Q.complete_delete, {"id": rowid, "token": lease.token}).rowcount
            if changed:
                conn.execute(Q.delete_errors_of, (rowid,))
        if changed:
            done += 1
        else:
            lost.append(lease)
    if done and result_ttl <= 0:
        conn.execute(Q.add_meta, (done, "total_jobs_processed"))
    return lost
