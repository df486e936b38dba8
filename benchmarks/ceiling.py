"""A minimal job engine on raw ``sqlite3``: the ceiling the peer benchmark compares our drain with.

Benchmark code only; the package never imports it.  It keeps what a durable queue cannot drop:
jobs in a WAL-mode SQLite file with ``synchronous=NORMAL`` (``FULL`` when durable), a lease per
claim, the payload decoded from JSON and handed to the handler, completions written before they
count, results kept.  It drops everything else: one file, no priorities, schedules, retries,
dead letters, rate limits, events, heartbeats or fencing tokens; a claim takes 32 jobs in one
``UPDATE ... RETURNING`` and a thread acknowledges its batch in one transaction.

`Ceiling.pop_complete` is the one-at-a-time bound for ``pop_job`` + ``complete_job``: one thread,
a claim of one job and its ack, each one autocommit statement (2 statements a job, as ours).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _engines import POLL, Engine, Handler

__all__ = ["BATCH", "Ceiling"]

BATCH = 32
LEASE = 300.0
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, "
    "status INTEGER NOT NULL DEFAULT 0, lease_until REAL, worker TEXT, result TEXT)",
    "CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(id) WHERE status = 0",
)
_CLAIM = ("UPDATE jobs SET status = 1, lease_until = ?, worker = ? WHERE id IN "
          "(SELECT id FROM jobs WHERE status = 0 ORDER BY id LIMIT ?) RETURNING id, payload")
_ACK = "UPDATE jobs SET status = 2, result = ?, lease_until = NULL WHERE id = ? AND worker = ?"


class Ceiling(Engine):
    """The minimal engine behind the peer benchmark's `Engine` interface (no tasks)."""

    has_tasks = False

    def __init__(self, data_dir: Path, durable: bool = False, shards: int = 1) -> None:
        super().__init__(data_dir, durable, 1)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "ceiling.db"
        self.conn = self._connect()
        for statement in _SCHEMA:
            self.conn.execute(statement)
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
        return conn

    def enqueue(self, payload: dict[str, Any]) -> None:
        self.conn.execute("INSERT INTO jobs(payload) VALUES (?)", (json.dumps(payload),))

    def enqueue_many(self, payloads: list[dict[str, Any]]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany("INSERT INTO jobs(payload) VALUES (?)", [(json.dumps(p),) for p in payloads])
        self.conn.execute("COMMIT")

    def start(self, threads: int, handler: Handler | None) -> None:
        assert handler is not None
        self.threads = [threading.Thread(target=self._work, args=(f"w{k}", handler), daemon=True)
                        for k in range(threads)]
        for thread in self.threads:
            thread.start()

    def _work(self, name: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        conn = self._connect()
        loads = json.loads
        while not self.stopping.is_set():
            rows = conn.execute(_CLAIM, (time.time() + LEASE, name, BATCH)).fetchall()
            if not rows:
                self.stopping.wait(POLL)
                continue
            acks = []
            for job_id, payload in rows:
                result = handler(loads(payload))
                acks.append((None if result is None else json.dumps(result), job_id, name))
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_ACK, acks)
            conn.execute("COMMIT")
        conn.close()

    def pop_complete(self, n: int) -> tuple[int, float]:
        """Claim one job, decode it, acknowledge it, n times or until empty, on this thread;
        returns (jobs done, seconds)."""
        conn, loads, done = self.conn, json.loads, 0
        t0 = time.perf_counter()
        while done < n:
            rows = conn.execute(_CLAIM, (time.time() + LEASE, "w0", 1)).fetchall()
            if not rows:
                break
            loads(rows[0][1])
            conn.execute(_ACK, (None, rows[0][0], "w0"))
            done += 1
        return done, time.perf_counter() - t0

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(10)

    def pending(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM jobs WHERE status != 2").fetchone()[0])

    def close(self) -> None:
        self.conn.close()
