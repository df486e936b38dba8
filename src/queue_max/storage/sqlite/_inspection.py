"""The ShardManager's reading, dead-letter, housekeeping and schedule verbs (a mixin)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import ConfigError, JobNotFound
from ...models import DeadLetter, Job, JobRef, JobStatus, NewJob
from ._ids import job_id_of, rowid_of, shard_of_id
from ._insert import insert_group
from ._rows import dead_letter, job_from_row, jobs_from_rows
from ._rollup import MetricsReader, drop_old_metrics
from ._search import Search, dlq_filter
from ._sql import TALLY_STATUSES, Q
from ._workers import WorkerFiles

if TYPE_CHECKING:
    from pathlib import Path

    from .shard import Shard

__all__ = ["Inspection"]


class Inspection(Search, MetricsReader, WorkerFiles):
    """Everything but writing and leasing jobs; mixed into `ShardManager`."""

    shards: list[Shard]
    data_dir: Path
    _n: int

    def shard_of(self, job_id: int) -> int:  # implemented by ShardManager
        raise NotImplementedError

    # ── reading ──
    def get(self, job_id: int) -> Job | None:
        try:
            shard_id = self.shard_of(job_id)
        except JobNotFound:
            return None
        shard = self.shards[shard_id]
        row = shard.read_one(Q.get, (rowid_of(job_id),))
        if row is None:
            return None
        errors = shard.read(Q.get_errors, (rowid_of(job_id),))
        return job_from_row(shard_id, row, errors)

    def list_jobs(
        self, status: JobStatus | None, limit: int, shard_id: int | None = None, queue_name: str | None = None
    ) -> list[Job]:
        jobs: list[Job] = []
        named = () if queue_name is None else (queue_name,)
        for shard in self._targets(shard_id):
            if status is None:
                rows = shard.read(Q.list_all_in if named else Q.list_all, (*named, limit))
            elif JobStatus(status) is JobStatus.PENDING:
                rows = shard.read(Q.list_waiting_in if named else Q.list_waiting, (*named, limit))
            else:
                rows = shard.read(Q.list_status_in if named else Q.list_status,
                                  (*named, JobStatus(status).value, limit))
            jobs += jobs_from_rows(shard.shard_id, rows)
        jobs.sort(key=lambda job: (job.created_ts, job.id))
        return jobs[:limit]

    def counts(self, now: float, shard_id: int | None = None, *, queue_name: str | None = None) -> dict[str, int]:
        totals = {status.value: 0 for status in JobStatus}
        totals["scheduled"] = totals["dead_letter"] = 0
        named = () if queue_name is None else (queue_name,)
        for shard in self._targets(shard_id):
            per_queue = _shard_counts(shard, now)
            for name, per in per_queue.items():
                if queue_name is None or name == queue_name:
                    for status, count in per.items():
                        totals[status] += count
            totals["dead_letter"] += shard.read_one(Q.count_dead_in if named else Q.count_dead, named)[0]
        return totals

    def queue_counts(self, now: float) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {}
        for shard in self.shards:
            for name, counts in _shard_counts(shard, now).items():
                per = totals.setdefault(name, dict.fromkeys(_COUNT_KEYS, 0))
                for status, count in counts.items():
                    per[status] += count
        return dict(sorted(totals.items()))

    def count_live(self) -> int:
        return sum(shard.read_one(Q.count_live)[0] for shard in self.shards)

    def has_ready(self, now: float) -> bool:
        return any(shard.read_one(Q.peek_ready, (now,))[0] for shard in self.shards)

    def next_due(self) -> float | None:
        values = [shard.read_one(Q.next_due)[0] for shard in self.shards]
        present = [value for value in values if value is not None]
        return min(present) if present else None

    def oldest_ready(self, now: float, *, queue_name: str | None = None) -> float | None:
        """The earliest `run_at` among ready jobs (how long the backlog has waited)."""
        params = {"now": now, "queue": queue_name}
        values = [shard.read_one(Q.oldest_ready if queue_name is None else Q.oldest_ready_in, params)[0]
                  for shard in self.shards]
        present = [value for value in values if value is not None]
        return min(present) if present else None

    # ── dead letters ──
    def dlq_list(
        self, limit: int, shard_id: int | None = None, error_type: str | None = None, *,
        queue_name: str | None = None,
    ) -> list[DeadLetter]:
        sql, params = dlq_filter(Q.dlq_select, None, error_type, queue_name)
        entries: list[DeadLetter] = []
        for shard in self._targets(shard_id):
            rows = shard.read(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
            entries.extend(dead_letter(row) for row in rows)
        entries.sort(key=lambda entry: (entry.failed_at, entry.id), reverse=True)
        return entries[:limit]

    def dlq_requeue(
        self, now: float, job_ids: Iterable[int] | None = None,
        shard_id: int | None = None, error_type: str | None = None, *, queue_name: str | None = None,
    ) -> int:
        wanted = None if job_ids is None else sorted({int(job_id) for job_id in job_ids})
        # SQLite caps bound variables per statement: filter by id in chunks
        chunks = [None] if wanted is None else [set(wanted[i : i + 500]) for i in range(0, len(wanted), 500)]
        moved = 0
        for shard in self._targets(shard_id):
            with shard.write() as conn:
                for chunk in chunks:
                    sql, params = dlq_filter(Q.dlq_select, chunk, error_type, queue_name)
                    for row in conn.execute(sql, params).fetchall():
                        if conn.execute(Q.dlq_requeue_job, {"id": row[9], "now": now}).rowcount:
                            conn.execute(Q.dlq_delete, (row[0],))
                            moved += 1
        return moved

    def dlq_prune(
        self, older_than: float | None = None, shard_id: int | None = None, *,
        error_type: str | None = None, job_ids: Iterable[int] | None = None, queue_name: str | None = None,
    ) -> int:
        before = float("inf") if older_than is None else older_than
        if error_type is not None or job_ids is not None or queue_name is not None:
            return self._dlq_prune_matching(before, shard_id, error_type, job_ids, queue_name)
        removed = 0
        for shard in self._targets(shard_id):
            with shard.write() as conn:
                conn.execute(Q.raise_floor)
                conn.execute(Q.dlq_prune_jobs, {"before": before})
                removed += conn.execute(Q.dlq_prune, {"before": before}).rowcount
                conn.execute(Q.orphan_errors)
        return removed

    # ── housekeeping ──
    def purge(self, status: JobStatus | None, *, queue_name: str | None = None) -> int:
        if queue_name is not None:
            return self._purge_queue(status, queue_name)
        removed = 0
        for shard in self.shards:
            with shard.write() as conn:
                conn.execute(Q.raise_floor)
                if status is None or JobStatus(status) is JobStatus.COMPLETED:
                    completed = conn.execute(Q.count_completed).fetchone()[0]
                    conn.execute(Q.add_meta, (completed, "total_jobs_processed"))
                if status is None:
                    removed += conn.execute(Q.purge_all).rowcount
                    conn.execute(Q.purge_dlq)
                elif JobStatus(status) is JobStatus.PENDING:
                    removed += conn.execute(Q.purge_waiting).rowcount
                else:
                    removed += conn.execute(Q.purge_status, (JobStatus(status).value,)).rowcount
                    if JobStatus(status) is JobStatus.FAILED:
                        conn.execute(Q.purge_dlq)
                conn.execute(Q.orphan_errors)
        return removed

    def _purge_queue(self, status: JobStatus | None, name: str) -> int:
        wanted = None if status is None else JobStatus(status)
        removed = 0
        for shard in self.shards:
            with shard.write() as conn:
                conn.execute(Q.raise_floor)
                if wanted is None or wanted is JobStatus.COMPLETED:
                    completed = conn.execute(Q.count_completed_in, (name,)).fetchone()[0]
                    conn.execute(Q.add_meta, (completed, "total_jobs_processed"))
                if wanted is None or wanted is JobStatus.FAILED:
                    conn.execute(Q.purge_dlq_in, (name,))
                if wanted is None:
                    removed += conn.execute(Q.purge_all_in, (name,)).rowcount
                elif wanted is JobStatus.PENDING:
                    removed += conn.execute(Q.purge_waiting_in, (name,)).rowcount
                else:
                    removed += conn.execute(Q.purge_status_in, (name, wanted.value)).rowcount
                conn.execute(Q.orphan_errors)
        return removed

    def cleanup(self, now: float, finished_before: float, *, queue_name: str | None = None) -> int:
        mine = queue_name is not None
        removed = 0
        for shard in self.shards:
            with shard.write() as conn:
                params = {"before": finished_before, "now": now, "queue": queue_name}
                conn.execute(Q.raise_floor)
                completed = conn.execute(Q.cleanup_completed_in if mine else Q.cleanup_completed, params).rowcount
                if completed:
                    conn.execute(Q.add_meta, (completed, "total_jobs_processed"))
                self.rollup.write(conn, shard.shard_id, force=True)
                drop_old_metrics(conn, now)
                conn.execute(Q.orphan_traces)
                count = completed + conn.execute(Q.cleanup_cancelled_in if mine else Q.cleanup_cancelled,
                                                 params).rowcount
                if count:
                    conn.execute(Q.orphan_errors)
                removed += count
        return removed

    # ── periodic schedules: kept in shard 0, whose transaction also enqueues the tick's job ──
    def schedule_state(self, name: str, first_due: float) -> tuple[float, float | None]:
        shard = self.shards[0]
        with shard.write() as conn:
            conn.execute(Q.schedule_init, (name, first_due))
            next_run, last_run, _job = conn.execute(Q.schedule_get, (name,)).fetchone()
        return next_run, last_run

    def fire_schedule(self, name: str, due: float, next_due: float, job: NewJob, now: float) -> JobRef | None:
        try:
            return self._fire(name, due, next_due, job, now)
        except _NotFired:
            return None  # another process fired this tick; the rollback undid our insert

    def _fire(self, name: str, due: float, next_due: float, job: NewJob, now: float) -> JobRef:
        shard = self.shards[0]
        with shard.write() as conn:
            refs: list[JobRef | None] = [None]
            insert_group(conn, 0, [job], [0], refs, now)
            ref = refs[0]
            assert ref is not None
            params = {"next": next_due, "due": due, "job": ref.id, "name": name}
            if not conn.execute(Q.schedule_fire, params).rowcount:
                raise _NotFired
        return ref

    def list_schedules(self) -> list[dict[str, Any]]:
        keys = ("name", "next_run_at", "last_run_at", "last_job_id")
        return [dict(zip(keys, row)) for row in self.shards[0].read(Q.schedule_list)]

    def trace_contexts(self, job_ids: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        by_shard: dict[int, list[int]] = {}
        for job_id in job_ids:
            by_shard.setdefault(shard_of_id(job_id), []).append(rowid_of(job_id))
        for shard_id, rowids in by_shard.items():
            if shard_id < len(self.shards):
                for rowid, context in self.shards[shard_id].read(Q.trace_get, (json.dumps(rowids),)):
                    found[job_id_of(rowid, shard_id)] = context
        return found

    def checkpoint(self) -> None:
        for shard in self.shards:
            shard.checkpoint()

    def change_token(self) -> tuple[int, ...]:
        return tuple(shard.data_version() for shard in self.shards)

    # ── the reference's ShardManager API ──
    def get_dead_letter_queue(self, shard_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Dead letters of one shard as dicts (`original_job_id`, `payload`, `error`, ...)."""
        return [entry.as_dict() for entry in self.dlq_list(limit, shard_id=self._check_shard(shard_id))]

    @property
    def location(self) -> str:
        return str(self.data_dir)

    @property
    def local_dir(self) -> Path:
        return self.data_dir

    def get_stats(self, shard_id: int) -> dict[str, Any]:
        """Counts and metadata of one shard."""
        return self.shard_stats(shard_id, time.time())

    def shard_stats(self, shard_id: int, now: float) -> dict[str, Any]:
        shard = self.shards[self._check_shard(shard_id)]
        counts = self.counts(now, shard_id)
        meta = shard.metadata()
        stats = {"shard_id": shard_id, "path": str(shard.path), **counts, **{
            key: meta.get(key) for key in ("version", "created_at", "last_vacuum",
                                            "total_jobs_processed", "total_jobs_failed")}}
        # kept completed rows are processed jobs not yet folded into the counter
        stats["total_jobs_processed"] = int(meta.get("total_jobs_processed") or 0) + counts["completed"]
        return stats

    def retry_job(self, shard_id: int, job_id: int) -> bool:
        """Requeue one dead-lettered job (by its global id) with fresh retries."""
        if self.shard_of(job_id) != self._check_shard(shard_id):
            raise JobNotFound(job_id, f"job {job_id} lives in shard {self.shard_of(job_id)}, not {shard_id}")
        return self.dlq_requeue(time.time(), job_ids=[job_id], shard_id=shard_id) == 1

    def _check_shard(self, shard_id: object) -> int:
        if type(shard_id) is not int or not 0 <= shard_id < self._n:
            raise ConfigError(f"shard_id must be an int from 0 to {self._n - 1}, got {shard_id!r}")
        return shard_id

    def _targets(self, shard_id: int | None) -> list[Shard]:
        return self.shards if shard_id is None else [self.shards[self._check_shard(shard_id)]]


