"""Decoding of SQLite rows into job value objects: one decoder per row shape."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..._json import loads as _loads
from ...models import DeadLetter, ErrorInfo, Job, JobStatus
from ._ids import job_id_of

__all__ = ["CLAIMED_COLUMNS", "JOB_COLUMNS", "NAMED_JOB_COLUMNS", "claimed_jobs", "dead_letter", "job_from_row",
           "jobs_from_rows"]

# The columns every job row is selected (or returned) with, in the order `job_from_row` reads.
JOB_COLUMNS = (
    "id, pagina_id, payload, status, priority, tentativas, max_tentativas, lease_token, "
    "worker_id, created_at, run_at, started_at, completed_at, lease_expires_at, "
    "last_error, error_type, error_stack, dedupe_key, result"
)
# The same plus the named-queue columns (schema 2); a row without them is a default-queue job.
NAMED_JOB_COLUMNS = JOB_COLUMNS + ", queue_name, concurrency_key"

# What a batch claim returns of each row it leased: NAMED_JOB_COLUMNS less the four the claim
# itself sets to what its caller bound (status, worker_id, started_at, lease_expires_at), which
# `claimed_jobs` fills in. Fewer columns through RETURNING and the sqlite3 module (a type read
# and a lock pair each, even for NULL): measured on a raw-SQL claim(32) + ack loop under
# callgrind, 80.8k -> 76.0k instructions a job (21 -> 17 columns).
CLAIMED_COLUMNS = (
    "id, pagina_id, payload, priority, tentativas, max_tentativas, lease_token, created_at, run_at, "
    "completed_at, last_error, error_type, error_stack, dedupe_key, result, queue_name, concurrency_key"
)

# "scheduled" is how storage keeps a pending job that is not due yet
_STATUS = {**{s.value: s for s in JobStatus}, "scheduled": JobStatus.PENDING}
_tuple_new = tuple.__new__


def job_from_row(shard_id: int, row: Sequence[Any], errors: Sequence[Any] = ()) -> Job:
    """A Job from a row of `JOB_COLUMNS` or `NAMED_JOB_COLUMNS`, with the error history rows of
    `Q.get_errors`."""
    (rowid, shard_key, payload, status, priority, attempts, max_attempts, token, worker_id,
     created_at, run_at, started_at, completed_at, lease_expires_at, last_error, error_type,
     error_stack, dedupe_key, result) = row[:19]
    queue_name, concurrency_key = (row[19], row[20]) if len(row) > 19 else ("default", None)
    history = tuple(ErrorInfo(e[0] or "", e[1] or "", e[2], e[3], e[4], e[5]) for e in errors) if errors else ()
    # The fast path of the one decoder: tuple.__new__ skips the Python-level __new__ that
    # NamedTuple generates (0.16 µs instead of 0.37 µs for Job's 23 fields, timeit on the dev
    # machine); a claim decodes every job a worker runs, so this is the one place it pays.
    return _tuple_new(Job, (
        job_id_of(rowid, shard_id), shard_id, _loads(payload), _STATUS[status], priority, attempts,
        max_attempts, created_at, run_at, token, worker_id, started_at, completed_at,
        lease_expires_at, last_error, error_type, error_stack, shard_key, dedupe_key,
        None if result is None else _loads(result), history, queue_name, concurrency_key,
    ))


def jobs_from_rows(shard_id: int, rows: Iterable[Sequence[Any]]) -> list[Job]:
    """Jobs from rows of `JOB_COLUMNS` (no error history): a listing."""
    return [job_from_row(shard_id, row) for row in rows]


def claimed_jobs(shard_id: int, rows: Iterable[Sequence[Any]], worker_id: str, started: float,
                 until: float) -> list[Job]:
    """Jobs from rows of CLAIMED_COLUMNS, just leased to `worker_id` at `started` until `until`
    (the values the claim statement wrote into the columns it does not return)."""
    processing = JobStatus.PROCESSING
    return [_tuple_new(Job, (
        job_id_of(rowid, shard_id), shard_id, _loads(payload), processing, priority, attempts, max_attempts,
        created_at, run_at, token, worker_id, started, completed_at, until, last_error, error_type,
        error_stack, shard_key, dedupe_key, None if result is None else _loads(result), (), queue_name,
        concurrency_key,
    )) for (rowid, shard_key, payload, priority, attempts, max_attempts, token, created_at, run_at, completed_at,
            last_error, error_type, error_stack, dedupe_key, result, queue_name, concurrency_key) in rows]


def dead_letter(row: Any) -> DeadLetter:
    """A DeadLetter from a row of `Q.dlq_select`."""
    entry_id, original, shard_id, payload, error, error_type, failed_at, attempts, stack, _rowid, queue = row
    return DeadLetter(entry_id, original, shard_id, _loads(payload), error, error_type,
                      failed_at, attempts, stack, queue)
