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

__all__ = ["Search"]


class _Stop(Exception):
    """Rolls the search transaction back after its statement timed out."""


class Search:
    """`find_jobs`, `dlq_count` and the filtered part of `dlq_prune`."""

    q: Statements

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

    def dlq_count(self, shard_id: int | None = None, error_type: str | None = None) -> int:
        self._check_shard(shard_id)
        sql, params = self.q.dlq_count, []
        if error_type is not None:
            # the short name matches a qualified one, as in `dlq_list`
            sql = sql + " WHERE (error_type = %s OR right(error_type, length(%s) + 1) = '.' || %s)"
            params = [error_type] * 3
        with self.tx() as conn:
            return int(conn.execute(sql, params).fetchone()[0])  # type: ignore[index]

    def _dlq_prune_matching(self, before: float, error_type: str | None, job_ids: Iterable[int] | None) -> int:
        clauses: list[str] = ["failed_at < %s"]
        params: list[Any] = [before]
        if job_ids is not None:
            clauses.append("original_job_id = ANY(%s::bigint[])")
            params.append(sorted({int(job_id) for job_id in job_ids}))
        if error_type is not None:
            clauses.append("(error_type = %s OR right(error_type, length(%s) + 1) = '.' || %s)")
            params.extend((error_type, error_type, error_type))
        sql = self.q.dlq_select + " WHERE " + " AND ".join(clauses) + " ORDER BY id FOR UPDATE"
        removed = 0
        with self.tx() as conn:
            for row in conn.execute(sql, params).fetchall():
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
