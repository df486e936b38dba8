"""The PostgreSQL backend's reading, dead-letter, housekeeping and schedule verbs (a mixin)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

import psycopg

from ...errors import ConfigError, JobNotFound
from ...models import DeadLetter, Job, JobRef, JobStatus, NewJob
from ..sqlite._ids import rowid_of
from ..sqlite._rows import dead_letter, job_from_row, jobs_from_rows
from ._metrics import Metrics
from ._search import Search, dlq_filter
from ._sql import Statements
from ._workers import WorkerRows
from ._write import insert_jobs

__all__ = ["CLEANUP_BATCH", "Inspection"]

# Finished jobs are deleted this many per transaction, so cleanup never holds many locks at once.
CLEANUP_BATCH = 1000
_WAITING = ["pending", "scheduled"]
_COUNT_KEYS = (*(status.value for status in JobStatus), "scheduled", "dead_letter")


class Inspection(Search, Metrics, WorkerRows):
    """Everything but writing and leasing jobs; mixed into `PostgresBackend`."""

    q: Statements
    location: str
    version: int

    @property
    def local_dir(self) -> None:
        return None  # the processes of a PostgreSQL queue may run on many hosts

    def conn(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    def tx(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    def shard_of(self, job_id: int) -> int:
        raise NotImplementedError

    def _rows(self, sql: str, params: Any = ()) -> list[Any]:
        with self.conn() as conn:
            return conn.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Any = ()) -> Any:
        with self.conn() as conn:
            return conn.execute(sql, params).fetchone()

    # ── reading ──
    def get(self, job_id: int) -> Job | None:
        try:
            self.shard_of(job_id)
        except JobNotFound:
            return None
        with self.conn() as conn:
            row = conn.execute(self.q.get, (rowid_of(job_id),)).fetchone()
            if row is None:
                return None
            errors = conn.execute(self.q.get_errors, (rowid_of(job_id),)).fetchall()
        return job_from_row(0, row, errors)

    def list_jobs(
        self, status: JobStatus | None, limit: int, shard_id: int | None = None, queue_name: str | None = None
    ) -> list[Job]:
        self._check_shard(shard_id)
        named = () if queue_name is None else (queue_name,)
        if status is None:
            rows = self._rows(self.q.list_all_in if named else self.q.list_all, (*named, limit))
        else:
            wanted = JobStatus(status)
            statuses = _WAITING if wanted is JobStatus.PENDING else [wanted.value]
            rows = self._rows(self.q.list_status_in if named else self.q.list_status, (*named, statuses, limit))
        jobs = jobs_from_rows(0, rows)
        jobs.sort(key=lambda job: (job.created_ts, job.id))
        return jobs

    def queue_counts(self, now: float) -> dict[str, dict[str, int]]:
        return _per_queue(self._rows(self.q.read_tallies, {"now": now}))

    def counts(self, now: float, shard_id: int | None = None, *, queue_name: str | None = None) -> dict[str, int]:
        self._check_shard(shard_id)
        totals = dict.fromkeys(_COUNT_KEYS, 0)
        if queue_name is None:
            rows = self._rows(self.q.read_tallies, {"now": now})
        else:
            rows = self._rows(self.q.read_tallies_in, {"now": now, "queue": queue_name})
        totals["dead_letter"] = sum(int(n) for _, status, n in rows if status == "dead_letter")
        for per in _per_queue(rows).values():
            for key, count in per.items():
                totals[key] += count
        return totals

    def shard_stats(self, shard_id: int, now: float) -> dict[str, Any]:
        """`counts` plus what the schema records (version, creation time, lifetime totals)."""
        counts = self.counts(now, shard_id)
        meta = dict(self._rows(self.q.all_meta))
        totals = dict(self._rows(self.q.sum_counters))
        return {"shard_id": shard_id, "path": self.location, **counts,
                "version": self.version, "created_at": _float(meta.get("created_at")), "last_vacuum": None,
                # kept completed rows are processed jobs not yet folded into the counter
                "total_jobs_processed": int(totals.get("total_jobs_processed") or 0) + counts["completed"],
                "total_jobs_failed": int(totals.get("total_jobs_failed") or 0)}

    def get_stats(self, shard_id: int) -> dict[str, Any]:
        """The reference's per-shard stats (the one shard of a PostgreSQL queue is 0)."""
        return self.shard_stats(shard_id, time.time())

    def count_live(self) -> int:
        return int(self._one(self.q.tally_live)[0])

    def has_ready(self, now: float) -> bool:
        return bool(self._one(self.q.has_ready, (now,))[0])

    def next_due(self) -> float | None:
        value = self._one(self.q.next_due, ())[0]
        return None if value is None else float(value)

    def oldest_ready(self, now: float, *, queue_name: str | None = None) -> float | None:
        """The earliest `run_at` among ready jobs (how long the backlog has waited)."""
        sql, params = ((self.q.oldest_ready, (now,)) if queue_name is None
                       else (self.q.oldest_ready_in, (queue_name, now)))
        value = self._one(sql, params)[0]
        return None if value is None else float(value)

    # ── dead letters ──
    def dlq_list(
        self, limit: int, shard_id: int | None = None, error_type: str | None = None, *,
        queue_name: str | None = None,
    ) -> list[DeadLetter]:
        self._check_shard(shard_id)
        sql, params = dlq_filter(self.q, self.q.dlq_select, None, error_type, queue_name)
        rows = self._rows(sql + " ORDER BY failed_at DESC, id DESC LIMIT %s", (*params, limit))
        return [dead_letter(row) for row in rows]

    def dlq_requeue(
        self, now: float, job_ids: Iterable[int] | None = None,
        shard_id: int | None = None, error_type: str | None = None, *, queue_name: str | None = None,
    ) -> int:
        self._check_shard(shard_id)
        wanted = None if job_ids is None else sorted({int(job_id) for job_id in job_ids})
        sql, params = dlq_filter(self.q, self.q.dlq_select, wanted, error_type, queue_name)
        moved = 0
        with self.tx() as conn:
            for row in conn.execute(sql + " ORDER BY id FOR UPDATE", params).fetchall():
                if conn.execute(self.q.dlq_requeue_job, {"id": row[9], "now": now}).rowcount:
                    conn.execute(self.q.dlq_delete, (row[0],))
                    moved += 1
        return moved

    def dlq_prune(
        self, older_than: float | None = None, shard_id: int | None = None, *,
        error_type: str | None = None, job_ids: Iterable[int] | None = None, queue_name: str | None = None,
    ) -> int:
        self._check_shard(shard_id)
        before = float("inf") if older_than is None else older_than
        if error_type is not None or job_ids is not None or queue_name is not None:
            return self._dlq_prune_matching(before, error_type, job_ids, queue_name)
        with self.tx() as conn:
            conn.execute(self.q.dlq_prune_jobs, {"before": before})
            removed = conn.execute(self.q.dlq_prune, {"before": before}).rowcount
            conn.execute(self.q.orphan_errors)
        return removed

    # ── housekeeping ──
    def purge(self, status: JobStatus | None, *, queue_name: str | None = None) -> int:
        if queue_name is not None:
            return self._purge_queue(status, queue_name)
        with self.tx() as conn:
            if status is None or JobStatus(status) is JobStatus.COMPLETED:
                completed = conn.execute(self.q.count_completed).fetchone()[0]  # type: ignore[index]
                if completed:
                    conn.execute(self.q.add_counter, ("total_jobs_processed", completed))
            if status is None:
                removed = conn.execute(self.q.purge_all).rowcount
                conn.execute(self.q.purge_dlq)
            else:
                wanted = JobStatus(status)
                statuses = _WAITING if wanted is JobStatus.PENDING else [wanted.value]
                removed = conn.execute(self.q.purge_status, (statuses,)).rowcount
                if wanted is JobStatus.FAILED:
                    conn.execute(self.q.purge_dlq)
            conn.execute(self.q.orphan_errors)
        return removed

    def _purge_queue(self, status: JobStatus | None, name: str) -> int:
        wanted = None if status is None else JobStatus(status)
        with self.tx() as conn:
            if wanted is None or wanted is JobStatus.COMPLETED:
                completed = conn.execute(self.q.count_completed_in, (name,)).fetchone()[0]  # type: ignore[index]
                if completed:
                    conn.execute(self.q.add_counter, ("total_jobs_processed", completed))
            if wanted is None or wanted is JobStatus.FAILED:
                conn.execute(self.q.purge_dlq_in, (name,))
            if wanted is None:
                removed = conn.execute(self.q.purge_all_in, (name,)).rowcount
            else:
                statuses = _WAITING if wanted is JobStatus.PENDING else [wanted.value]
                removed = conn.execute(self.q.purge_status_in, (name, statuses)).rowcount
            conn.execute(self.q.orphan_errors)
        return removed

    def cleanup(self, now: float, finished_before: float, *, queue_name: str | None = None) -> int:
        params = {"before": finished_before, "now": now, "batch": CLEANUP_BATCH, "queue": queue_name}
        removed = 0
        with self.tx() as conn:
            self._drop_old_metrics(conn, now)
        self.fold_tallies()
        while True:
            with self.tx() as conn:
                count, completed, ids = conn.execute(
                    self.q.cleanup_batch if queue_name is None else self.q.cleanup_batch_in, params).fetchone()  # type: ignore[misc]
                if count:
                    conn.execute(self.q.delete_errors_of, (ids,))
                if completed:
                    conn.execute(self.q.add_counter, ("total_jobs_processed", completed))
            removed += int(count)
            if count < CLEANUP_BATCH:
                return removed

    def fold_tallies(self) -> None:
        """Move every backend's tally rows into one per queue and status (what the reading sums);
        maintenance runs it with `cleanup`. Skipped while another process folds."""
        with self.tx() as conn:
            if conn.execute(self.q.fold_lock, (f"queue_max:fold:{self.q.schema_ident}",)).fetchone()[0]:  # type: ignore[index]
                conn.execute(self.q.fold)
                conn.execute(self.q.drop_zero)

    # ── periodic schedules: firing a tick and enqueueing its job share one transaction ──
    def schedule_state(self, name: str, first_due: float) -> tuple[float, float | None]:
        with self.conn() as conn:
            conn.execute(self.q.schedule_init, (name, first_due))
            next_run, last_run, _job = conn.execute(self.q.schedule_get, (name,)).fetchone()  # type: ignore[misc]
        return next_run, last_run

    def fire_schedule(self, name: str, due: float, next_due: float, job: NewJob, now: float) -> JobRef | None:
        try:
            with self.tx() as conn:
                (ref,) = insert_jobs(conn, self.q, [job], now, None)
                params = {"next": next_due, "due": due, "job": ref.id, "name": name}
                if not conn.execute(self.q.schedule_fire, params).rowcount:
                    raise _NotFired
        except _NotFired:
            return None  # another process fired this tick; the rollback undid our insert
        return ref

    def list_schedules(self) -> list[dict[str, Any]]:
        keys = ("name", "next_run_at", "last_run_at", "last_job_id")
        return [dict(zip(keys, row)) for row in self._rows(self.q.schedule_list)]

    # ── the reference's ShardManager API ──
    def get_dead_letter_queue(self, shard_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Dead letters as dicts (`original_job_id`, `payload`, `error`, ...)."""
        return [entry.as_dict() for entry in self.dlq_list(limit, shard_id=shard_id)]

    def retry_job(self, shard_id: int, job_id: int) -> bool:
        """Requeue one dead-lettered job (by its global id) with fresh retries."""
        self._check_shard(shard_id)
        return self.dlq_requeue(time.time(), job_ids=[job_id]) == 1

    def _check_shard(self, shard_id: object) -> None:
        if shard_id is not None and (type(shard_id) is not int or shard_id != 0):
            raise ConfigError(f"shard_id must be 0 (a PostgreSQL queue has one shard), got {shard_id!r}")


class _NotFired(Exception):
    """Rolls back a schedule firing that lost the race."""


def _per_queue(rows: Iterable[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    """Rows of `read_tallies` as jobs per status for each queue holding jobs, sorted by name:
    "pending" including the scheduled jobs, "scheduled" only those not due yet."""
    raw: dict[str, dict[str, int]] = {}
    for name, status, count in rows:
        if status == "dead_letter":
            continue  # the queue's dead letters, read by `counts`
        per = raw.setdefault(name, {})
        per[status] = per.get(status, 0) + int(count)
    out: dict[str, dict[str, int]] = {}
    for name in sorted(raw):
        per = raw[name]
        scheduled = per.get("scheduled", 0)
        counts = {s.value: per.get(s.value, 0) for s in JobStatus}
        if scheduled or any(counts.values()):  # else every job of the queue is gone
            counts["pending"] += scheduled
            counts["scheduled"] = scheduled - per.get("due", 0)
            out[name] = counts
    return out


def _float(value: str | None) -> float | None:
    return None if value is None else float(value)

