"""The PostgreSQL backend's event metrics and trace contexts (a mixin for `PostgresBackend`).

Fed as on SQLite (see `storage.sqlite._rollup`): a claim remembers each job's task, claim and
due times, so the ack that follows in the same process counts it without a statement; acks of
jobs claimed elsewhere have their UPDATE return those facts. The figures are summed in memory
and written in one statement at most once a second per process (before the next ack, enqueue or
failure, inside its transaction where it has one), when this process reads them, at cleanup
and at `close()`. A process killed with SIGKILL loses at most its last second of figures."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from ...models import ErrorInfo, JobRef, Lease, MetricRow, NewJob
from ..sqlite._ids import job_id_of, rowid_of, shard_of_id
from ..sqlite._rollup import _LABEL_CHARS, METRICS_RETENTION, Key, Rollup, minute_of, task_of_json
from ._sql import Statements

__all__ = ["Metrics", "put_traces"]

log = logging.getLogger("queue_max.storage")



class Metrics:
    """`event_metrics`, `trace_contexts` and the rollup's feeding, over one `Rollup` (shard 0)."""

    q: Statements
    rollup: Rollup

    def conn(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    # ── feeding ──
    def _count_enqueued(self, jobs: Sequence[NewJob], refs: Sequence[JobRef], now: float) -> None:
        self.rollup.enqueued(0, ((job.queue_name, task_of_json(job.payload_json))
                                 for job, ref in zip(jobs, refs) if ref.created), now)

    def _count_failure(self, facts: Iterable[Sequence[Any]], error: ErrorInfo, outcome: str, now: float) -> None:
        facts = list(facts)
        self.rollup.attempts(0, facts, outcome, now)
        self.rollup.failures(0, facts, error, now)

    def _attempt_facts(self, conn: psycopg.Connection[Any], lease: Lease, params: dict[str, Any]) -> list[Any]:
        """The facts (task, started_at, run_at, queue) of a leased job: remembered from its claim,
        else read from its row."""
        facts, missing = self.rollup.take([lease])
        if missing:
            return conn.execute(self.q.attempt_facts, params).fetchall()
        return [fact[1:] for fact in facts]

    def _count_expired(self, conn: psycopg.Connection[Any], ids: list[int], error: ErrorInfo, now: float) -> None:
        """Count the attempts of expired leases (outcome lease_lost) in the recovery's transaction."""
        params = {"ids": ids, "label": (error.type or "Error")[:_LABEL_CHARS], "minute": minute_of(now)}
        conn.execute(self.q.rollup_expired, params)

    def _flush_metrics(self, conn: psycopg.Connection[Any], force: bool = False) -> None:
        """Write the buffered figures on `conn` if a second has passed (or `force`)."""
        pending = self.rollup.drain(0, force)
        if not pending:
            return
        try:
            conn.execute(self.q.metrics_add, _columns(pending))
        except BaseException:
            self.rollup.restore(0, pending)
            raise

    def flush_metrics(self) -> None:
        """Write this process's buffered figures now (readers anywhere see them)."""
        if self.rollup.has_pending(0):
            with self.conn() as conn:
                self._flush_metrics(conn, force=True)

    def _close_metrics(self) -> None:
        try:
            self.flush_metrics()
        except Exception:  # closing must not fail: metrics are best effort, jobs are not affected
            log.warning("could not write the last second of event metrics", exc_info=True)

    # ── reading ──
    def event_metrics(self, since: float | None = None, name: str | None = None) -> list[MetricRow]:
        self.flush_metrics()
        params: dict[str, Any]
        if since is None:
            sql, params = self.q.read_metric_totals, {}
        elif name is None:
            sql, params = self.q.read_metric_minutes, {"since": minute_of(since)}
        else:
            sql, params = self.q.read_metric_minutes_named, {"since": minute_of(since), "name": name}
        with self.conn() as conn:
            rows = conn.execute(sql, params).fetchall()
        return sorted(MetricRow(int(minute), queue, task, metric, label, float(value))
                      for minute, queue, task, metric, label, value in rows)

    def trace_contexts(self, job_ids: Sequence[int]) -> dict[int, str]:
        rowids = sorted({rowid_of(job_id) for job_id in job_ids if shard_of_id(job_id) == 0})  # the one shard
        if not rowids:
            return {}
        with self.conn() as conn:
            rows = conn.execute(self.q.trace_get, (rowids,)).fetchall()
        return {job_id_of(rowid, 0): context for rowid, context in rows}

    def _drop_old_metrics(self, conn: psycopg.Connection[Any], now: float) -> None:
        """Housekeeping: this process's figures, then minutes past retention and orphan traces."""
        self._flush_metrics(conn, force=True)
        conn.execute(self.q.drop_old_metrics, (minute_of(now - METRICS_RETENTION),))
        conn.execute(self.q.orphan_traces)


def put_traces(conn: psycopg.Connection[Any], q: Statements, jobs: Sequence[NewJob], refs: Sequence[JobRef]) -> None:
    """Store the trace context of each traced job just created (in the enqueue's transaction)."""
    traced = [(rowid_of(ref.id), job.trace) for job, ref in zip(jobs, refs) if job.trace is not None and ref.created]
    if traced:
        conn.execute(q.trace_put, ([rowid for rowid, _ in traced], [trace for _, trace in traced]))


def _columns(figures: dict[Key, float]) -> tuple[list[Any], ...]:
    """Each minute's rows plus the all-time rows (minute 0, summed over minutes), sorted, as columns."""
    rows = dict(figures)
    for (_minute, queue, task, name, label), value in figures.items():
        total = (0, queue, task, name, label)
        rows[total] = rows.get(total, 0.0) + value
    ordered = sorted(rows.items())
    return tuple([key[i] for key, _ in ordered] for i in range(5)) + ([value for _, value in ordered],)
