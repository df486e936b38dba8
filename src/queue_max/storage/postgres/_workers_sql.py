"""The SQL of the worker registry (see `_workers`), as templates on `{s}`."""

from __future__ import annotations

__all__ = ["WORKERS_SCHEMA", "WorkersQ"]

WORKERS_SCHEMA = [
    """
    CREATE TABLE {s}.workers (
        worker_id    text    NOT NULL,
        host         text    NOT NULL,
        pid          integer NOT NULL,
        kind         text    NOT NULL,
        queues       text,
        concurrency  integer NOT NULL,
        running      integer NOT NULL,
        started_at   float8  NOT NULL,
        heartbeat_at float8  NOT NULL,
        PRIMARY KEY (worker_id, host, pid)
    )""",
]

_COLUMNS = "worker_id, host, pid, kind, queues, concurrency, running, started_at, heartbeat_at"


class WorkersQ:
    """Named statement templates of the worker registry."""

    # rows come sorted, so two processes beating at once lock rows in one order
    workers_put = (
        "WITH gone AS (DELETE FROM {s}.workers WHERE heartbeat_at < %(horizon)s) "
        "INSERT INTO {s}.workers (" + _COLUMNS + ") SELECT * FROM unnest(%(worker_id)s::text[], "
        "%(host)s::text[], %(pid)s::integer[], %(kind)s::text[], %(queues)s::text[], %(concurrency)s::integer[], "
        "%(running)s::integer[], %(started_at)s::float8[], %(heartbeat_at)s::float8[]) "
        "ON CONFLICT (worker_id, host, pid) DO UPDATE SET kind = excluded.kind, queues = excluded.queues, "
        "concurrency = excluded.concurrency, running = excluded.running, started_at = excluded.started_at, "
        "heartbeat_at = excluded.heartbeat_at"
    )
    workers_drop = (
        "DELETE FROM {s}.workers w USING unnest(%s::text[], %s::text[], %s::integer[]) AS d(worker_id, host, pid) "
        "WHERE w.worker_id = d.worker_id AND w.host = d.host AND w.pid = d.pid"
    )
    workers_list = "SELECT " + _COLUMNS + " FROM {s}.workers WHERE heartbeat_at >= %s ORDER BY worker_id, host, pid"
