"""Moving up from SQLite: a data directory's waiting, dead-lettered and finished jobs, their
dead-letter entries and the schedules, written into an empty PostgreSQL schema in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from ..._json import dumps
from ...errors import ConfigError
from ...models import DeadLetter, Job, JobStatus
from ..sqlite._ids import job_id_of, rowid_of
from ._sql import Statements

__all__ = ["import_snapshot"]


def import_snapshot(
    conn: psycopg.Connection[Any], q: Statements, jobs: Sequence[Job], dead: Sequence[DeadLetter],
    schedules: Sequence[dict[str, Any]], now: float, result_ttl: float,
) -> dict[int, int]:
    """Write everything on `conn` (in the caller's transaction); returns old id -> new id."""
    if conn.execute(q.count_any).fetchone() is not None:
        raise ConfigError("the PostgreSQL queue already holds jobs; migrate into an empty schema "
                          "(set QUEUE_MAX_DATABASE_SCHEMA to a new one, or purge it first)")
    ids = [row[0] for row in conn.execute(q.reserve_ids, (len(jobs),)).fetchall()] if jobs else []
    mapping = {job.id: job_id_of(rowid, 0) for job, rowid in zip(jobs, ids)}
    if jobs:
        rows = [_job_row(job, rowid, now, result_ttl) for job, rowid in zip(jobs, ids)]
        with conn.cursor().copy(q.copy_jobs) as copy:
            for row in rows:
                copy.write_row(row)
    for entry in dead:
        new_id = mapping.get(entry.original_job_id)
        if new_id is None:
            continue  # a dead letter whose job was pruned: nothing to requeue it to
        conn.execute(q.import_dead_letter, (new_id, rowid_of(new_id), dumps(entry.payload), entry.error,
                                            entry.error_type, entry.error_stack, entry.failed_at, entry.attempts,
                                            entry.queue_name))
    for schedule in schedules:
        last_job = schedule.get("last_job_id")
        conn.execute(q.import_schedule, (schedule["name"], schedule["next_run_at"], schedule["last_run_at"],
                                         mapping.get(last_job) if last_job is not None else None))
    return mapping


def _job_row(job: Job, rowid: int, now: float, result_ttl: float) -> tuple[Any, ...]:
    status = job.status.value
    if job.status is JobStatus.PENDING and job.run_ts > now:
        status = "scheduled"
    expires = job.completed_ts + result_ttl if job.status is JobStatus.COMPLETED and job.completed_ts else None
    return (rowid, job.pagina_id, dumps(job.payload), status, job.priority_int, job.tentativas,
            job.max_tentativas, job.last_error, job.error_type, job.error_stack, job.created_ts, job.run_ts,
            job.completed_ts, expires, job.dedupe_key, None if job.result is None else dumps(job.result),
            job.queue_name, job.concurrency_key)
