"""The ShardManager's job search and filtered dead-letter verbs (a mixin for `Inspection`)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...errors import SearchTimeout
from ...models import Job, JobQuery, JobStatus
from ._ids import MAX_SHARDS
from ._rows import jobs_from_rows
from ._sql import FIND_FILTERS, Q
from .shard import translate

if TYPE_CHECKING:
    from .shard import Shard

__all__ = ["Search", "dlq_filter"]

# SQLite calls the progress handler every this many virtual-machine steps
_PROGRESS_STEPS = 1_000


class Search:
    """`find_jobs`, `dlq_count` and the filtered part of `dlq_prune`."""

    shards: list[Shard]

    def _targets(self, shard_id: int | None) -> list[Shard]:  # implemented by Inspection
        raise NotImplementedError

    def find_jobs(self, query: JobQuery, limit: int) -> list[Job]:
        sql, params = _find_sql(query)
        deadline = time.monotonic() + query.time_budget
        found: list[Job] = []
        for shard in self._targets(query.shard_id):
            before = query.before_id
            max_rowid = (1 << 62) if before is None else (before - shard.shard_id - 1) // MAX_SHARDS
            if max_rowid < 1:
                continue
            rows = _bounded_read(shard, sql, {**params, "max_rowid": max_rowid, "limit": limit}, deadline)
            found.extend(jobs_from_rows(shard.shard_id, rows))
        found.sort(key=lambda job: job.id, reverse=True)
        return found[:limit]

    def dlq_count(
        self, shard_id: int | None = None, error_type: str | None = None, *, queue_name: str | None = None
    ) -> int:
        if error_type is None:  # all of them, or one queue's: the dead-letter tallies know
            sql, params = (Q.count_dead, ()) if queue_name is None else (Q.count_dead_in, (queue_name,))
        else:
            sql, params = dlq_filter(Q.dlq_count, None, error_type, queue_name)
        return sum(int(shard.read_one(sql, params)[0]) for shard in self._targets(shard_id))

    def _dlq_prune_matching(
        self, before: float, shard_id: int | None, error_type: str | None, job_ids: Iterable[int] | None,
        queue_name: str | None,
    ) -> int:
        wanted = None if job_ids is None else sorted({int(job_id) for job_id in job_ids})
        chunks = [None] if wanted is None else [set(wanted[i : i + 500]) for i in range(0, len(wanted), 500)]
        removed = 0
        for shard in self._targets(shard_id):
            with shard.write() as conn:
                conn.execute(Q.raise_floor)
                for chunk in chunks:
                    sql, params = dlq_filter(Q.dlq_select, chunk, error_type, queue_name)
                    for row in conn.execute(sql, params).fetchall():
                        if row[6] >= before:  # failed_at
                            continue
                        conn.execute(Q.dlq_delete_job, (row[9],))
                        removed += conn.execute(Q.dlq_delete, (row[0],)).rowcount
                conn.execute(Q.orphan_errors)
        return removed


def _find_sql(query: JobQuery) -> tuple[str, dict[str, Any]]:
    sql = Q.find_jobs
    params: dict[str, Any] = {}
    if query.status is JobStatus.PENDING:
        sql += FIND_FILTERS["waiting"]
    elif query.status is not None:
        sql += FIND_FILTERS["status"]
        params["status"] = query.status.value
    for field in ("task", "error_type", "created_since", "created_until", "payload_contains", "queue_name"):
        value = getattr(query, field)
        if value is not None:
            sql += FIND_FILTERS[field]
            params[field] = value
    return sql + Q.find_order, params


def _bounded_read(shard: Shard, sql: str, params: dict[str, Any], deadline: float) -> list[Any]:
    with shard.using() as conn:
        conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if time.monotonic() > deadline:
                raise SearchTimeout(
                    f"the job search ran past its time budget in {shard.name}; narrow the filter "
                    "(status, task, time range) and try again") from exc
            raise translate(exc, shard.name) from exc
        except sqlite3.Error as exc:
            raise translate(exc, shard.name) from exc
        finally:
            conn.set_progress_handler(None, 0)


def dlq_filter(
    select: str, job_ids: set[int] | None, error_type: str | None, queue_name: str | None = None
) -> tuple[str, tuple[Any, ...]]:
    """`select` over the dead-letter table, narrowed to `job_ids`, `error_type` and the dead
    letters of `queue_name` (on its index) if given."""
    clauses: list[str] = []
    params: list[Any] = []
    if job_ids is not None:
        ids = sorted(job_ids) or [-1]
        clauses.append(f"original_job_id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    if error_type is not None:
        # the short name matches a qualified one: "JobTimeout" finds "queue_max.workers.errors.JobTimeout"
        clauses.append("(error_type = ? OR substr(error_type, -length(?) - 1) = '.' || ?)")
        params.extend((error_type, error_type, error_type))
    if queue_name is not None:
        clauses.append(Q.dlq_of_queue)
        params.append(queue_name)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return select + where, tuple(params)
