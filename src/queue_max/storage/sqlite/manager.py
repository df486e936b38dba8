"""ShardManager: the SQLite `Backend` — N shard files, routing, and random-order claim fan-out."""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ...errors import ConfigError, JobNotFound, LeaseLost, ShardCountMismatch, StorageError
from ...models import DeadLetter, ErrorInfo, Job, JobRef, JobStatus, Lease, NewJob, RecoveryReport
from ..base import Completion
from ..._json import dumps
from ._insert import MAX_SHARDS, insert_group, insert_payloads
from ._layout import directory_lock, existing_shards, prepare_dir
from ._rows import dead_letter, full_job
from ._sql import Q
from .shard import Shard, ShardOptions, translate

__all__ = ["MAX_SHARDS", "PROMOTE_EVERY", "ShardManager"]

# How often (seconds) a process moves due scheduled jobs of a shard into the ready index:
# the most a delayed job can start late, beyond the workers' own polling.
PROMOTE_EVERY = 0.005
_PROCESSING = JobStatus.PROCESSING
_loads = __import__("json").loads
_new = tuple.__new__


class ShardManager:
    """N WAL-mode SQLite shards in one directory, used as one queue (implements `Backend`)."""

    def __init__(
        self,
        data_dir: str | Path,
        num_shards: int | None = None,
        *,
        options: ShardOptions | None = None,
        default_shards: int = 6,
    ) -> None:
        self.data_dir = prepare_dir(data_dir)
        self.options = options or ShardOptions()
        shards: list[Shard] = []
        # The lock makes "count the shard files, create the missing ones" atomic across
        # processes, so two first openers never see a half-created directory.
        with directory_lock(self.data_dir):
            existing = existing_shards(self.data_dir)
            n = self._decide_count(num_shards, existing, default_shards)
            try:
                for shard_id in range(n):
                    shards.append(Shard(self.data_dir / f"shard_{shard_id}.db", shard_id, self.options))
                self._check_layout(shards, n)
            except BaseException:
                for shard in shards:
                    shard.close()
                raise
        self.shards = shards
        self._n = n
        self._rr = itertools.count(random.randrange(n))
        self._orders = _orders(n)
        self._local = threading.local()
        self._promote_due = [0.0] * n

    # ── layout ──
    @staticmethod
    def _decide_count(asked: int | None, existing: list[int], default: int) -> int:
        if asked is not None:
            if type(asked) is not int or not 1 <= asked <= MAX_SHARDS:
                raise ConfigError(f"shards must be an int between 1 and {MAX_SHARDS}, got {asked!r}")
        if not existing:
            return asked if asked is not None else default
        found = max(existing) + 1
        if asked is not None and asked != found:
            raise ShardCountMismatch(
                f"the data directory holds {found} shards (shard_0.db .. shard_{found - 1}.db) "
                f"but {asked} were asked for; jobs are routed by shard count, so reopening with "
                f"another count would strand them. Open it with shards={found} (or NUM_SHARDS="
                f"{found}), or drain it and use a new directory"
            )
        return found

    def _check_layout(self, shards: list[Shard], n: int) -> None:
        for shard in shards:
            meta = shard.metadata()
            recorded = meta.get("num_shards")
            if recorded is None:
                with shard.write() as conn:
                    conn.execute(Q.set_meta, ("num_shards", n))
                continue
            if int(recorded) != n:
                raise ShardCountMismatch(
                    f"{shard.name} belongs to a queue of {recorded} shards, not {n}; "
                    f"open the directory with shards={recorded}"
                )
            if int(meta.get("shard_id", shard.shard_id)) != shard.shard_id:
                raise StorageError(
                    f"{shard.name} records shard id {meta.get('shard_id')}; shard files were "
                    "renamed or mixed between directories"
                )

    @property
    def num_shards(self) -> int:
        return self._n

    def shard_of(self, job_id: int) -> int:
        if type(job_id) is not int or job_id < MAX_SHARDS:
            raise JobNotFound(job_id, f"{job_id!r} is not a queue-max job id")
        shard_id = job_id % MAX_SHARDS
        if shard_id >= self._n:
            raise JobNotFound(job_id, f"job id {job_id} names shard {shard_id}, but this queue has {self._n} shards")
        return shard_id

    def _route(self, job: NewJob) -> int:
        if job.dedupe_key is not None:
            return zlib.crc32(job.dedupe_key.encode("utf-8", "surrogatepass")) % self._n
        if job.shard_key is not None:
            return job.shard_key % self._n
        return next(self._rr) % self._n

    # ── enqueue ──
    def enqueue_many(self, jobs: Sequence[NewJob], now: float) -> list[JobRef]:
        if len(jobs) == 1 and jobs[0].dedupe_key is None:
            return [self._enqueue_one(jobs[0], now)]
        groups = self._group(jobs)
        refs: list[JobRef | None] = [None] * len(jobs)
        open_txs: list[tuple[Shard, Any]] = []
        inserted: dict[int, list[tuple[int, int]]] = {}
        try:
            for shard_id in sorted(groups):
                shard = self.shards[shard_id]
                tx = shard.write()
                conn = tx.__enter__()
                open_txs.append((shard, tx))
                inserted[shard_id] = insert_group(conn, shard_id, jobs, groups[shard_id], refs, now)
        except BaseException as exc:
            for _shard, tx in reversed(open_txs):
                _abort(tx, exc)
            raise
        self._commit_all(open_txs, inserted)
        return refs  # type: ignore[return-value]

    def enqueue_payloads(
        self, payloads: Sequence[dict[str, Any]], max_attempts: int, now: float, max_payload_bytes: int
    ) -> list[JobRef]:
        if not payloads:
            return []
        size = -(-len(payloads) // self._n)
        start = next(self._rr)
        blocks = [((start + b) % self._n, offset) for b, offset in enumerate(range(0, len(payloads), size))]
        open_txs: list[tuple[Shard, Any]] = []
        inserted: dict[int, list[tuple[int, int]]] = {}
        refs: list[JobRef] = [None] * len(payloads)  # type: ignore[list-item]
        try:
            for shard_id, offset in sorted(blocks):
                shard = self.shards[shard_id]
                tx = shard.write()
                conn = tx.__enter__()
                open_txs.append((shard, tx))
                chunk = payloads[offset : offset + size]
                first = insert_payloads(conn, dumps(chunk), len(chunk), max_attempts, now,
                                        max_payload_bytes, offset)
                inserted[shard_id] = [(first, first + len(chunk) - 1)]
                make = tuple.__new__
                for index, rowid in enumerate(range(first, first + len(chunk)), offset):
                    refs[index] = make(JobRef, (rowid * MAX_SHARDS + shard_id, shard_id, True))
        except BaseException as exc:
            for _shard, tx in reversed(open_txs):
                _abort(tx, exc)
            raise
        self._commit_all(open_txs, inserted)
        return refs

    def _group(self, jobs: Sequence[NewJob]) -> dict[int, list[int]]:
        """Indices of `jobs` per shard: keyed jobs by their key, the rest in contiguous blocks."""
        groups: dict[int, list[int]] = {}
        free: list[int] = []
        for index, job in enumerate(jobs):
            if job.dedupe_key is None and job.shard_key is None:
                free.append(index)
            else:
                groups.setdefault(self._route(job), []).append(index)
        if free:
            start = next(self._rr)
            size = -(-len(free) // self._n)
            for block, offset in enumerate(range(0, len(free), size)):
                shard_id = (start + block) % self._n
                groups.setdefault(shard_id, []).extend(free[offset : offset + size])
        for indices in groups.values():
            indices.sort()
        return groups

    def _enqueue_one(self, job: NewJob, now: float) -> JobRef:
        shard_id = self._route(job)
        shard = self.shards[shard_id]
        run_at = now if job.run_at is None else job.run_at
        try:
            due = run_at <= now
            rowid = shard.conn().execute(
                Q.insert,
                (job.shard_key, job.payload_json, job.priority, job.max_attempts, now, run_at,
                 "pending" if due else "scheduled", 1 if due else None),
            ).lastrowid
        except sqlite3.Error as exc:
            raise translate(exc, shard.name) from exc
        return _new(JobRef, (rowid * MAX_SHARDS + shard_id, shard_id, True))  # type: ignore[operator]

    def _commit_all(self, open_txs: list[tuple[Shard, Any]], inserted: dict[int, list[tuple[int, int]]]) -> None:
        committed: list[Shard] = []
        for position, (shard, tx) in enumerate(open_txs):
            try:
                tx.__exit__(None, None, None)
            except BaseException as exc:
                for _s, later in open_txs[position + 1 :]:
                    _abort(later, exc)
                for done in committed:
                    self._compensate(done, inserted[done.shard_id])
                raise
            committed.append(shard)

    def _compensate(self, shard: Shard, ranges: list[tuple[int, int]]) -> None:
        """Undo a committed part of a multi-shard batch whose other part failed to commit."""
        with shard.write() as conn:
            conn.executemany(Q.delete_rowid_range, ranges)

    # ── claim ──
    def claim(self, worker_id: str, limit: int, lease_s: float, now: float) -> list[Job]:
        empty = self._empty_hints()
        out: list[Job] = []
        until = now + lease_s
        promote = self._promote_due
        for shard_id in random.choice(self._orders) if self._orders else random.sample(range(self._n), self._n):
            shard = self.shards[shard_id]
            if empty[shard_id] and not shard.read_one(Q.peek_ready, (now,))[0]:
                continue
            want = limit - len(out)
            params = {"worker": worker_id, "now": now, "until": until, "limit": want}
            due = promote[shard_id]
            if now >= due or now < due - 2 * PROMOTE_EVERY:  # also after the clock jumped back
                # due scheduled jobs join the ready index first; throttled to keep claims cheap
                promote[shard_id] = now + PROMOTE_EVERY
                with shard.write() as conn:
                    conn.execute(Q.promote, (now,))
                    rows = conn.execute(Q.claim, params).fetchall()
            else:
                # A lone UPDATE ... RETURNING is its own write transaction, and SQLite takes the
                # write lock before the statement reads: the same guarantee as BEGIN IMMEDIATE,
                # without two extra round trips.
                try:
                    rows = shard.conn().execute(Q.claim, params).fetchall()
                except sqlite3.Error as exc:
                    raise translate(exc, shard.name) from exc
            empty[shard_id] = len(rows) < want
            for r in rows:
                out.append(_new(Job, (
                    r[0] * MAX_SHARDS + shard_id, shard_id, _loads(r[2]), _PROCESSING, r[3], r[4], r[5],
                    r[7], r[8], r[6], worker_id, now, None, until, r[9], r[10], None, r[1], r[11], None, ())))
            if len(out) >= limit:
                break
        if len(out) > 1:
            out.sort(key=_claim_order)
        return out

    def _empty_hints(self) -> list[bool]:
        hints: list[bool] | None = getattr(self._local, "empty", None)
        if hints is None:
            hints = self._local.empty = [False] * self._n
        return hints

    # ── acknowledging ──
    def complete_many(self, completions: Sequence[Completion], now: float, result_ttl: float) -> list[Lease]:
        if len(completions) == 1 and result_ttl > 0:
            # one statement is its own atomic write transaction: no BEGIN/COMMIT round trips
            lease, result = completions[0]
            shard = self.shards[lease.shard_id]
            params = {"id": lease.job_id // MAX_SHARDS, "token": lease.token, "now": now,
                      "expires": now + result_ttl, "result": result}
            try:
                changed = shard.conn().execute(Q.complete, params).rowcount
            except sqlite3.Error as exc:
                raise translate(exc, shard.name) from exc
            return [] if changed else [lease]
        lost: list[Lease] = []
        for shard_id, group in _by_shard(completions, lambda c: c[0].shard_id).items():
            shard = self.shards[shard_id]
            with shard.write() as conn:
                done = 0
                if result_ttl <= 0:
                    conn.execute(Q.raise_floor)
                for lease, result in group:
                    rowid = lease.job_id // MAX_SHARDS
                    if result_ttl > 0:
                        params = {"id": rowid, "token": lease.token, "now": now,
                                  "expires": now + result_ttl, "result": result}
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
                    # rows kept with a result are counted when cleanup deletes them
                    conn.execute(Q.add_meta, (done, "total_jobs_processed"))
        return lost

    def retry(self, lease: Lease, run_at: float, error: ErrorInfo, now: float) -> None:
        shard = self.shards[lease.shard_id]
        params = _error_params(lease, error, now)
        params["run_at"] = run_at
        with shard.write() as conn:
            conn.execute(Q.log_error, params)
            if not conn.execute(Q.retry, params).rowcount:
                raise LeaseLost(lease.job_id)

    def bury(self, lease: Lease, error: ErrorInfo, now: float) -> None:
        shard = self.shards[lease.shard_id]
        params = _error_params(lease, error, now)
        params["shard"] = lease.shard_id
        with shard.write() as conn:
            conn.execute(Q.log_error, params)
            if not conn.execute(Q.bury, params).rowcount:
                raise LeaseLost(lease.job_id)
            conn.execute(Q.to_dead_letter, params)
            conn.execute(Q.add_meta, (1, "total_jobs_failed"))

    def release(self, leases: Sequence[Lease], now: float) -> list[Lease]:
        return self._per_lease(leases, Q.release, {})

    def extend(self, leases: Sequence[Lease], until: float) -> list[Lease]:
        return self._per_lease(leases, Q.extend, {"until": until, "now": until})

    def _per_lease(self, leases: Sequence[Lease], sql: str, extra: dict[str, Any]) -> list[Lease]:
        lost: list[Lease] = []
        for shard_id, group in _by_shard(leases, lambda lease: lease.shard_id).items():
            with self.shards[shard_id].write() as conn:
                for lease in group:
                    params = {"id": lease.job_id // MAX_SHARDS, "token": lease.token, **extra}
                    if not conn.execute(sql, params).rowcount:
                        lost.append(lease)
        return lost

    def heartbeat(self, worker_id: str, until: float, shard_id: int | None = None) -> int:
        targets = self.shards if shard_id is None else [self.shards[self._check_shard(shard_id)]]
        total = 0
        for shard in targets:
            with shard.write() as conn:
                total += conn.execute(Q.heartbeat, {"until": until, "now": until, "worker": worker_id}).rowcount
        return total

    def requeue_expired(self, now: float, error: ErrorInfo) -> RecoveryReport:
        requeued = buried = 0
        for shard in self.shards:
            if not shard.read_one(Q.peek_expired, {"now": now}):
                continue
            params = {"now": now, "error": error.message, "error_type": error.type, "shard": shard.shard_id}
            with shard.write() as conn:
                conn.execute(Q.log_expired, params)
                conn.execute(Q.bury_expired_dlq, params)
                dead = conn.execute(Q.bury_expired, params).rowcount
                if dead:
                    conn.execute(Q.add_meta, (dead, "total_jobs_failed"))
                buried += dead
                requeued += conn.execute(Q.requeue_expired, params).rowcount
        return RecoveryReport(requeued=requeued, buried=buried)

    def cancel(self, job_id: int, now: float) -> bool:
        shard = self.shards[self.shard_of(job_id)]
        with shard.write() as conn:
            return bool(conn.execute(Q.cancel, {"id": job_id // MAX_SHARDS, "now": now}).rowcount)

    # ── reading ──
    def get(self, job_id: int) -> Job | None:
        try:
            shard_id = self.shard_of(job_id)
        except JobNotFound:
            return None
        shard = self.shards[shard_id]
        row = shard.read_one(Q.get, (job_id // MAX_SHARDS,))
        if row is None:
            return None
        errors = shard.read(Q.get_errors, (job_id // MAX_SHARDS,))
        return full_job(shard_id, row, errors)

    def list_jobs(self, status: JobStatus | None, limit: int, shard_id: int | None = None) -> list[Job]:
        jobs: list[Job] = []
        for shard in self._targets(shard_id):
            if status is None:
                rows = shard.read(Q.list_all, (limit,))
            elif JobStatus(status) is JobStatus.PENDING:
                rows = shard.read(Q.list_waiting, (limit,))
            else:
                rows = shard.read(Q.list_status, (JobStatus(status).value, limit))
            jobs.extend(full_job(shard.shard_id, row, ()) for row in rows)
        jobs.sort(key=lambda job: (job.created_ts, job.id))
        return jobs[:limit]

    def counts(self, now: float, shard_id: int | None = None) -> dict[str, int]:
        totals = {status.value: 0 for status in JobStatus}
        totals["scheduled"] = totals["dead_letter"] = 0
        for shard in self._targets(shard_id):
            for status, count in shard.read(Q.count_by_status):
                key = "pending" if status == "scheduled" else status
                totals[key] = totals.get(key, 0) + count
            totals["scheduled"] += shard.read_one(Q.count_scheduled, (now,))[0]
            totals["dead_letter"] += shard.read_one(Q.count_dead)[0]
        return totals

    def count_live(self) -> int:
        return sum(shard.read_one(Q.count_live)[0] for shard in self.shards)

    def has_ready(self, now: float) -> bool:
        return any(shard.read_one(Q.peek_ready, (now,))[0] for shard in self.shards)

    def oldest_ready(self, now: float) -> float | None:
        """The earliest `run_at` among ready jobs (how long the backlog has waited)."""
        values = [shard.read_one(Q.oldest_ready, (now,))[0] for shard in self.shards]
        present = [value for value in values if value is not None]
        return min(present) if present else None

    # ── dead letters ──
    def dlq_list(self, limit: int, shard_id: int | None = None, error_type: str | None = None) -> list[DeadLetter]:
        sql, params = _dlq_filter(None, error_type)
        entries: list[DeadLetter] = []
        for shard in self._targets(shard_id):
            rows = shard.read(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
            entries.extend(dead_letter(row) for row in rows)
        entries.sort(key=lambda entry: (entry.failed_at, entry.id), reverse=True)
        return entries[:limit]

    def dlq_requeue(
        self, now: float, job_ids: Iterable[int] | None = None,
        shard_id: int | None = None, error_type: str | None = None,
    ) -> int:
        wanted = None if job_ids is None else {int(job_id) for job_id in job_ids}
        moved = 0
        for shard in self._targets(shard_id):
            sql, params = _dlq_filter(wanted, error_type)
            with shard.write() as conn:
                for row in conn.execute(sql, params).fetchall():
                    if conn.execute(Q.dlq_requeue_job, {"id": row[9], "now": now}).rowcount:
                        conn.execute(Q.dlq_delete, (row[0],))
                        moved += 1
        return moved

    def dlq_prune(self, older_than: float | None = None, shard_id: int | None = None) -> int:
        before = float("inf") if older_than is None else older_than
        removed = 0
        for shard in self._targets(shard_id):
            with shard.write() as conn:
                conn.execute(Q.raise_floor)
                conn.execute(Q.dlq_prune_jobs, {"before": before})
                removed += conn.execute(Q.dlq_prune, {"before": before}).rowcount
                conn.execute(Q.orphan_errors)
        return removed

    # ── housekeeping ──
    def purge(self, status: JobStatus | None) -> int:
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

    def cleanup(self, now: float, finished_before: float) -> int:
        removed = 0
        for shard in self.shards:
            with shard.write() as conn:
                params = {"before": finished_before, "now": now}
                conn.execute(Q.raise_floor)
                completed = conn.execute(Q.cleanup_completed, params).rowcount
                if completed:
                    conn.execute(Q.add_meta, (completed, "total_jobs_processed"))
                count = completed + conn.execute(Q.cleanup_cancelled, params).rowcount
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

    def checkpoint(self) -> None:
        for shard in self.shards:
            shard.checkpoint()

    def change_token(self) -> tuple[int, ...]:
        return tuple(shard.data_version() for shard in self.shards)

    def close(self) -> None:
        for shard in self.shards:
            shard.close()

    # ── the reference's ShardManager API ──
    def get_dead_letter_queue(self, shard_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Dead letters of one shard as dicts (`original_job_id`, `payload`, `error`, ...)."""
        return [entry.as_dict() for entry in self.dlq_list(limit, shard_id=self._check_shard(shard_id))]

    def get_stats(self, shard_id: int) -> dict[str, Any]:
        """Counts and metadata of one shard."""
        import time

        shard = self.shards[self._check_shard(shard_id)]
        counts = self.counts(time.time(), shard_id)
        meta = shard.metadata()
        stats = {"shard_id": shard_id, "path": str(shard.path), **counts, **{
            key: meta.get(key) for key in ("version", "created_at", "last_vacuum",
                                            "total_jobs_processed", "total_jobs_failed")}}
        # kept completed rows are processed jobs not yet folded into the counter
        stats["total_jobs_processed"] = int(meta.get("total_jobs_processed") or 0) + counts["completed"]
        return stats

    def retry_job(self, shard_id: int, job_id: int) -> bool:
        """Requeue one dead-lettered job (by its global id) with fresh retries."""
        import time

        if self.shard_of(job_id) != self._check_shard(shard_id):
            raise JobNotFound(job_id, f"job {job_id} lives in shard {self.shard_of(job_id)}, not {shard_id}")
        return self.dlq_requeue(time.time(), job_ids=[job_id], shard_id=shard_id) == 1

    def _check_shard(self, shard_id: object) -> int:
        if type(shard_id) is not int or not 0 <= shard_id < self._n:
            raise ConfigError(f"shard_id must be an int from 0 to {self._n - 1}, got {shard_id!r}")
        return shard_id

    def _targets(self, shard_id: int | None) -> list[Shard]:
        return self.shards if shard_id is None else [self.shards[self._check_shard(shard_id)]]


class _NotFired(Exception):
    """Rolls back a schedule firing that lost the race."""


def _claim_order(job: Job) -> tuple[int, float, int]:
    return (-job.priority_int, job.run_ts, job.id)


def _orders(n: int) -> list[tuple[int, ...]]:
    return list(itertools.permutations(range(n))) if n <= 6 else []


def _by_shard(items: Iterable[Any], key: Any) -> dict[int, list[Any]]:
    groups: dict[int, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _error_params(lease: Lease, error: ErrorInfo, now: float) -> dict[str, Any]:
    return {"id": lease.job_id // MAX_SHARDS, "token": lease.token, "now": now,
            "error": error.message, "error_type": error.type, "stack": error.traceback}


def _dlq_filter(job_ids: set[int] | None, error_type: str | None) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    if job_ids is not None:
        ids = sorted(job_ids) or [-1]
        clauses.append(f"original_job_id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    if error_type is not None:
        clauses.append("error_type = ?")
        params.append(error_type)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return Q.dlq_select + where, tuple(params)


def _abort(tx: Any, exc: BaseException) -> None:
    try:
        tx.__exit__(type(exc), exc, exc.__traceback__)
    except BaseException:
        pass


