"""The PostgreSQL backend's worker registry: one row per live worker, refreshed by its heartbeat.

Workers on every host that share the database show up here (on SQLite the registry is a folder
of files beside the shards, see `storage.sqlite._workers`). A heartbeat is one upsert for every
worker of a process, at the heartbeat cadence, never per job; it also deletes the rows nobody has
refreshed for `FORGET_AFTER` seconds. A row of a process of this host that no longer exists is
not listed."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Sequence
from typing import Any

import psycopg

from ...models import WorkerPresence
from ..sqlite._workers import FORGET_AFTER, presence_from_record, process_alive
from ._sql import Statements

__all__ = ["WorkerRows"]

class WorkerRows:
    """`put_workers`, `drop_workers` and `list_workers`, mixed into `PostgresBackend`."""

    q: Statements

    def conn(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    def put_workers(self, workers: Sequence[WorkerPresence]) -> None:
        if not workers:
            return
        ordered = sorted(workers, key=lambda w: (w.worker_id, w.host, w.pid))
        params: dict[str, Any] = {
            "horizon": max(w.heartbeat_at for w in ordered) - FORGET_AFTER,
            "worker_id": [w.worker_id for w in ordered], "host": [w.host for w in ordered],
            "pid": [w.pid for w in ordered], "kind": [w.kind for w in ordered],
            "queues": [None if w.queues is None else json.dumps(list(w.queues)) for w in ordered],
            "concurrency": [w.concurrency for w in ordered], "running": [w.running for w in ordered],
            "started_at": [w.started_at for w in ordered], "heartbeat_at": [w.heartbeat_at for w in ordered],
        }
        with self.conn() as conn:
            conn.execute(self.q.workers_put, params)

    def drop_workers(self, workers: Sequence[WorkerPresence]) -> None:
        if not workers:
            return
        with self.conn() as conn:
            conn.execute(self.q.workers_drop, ([w.worker_id for w in workers], [w.host for w in workers],
                                               [w.pid for w in workers]))

    def list_workers(self, now: float) -> list[WorkerPresence]:
        with self.conn() as conn:
            rows = conn.execute(self.q.workers_list, (now - FORGET_AFTER,)).fetchall()
        here = socket.gethostname()
        found = [presence_from_record({"worker_id": r[0], "host": r[1], "pid": r[2], "kind": r[3],
                                       "queues": None if r[4] is None else json.loads(r[4]), "concurrency": r[5],
                                       "running": r[6], "started_at": r[7], "heartbeat_at": r[8]}) for r in rows]
        # a process of this host that is gone cannot be alive anywhere: skip it (a killed
        # worker's row stays for other hosts to see stale until it is forgotten)
        return [w for w in found if w.host != here or process_alive(w.pid)]
