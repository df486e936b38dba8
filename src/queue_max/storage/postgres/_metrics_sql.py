"""The SQL of the event-metrics rollup and the stored trace contexts, as templates on `{s}`.

The same tables as the SQLite backend's schema v2 (see `storage.sqlite._sql`): per-minute rows
beside all-time rows (minute 0), and one trace context per traced job."""

from __future__ import annotations

__all__ = ["METRICS_SCHEMA", "MetricsQ"]

METRICS_SCHEMA = [
    """
    CREATE TABLE {s}.metrics (
        minute bigint NOT NULL,
        queue  text   NOT NULL,
        task   text   NOT NULL,
        name   text   NOT NULL,
        label  text   NOT NULL,
        value  float8 NOT NULL,
        PRIMARY KEY (minute, queue, task, name, label)
    )""",
    # W3C trace context of a job enqueued under an OpenTelemetry span (kept across retries)
    "CREATE TABLE {s}.job_traces (job_rowid bigint PRIMARY KEY, context text NOT NULL)",
]

_UPSERT = (
    "ON CONFLICT (minute, queue, task, name, label) DO UPDATE SET value = {s}.metrics.value + excluded.value"
)
_COLUMNS = "SELECT minute, queue, task, name, label, value FROM {s}.metrics"


class MetricsQ:
    """Named statement templates of the rollup and the trace contexts."""

    # one statement per flush; rows come sorted, so concurrent flushers lock rows in one order
    metrics_add = (
        "INSERT INTO {s}.metrics (minute, queue, task, name, label, value) SELECT * FROM "
        "unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::float8[]) " + _UPSERT
    )
    # attempts whose lease expired (outcome lease_lost), counted in the recovery's transaction
    rollup_expired = (
        "WITH done AS (SELECT queue_name AS queue, coalesce(payload::json ->> '__task__', '') AS task "
        "FROM {s}.jobs WHERE id = ANY(%(ids)s::bigint[])), figures(queue, task, name, label, value) AS ("
        "SELECT queue, task, 'attempt', 'lease_lost', count(*)::float8 FROM done GROUP BY 1, 2 "
        "UNION ALL SELECT queue, task, 'failure', %(label)s, count(*)::float8 FROM done GROUP BY 1, 2) "
        "INSERT INTO {s}.metrics (minute, queue, task, name, label, value) "
        "SELECT m, queue, task, name, label, value FROM figures, (VALUES (%(minute)s::bigint), "
        "(0::bigint)) AS ms(m) ORDER BY 1, 2, 3, 4, 5 " + _UPSERT
    )
    # per-minute rows older than the horizon go; the all-time rows (minute 0) already hold them
    drop_old_metrics = "DELETE FROM {s}.metrics WHERE minute > 0 AND minute < %s"
    read_metric_totals = _COLUMNS + " WHERE minute = 0"
    read_metric_minutes = _COLUMNS + " WHERE minute >= %(since)s AND minute > 0"
    read_metric_minutes_named = _COLUMNS + " WHERE minute >= %(since)s AND minute > 0 AND name = %(name)s"

    trace_put = (
        "INSERT INTO {s}.job_traces (job_rowid, context) SELECT * FROM unnest(%s::bigint[], %s::text[]) "
        "ON CONFLICT (job_rowid) DO UPDATE SET context = excluded.context"
    )
    trace_get = "SELECT job_rowid, context FROM {s}.job_traces WHERE job_rowid = ANY(%s::bigint[])"
    orphan_traces = (
        "DELETE FROM {s}.job_traces t WHERE NOT EXISTS (SELECT 1 FROM {s}.jobs j WHERE j.id = t.job_rowid)"
    )
