"""The PostgreSQL backend's job search and filtered dead-letter verbs (a mixin for `Inspection`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import psycopg

from ...errors import SearchTimeout
from ...models import Job, JobQuery, JobStatus
from ..sqlite._ids import MAX_SHARDS
from ..sqlite._rows import jobs_from_rows
from ._sql import FIND_FILTERS, Statements

__all__ = ["Search", "dlq_filter"]


class _Stop(Exception):
    """Rolls the search transaction back after its statement timed out."""


class Search:
    """`find_jobs`, `dlq_count` and the filtered part of `dlq_prune`."""

    q: Statements

    def conn(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    def tx(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    def _check_shard(self, shard_id: object) -> None:
        raise NotImplementedError

    def find_jobs(self, query: JobQuery, limit: int) -> list[Job]:
        self._check_shard(query.shard_id)
        before = query.before_id
        max_rowid = (1 << 62) if before is None else (before - 1) // MAX_SHARDS
        if max_rowid < 1:
            return []
        sql, params = _find_sql(self.q, query)
        params.update(max_rowid=max_rowid, limit=limit)
        try:
            with self.tx() as conn:
                conn.execute(self.q.local_statement_timeout, (str(max(1, int(query.time_budget * 1000))),))
                try:
                    rows = conn.execute(sql, params).fetchall()
                except psycopg.errors.QueryCanceled as exc:
                    raise _Stop from exc
        except _Stop:
            raise SearchTimeout("the job search ran past its time budget; narrow the filter "
                                "(status, task, time range) and try again") from None
        return jobs_from_rows(0, rows)

    def dlq_count(
        self, shard_id: int | None = None, error_type: str | None = None, *, queue_name: str | None = None
    ) -> int:
        self._check_shard(shard_id)
        if error_type is None:  # all of them, or one queue's: the tallies know
            sql, params = (self.q.tally_dead, ()) if queue_name is None else (self.q.tally_dead_in, (queue_name,))
            with self.conn() as conn:
                return int(conn.execute(sql, params).fetchone()[0])  # type: ignore[index]
        sql, params = dlq_filter(self.q, self.q.dlq_count, None, error_type, queue_name)
        with self.tx() as conn:
            return int(conn.execute(sql, params).fetchone()[0])  # type: ignore[index]

    def _dlq_prune_matching(
        self, before: float, error_type: str | None, job_ids: Iterable[int] | None, queue_name: str | None
    ) -> int:
        wanted = None if job_ids is None else sorted({int(job_id) for job_id in job_ids})
        sql, params = dlq_filter(self.q, self.q.dlq_select, wanted, error_type, queue_name)
        removed = 0
        with self.tx() as conn:
            for row in conn.execute(sql + " ORDER BY id FOR UPDATE", params).fetchall():
                if row[6] >= before:  # failed_at
                    continue
                conn.execute(self.q.dlq_delete_job, (row[9],))
                removed += conn.execute(self.q.dlq_delete, (row[0],)).rowcount
        return removed


def _find_sql(q: Statements, query: JobQuery) -> tuple[str, dict[str, Any]]:
    sql = q.find_jobs
    params: dict[str, Any] = {}
    if query.status is not None:
        sql += FIND_FILTERS["status"]
        params["status"] = ["pending", "scheduled"] if query.status is JobStatus.PENDING else [query.status.value]
    for field in ("task", "error_type", "created_since", "created_until", "payload_contains", "queue_name"):
        value = getattr(query, field)
        if value is not None:
            sql += FIND_FILTERS[field]
            params[field] = value
    return sql + q.find_order, params


def dlq_filter(
    q: Statements, select: str, job_ids: list[int] | None, error_type: str | None, queue_name: str | None
) -> tuple[str, tuple[Any, ...]]:
    """`select` over the dead letters, narrowed to `job_ids`, `error_type` and the dead letters
    of `queue_name` (on its index) if given."""
    clauses: list[str] = []
    params: list[Any] = []
    if job_ids is not None:
        clauses.append("original_job_id = ANY(%s::bigint[])")
        params.append(job_ids)
    if error_type is not None:
        # the short name matches a qualified one: "JobTimeout" finds "queue_max.workers.errors.JobTimeout"
        clauses.append("(error_type = %s OR right(error_type, length(%s) + 1) = '.' || %s)")
        params.extend((error_type, error_type, error_type))
    if queue_name is not None:
        clauses.append(q.dlq_of_queue)
        params.append(queue_name)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return select + where, tuple(params)