_COUNT_KEYS = (*(status.value for status in JobStatus), "scheduled")


def _shard_counts(shard: Shard, now: float) -> dict[str, dict[str, int]]:
    """Per queue holding jobs: the jobs of the shard per status, "pending" including the
    scheduled ones and "scheduled" only those not due yet. Read from the tallies (one small
    row per queue), whatever the number of jobs."""
    due = dict(shard.read(Q.count_due, (now,)))
    rows = [list(row) for row in shard.read(Q.read_tallies)]
    tail = shard.read(Q.tail_counts)
    if tail:  # lone enqueues not folded in yet: their rows, counted here
        per = {row[0]: row for row in rows}
        for name, status, count in tail:
            row = per.get(name)
            if row is None:
                row = per[name] = [name, 0, 0, 0, 0, 0, 0]
                rows.append(row)
            row[1 + TALLY_STATUSES.index(status)] += count
    out: dict[str, dict[str, int]] = {}
    for name, pending, scheduled, processing, completed, failed, cancelled in rows:
        if pending or scheduled or processing or completed or failed or cancelled:
            late = due.get(name, 0)
            out[name] = {"pending": pending + scheduled, "processing": processing, "completed": completed,
                         "failed": failed, "cancelled": cancelled, "scheduled": scheduled - late}
    return out


class _NotFired(Exception):
    """Rolls back a schedule firing that lost the race."""
