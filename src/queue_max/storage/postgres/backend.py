"""PostgresBackend: the `Backend` contract on PostgreSQL (psycopg 3 and psycopg_pool)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import psycopg
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from ..._clock import SYSTEM_CLOCK, Clock, FakeClock
from ...errors import ConfigError, JobNotFound, LeaseLost, QueueClosed
from ...models import DeadLetter, ErrorInfo, Job, JobProgress, JobRef, Lease, NewJob, RecoveryReport
from ..base import Completion
from ._conn import (
    PostgresOptions, connect_kwargs, migrate, redact_url, session_settings, translate, translating,
)
from ._flow import FlowControl
from ._import import import_snapshot
from ._inspection import Inspection
from ._listen import Listener, Notifier, Poller
from ._sql import Statements
from ._write import insert_jobs, insert_payloads
from ..sqlite._ids import MAX_SHARDS, job_id_of, rowid_of
from ..sqlite._rollup import Rollup, outcome_of, task_of_json, task_of_payload
from ..sqlite._rows import jobs_from_rows

__all__ = ["PROMOTE_EVERY", "PostgresBackend"]

log = logging.getLogger("queue_max.storage")

PROMOTE_EVERY = 0.005
RECOVERY_BATCH = 1000
_new = tuple.__new__


class PostgresBackend(Inspection, FlowControl):
    """One PostgreSQL schema used as one queue (implements `Backend`); safe across threads,
    processes and hosts."""

    def __init__(self, url: str, *, options: PostgresOptions | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
            shown = redact_url(url) if isinstance(url, str) else repr(url)
            raise ConfigError(f"database_url must be a postgresql:// or postgres:// URL, got {shown!r}")
        self.url = url
        self.options = o = options or PostgresOptions()
        self.schema = o.schema
        self.q = Statements(f'"{o.schema}"')
        self.location = f"{redact_url(url)} (schema {o.schema})"
        kwargs = connect_kwargs(o)
        with translating(url), psycopg.connect(url, autocommit=True, **kwargs) as conn:
            self.version = migrate(conn, o.schema, self.q, "PostgreSQL")
            self.offset = _clock_offset(conn, clock)
        self._settings = session_settings(o)
        self.pool = psycopg_pool.ConnectionPool(
            url, min_size=o.pool_min, max_size=o.pool_max, kwargs={"autocommit": True, **kwargs, **(
                {} if o.listen else {"prepare_threshold": None})},  # pgbouncer (transaction mode) safe
            configure=self._configure, timeout=o.connect_timeout, name=f"queue-max-{o.schema}", open=False)
        with translating(url):
            self.pool.open()
        self.channel = f"queue_max_{o.schema}"
        self.notifier = Notifier(self.channel)
        self.listener: Listener | Poller = (
            Listener(url, self.channel, kwargs) if o.listen else Poller(0.05))
        self._promote_due = 0.0
        self._commits = 0  # this process's own enqueue commits: seen before their NOTIFY arrives
        self._closed = False
        self.rollup = Rollup(1)

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(self.q.configure, self._settings)

    # ── connections ──
    @contextlib.contextmanager
    def conn(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection (autocommit) for the block, with driver errors translated."""
        if self._closed:
            raise QueueClosed(f"PostgreSQL backend {self.location} is closed")
        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc, self.url) from exc

    @contextlib.contextmanager
    def tx(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one transaction (committed when the block ends cleanly)."""
        with self.conn() as conn, conn.transaction():
            yield conn

    @property
    def num_shards(self) -> int:
        return 1

    @property
    def concurrent_writes(self) -> int:
        """One: a process's workers claim and acknowledge in turn. Four at once through the pool
        drained no faster: `benchmarks/_pg_ours.py drain` (one `Worker`, 4 threads, 20k jobs,
        local server, 2026-12-06 05:20 UTC, 4 alternating pairs): 9.3-10.3k jobs/s either way,
        the server's CPU being the bound on this 2-core machine."""
        return 1

    def shard_of(self, job_id: int) -> int:
        if type(job_id) is not int:
            raise JobNotFound(job_id, f"{job_id!r} is not a queue-max job id (an int)")
        if job_id < MAX_SHARDS or job_id % MAX_SHARDS:
            raise JobNotFound(job_id)  # one message for every id no job has, as SQLite says it
        return 0

    def _deadline(self, until: float) -> float:
        """A lease expiry on the server's clock: a host whose clock runs ahead cannot end it early."""
        return until + self.offset

    # ── enqueue ──
    def enqueue_many(self, jobs: Sequence[NewJob], now: float) -> list[JobRef]:
        return self.enqueue_in(None, jobs, now)

    def enqueue_one(self, job: NewJob, now: float) -> JobRef:
        """One job in a transaction of its own: one INSERT (with its NOTIFY when due and not
        debounced); a job with a dedupe key or trace goes through `enqueue_many`."""
        if job.dedupe_key is not None or job.trace is not None:
            return self.enqueue_many((job,), now)[0]
        run_at = now if job.run_at is None else job.run_at
        notify = run_at <= now and self.notifier.due()
        params = (job.shard_key, job.payload_json, job.priority, job.max_attempts, now, run_at,
                  "pending" if run_at <= now else "scheduled", job.queue_name, job.concurrency_key)
        with self.conn() as conn:
            self._flush_metrics(conn)
            if notify:
                row = conn.execute(self.q.insert_one_notify, (*params, self.channel)).fetchone()
            else:
                row = conn.execute(self.q.insert_one, params).fetchone()
        assert row is not None
        self._commits += 1
        self.rollup.enqueued(0, ((job.queue_name, task_of_json(job.payload_json)),), now)
        return _new(JobRef, (job_id_of(row[0], 0), 0, True))

    def enqueue_in(self, connection: psycopg.Connection[Any] | None, jobs: Sequence[NewJob], now: float) -> list[JobRef]:
        """Store jobs in the caller's open transaction on `connection` (or in our own when None)."""
        if not jobs:
            return []
        due = any(job.run_at is None or job.run_at <= now for job in jobs)
        if connection is not None:
            conn = self._caller(connection)
            # never debounced: the caller's commit may come long after our last NOTIFY
            channel = self.channel if due else None
            with translating(self.url):
                if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
                    with conn.transaction():  # an autocommit connection outside any block
                        refs = insert_jobs(conn, self.q, jobs, now, channel)
                else:  # the caller's transaction (psycopg begins one implicitly when not autocommit)
                    refs = insert_jobs(conn, self.q, jobs, now, channel)
            # counted now, in this process's figures: a caller that rolls back leaves them counted
            self._count_enqueued(jobs, refs, now)
            return refs
        if len(jobs) == 1 and jobs[0].dedupe_key is None and jobs[0].trace is None:
            return [self.enqueue_one(jobs[0], now)]
        notify = due and self.notifier.due()
        with self.tx() as conn:
            refs = insert_jobs(conn, self.q, jobs, now, self.channel if notify else None)
            self._flush_metrics(conn)
        self._commits += 1
        self._count_enqueued(jobs, refs, now)
        return refs

    def transaction(self, connection: psycopg.Connection[Any]) -> contextlib.AbstractContextManager[Any]:
        """A transaction block on the caller's connection (a savepoint inside an open one)."""
        return self._caller(connection).transaction()

    def serves(self, dbname: str, host: str | None, port: int | None) -> bool:
        """Whether the queue's tables live in that database (so a caller's transaction can join)."""
        mine = conninfo_to_dict(self.url)
        local = {None, "", "localhost", "127.0.0.1", "::1"}
        same_host = mine.get("host") == host or (mine.get("host") in local and host in local) or (
            str(mine.get("host", "")).startswith("/") and host in local)
        return (mine.get("dbname") == dbname and same_host
                and int(mine.get("port") or 5432) == int(port or 5432))

    @staticmethod
    def _caller(connection: object) -> psycopg.Connection[Any]:
        if not isinstance(connection, psycopg.Connection):
            raise ConfigError(f"connection must be a psycopg (3) Connection to the queue's database, got "
                              f"{type(connection).__module__}.{type(connection).__qualname__}")
        if connection.closed:
            raise ConfigError("connection is closed; pass an open psycopg Connection")
        return connection

    def enqueue_payloads(
        self, payloads: Sequence[dict[str, Any]], max_attempts: int, now: float, max_payload_bytes: int
    ) -> list[int]:
        if not payloads:
            return []
        channel = self.channel if self.notifier.due() else None
        with self.tx() as conn:
            ids = insert_payloads(conn, self.q, payloads, max_attempts, now, max_payload_bytes, channel)
            self._flush_metrics(conn)
        self._commits += 1
        self.rollup.enqueued(0, (("default", task_of_payload(payload)) for payload in payloads), now)
        return ids

    # ── claim ──
    def claim(
        self, worker_id: str, limit: int, lease_s: float, now: float,
        queue: str | None = None, exclude: Collection[str] = (),
    ) -> list[Job]:
        until = now + lease_s
        params = {"queue": queue, "exclude": sorted(exclude), "limit": limit, "worker": worker_id,
                  "now": now, "until": until, "deadline": self._deadline(until)}
        due = self._promote_due
        with self.conn() as conn:
            if now >= due or now < due - 2 * PROMOTE_EVERY:  # also after the clock jumped back
                # scheduled jobs become due in their own statement, outside the claim's snapshot
                self._promote_due = now + PROMOTE_EVERY
                conn.execute(self.q.promote, (now,))
            rows = conn.execute(self.q.claim if queue is not None else self.q.claim_any, params).fetchall()
        out = jobs_from_rows(0, rows)
        if len(out) > 1:  # RETURNING order is not guaranteed
            out.sort(key=_claim_order)
        self.rollup.claimed(out)
        return out

    # ── acknowledging ──
    def complete_many(self, completions: Sequence[Completion], now: float, result_ttl: float) -> list[Lease]:
        if not completions:
            return []
        leases = [lease for lease, _ in completions]
        params: dict[str, Any] = {"ids": [rowid_of(lease.job_id) for lease in leases],
                                  "tokens": [lease.token for lease in leases]}
        facts, missing = self.rollup.take(leases)
        if result_ttl > 0:
            params.update(now=now, expires=now + result_ttl, results=[result for _, result in completions])
            sql = self.q.complete_facts if missing else self.q.complete
        else:
            sql = self.q.complete_delete_facts if missing else self.q.complete_delete
        with self.conn() as conn:
            self._flush_metrics(conn)  # the figures of earlier acks, at most once a second
            rows = conn.execute(sql, params).fetchall()
        done = {row[0] for row in rows}
        if missing:  # claimed by another process: the rows told what the metrics need
            self.rollup.attempts(0, [row[1:] for row in rows], "completed", now)
        else:
            self.rollup.attempts(0, [fact[1:] for fact in facts if rowid_of(fact[0]) in done], "completed", now)
        return [lease for lease in leases if rowid_of(lease.job_id) not in done]

    def retry(self, lease: Lease, run_at: float, error: ErrorInfo, now: float) -> None:
        params = _error_params(lease, error, now)
        params["run_at"] = run_at
        with self.tx() as conn:
            facts = self._attempt_facts(conn, lease, params)
            conn.execute(self.q.log_error, params)
            if conn.execute(self.q.retry, params).fetchone() is None:
                raise LeaseLost(lease.job_id)
            self._count_failure(facts, error, outcome_of(error, retrying=True), now)
            self._flush_metrics(conn)

    def bury(self, lease: Lease, error: ErrorInfo, now: float) -> None:
        params = _error_params(lease, error, now)
        with self.tx() as conn:
            facts = self._attempt_facts(conn, lease, params)
            conn.execute(self.q.log_error, params)
            if conn.execute(self.q.bury, params).fetchone() is None:
                raise LeaseLost(lease.job_id)
            conn.execute(self.q.to_dead_letter, params)
            conn.execute(self.q.add_counter, ("total_jobs_failed", 1))
            self._count_failure(facts, error, outcome_of(error, retrying=False), now)
            self._flush_metrics(conn)

    def release(self, leases: Sequence[Lease], now: float, run_at: float | None = None) -> list[Lease]:
        self.rollup.forget(leases)
        if run_at is not None and run_at > now:
            return self._per_lease(leases, self.q.release_until, {"run_at": run_at})
        return self._per_lease(leases, self.q.release, {})

    def extend(self, leases: Sequence[Lease], until: float) -> list[Lease]:
        return self._per_lease(leases, self.q.extend, {"until": until, "deadline": self._deadline(until)})

    def _per_lease(self, leases: Sequence[Lease], sql: str, extra: dict[str, Any]) -> list[Lease]:
        if not leases:
            return []
        params = {"ids": [rowid_of(lease.job_id) for lease in leases],
                  "tokens": [lease.token for lease in leases], **extra}
        with self.conn() as conn:
            done = {row[0] for row in conn.execute(sql, params).fetchall()}
        return [lease for lease in leases if rowid_of(lease.job_id) not in done]

    def heartbeat(self, worker_id: str, until: float, shard_id: int | None = None) -> int:
        if shard_id is not None:
            self._check_shard(shard_id)
        params = {"until": until, "deadline": self._deadline(until), "worker": worker_id}
        with self.conn() as conn:
            extended: int = conn.execute(self.q.heartbeat, params).rowcount
        self._extend_slots(worker_id, until)  # a running job keeps its concurrency slot
        return extended

    def expire_leases(self, worker_id: str, now: float) -> int:
        params = {"now": now, "deadline": self._deadline(now), "worker": worker_id}
        with self.conn() as conn:
            return conn.execute(self.q.expire_worker, params).rowcount

    def requeue_expired(self, now: float, error: ErrorInfo) -> RecoveryReport:
        params: dict[str, Any] = {"now": now, "now_srv": self._deadline(now), "error": error.message,
                                  "error_type": error.type, "limit": RECOVERY_BATCH}
        with self.conn() as conn:
            if conn.execute(self.q.peek_expired, params).fetchone() is None:
                return RecoveryReport()
        with self.tx() as conn:
            # one recoverer at a time across hosts; the others have nothing to do meanwhile
            if not conn.execute(self.q.recovery_lock, (f"queue_max:recover:{self.schema}",)).fetchone()[0]:  # type: ignore[index]
                return RecoveryReport()
            rows = conn.execute(self.q.lock_expired, params).fetchall()
            params["dead"] = [row[0] for row in rows if row[1]]
            params["alive"] = [row[0] for row in rows if not row[1]]
            params["ids"] = params["dead"] + params["alive"]
            if params["ids"]:
                self._count_expired(conn, params["ids"], error, now)
            conn.execute(self.q.log_expired, params)
            if params["dead"]:
                conn.execute(self.q.bury_expired_dlq, params)
                conn.execute(self.q.bury_expired, params)
                conn.execute(self.q.add_counter, ("total_jobs_failed", len(params["dead"])))
            if params["alive"]:
                conn.execute(self.q.requeue_expired, params)
        return RecoveryReport(requeued=len(params["alive"]), buried=len(params["dead"]))

    def cancel(self, job_id: int, now: float) -> bool:
        self.shard_of(job_id)
        with self.conn() as conn:
            return bool(conn.execute(self.q.cancel, {"id": rowid_of(job_id), "now": now}).rowcount)

    def request_cancel(self, job_id: int, now: float) -> bool:
        self.shard_of(job_id)
        with self.conn() as conn:
            return bool(conn.execute(self.q.request_cancel, {"id": rowid_of(job_id), "now": now}).rowcount)

    def cancel_requested(self, job_id: int) -> bool:
        self.shard_of(job_id)
        with self.conn() as conn:
            return conn.execute(self.q.cancel_requested, (rowid_of(job_id),)).fetchone() is not None

    def cancel_running(self, lease: Lease, now: float) -> None:
        params = {"id": rowid_of(lease.job_id), "token": lease.token, "now": now}
        with self.conn() as conn:
            if not conn.execute(self.q.cancel_running, params).rowcount:
                raise LeaseLost(lease.job_id)

    def set_progress(self, lease: Lease, fraction: float, message: str | None) -> None:
        params = {"id": rowid_of(lease.job_id), "token": lease.token, "fraction": fraction, "message": message}
        with self.conn() as conn:
            if not conn.execute(self.q.set_progress, params).rowcount:
                raise LeaseLost(lease.job_id)

    def progress(self, job_id: int) -> JobProgress | None:
        self.shard_of(job_id)
        with self.conn() as conn:
            row = conn.execute(self.q.get_progress, (rowid_of(job_id),)).fetchone()
        return None if row is None else JobProgress(row[0], row[1])

    def import_snapshot(self, jobs: Sequence[Job], dead: Sequence[DeadLetter], schedules: Sequence[dict[str, Any]],
                        now: float, result_ttl: float) -> dict[int, int]:
        """Write another queue's jobs, dead letters and schedules into this (empty) schema, all or
        nothing; returns each old job id's new id."""
        with self.tx() as conn:
            mapping = import_snapshot(conn, self.q, jobs, dead, schedules, now, result_ttl)
            conn.execute(self.q.notify, (self.channel,))
        return mapping

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` from the LISTEN thread on every notification (nothing without LISTEN)."""
        if isinstance(self.listener, Listener):
            self.listener.callbacks.append(callback)

    def change_token(self) -> object:
        return (self._commits, self.listener.token())

    def checkpoint(self) -> None:
        """Nothing to do: the server manages its own write-ahead log."""

    def close(self) -> None:
        if self._closed:
            return
        self._close_metrics()
        self._closed = True
        self.listener.close()
        self.pool.close()


def _claim_order(job: Job) -> tuple[int, float, int]:
    return (-job.priority_int, job.run_ts, job.id)


def _error_params(lease: Lease, error: ErrorInfo, now: float) -> dict[str, Any]:
    return {"id": rowid_of(lease.job_id), "token": lease.token, "now": now,
            "error": _text(error.message), "error_type": _text(error.type), "stack": _text(error.traceback)}


def _text(value: str | None) -> str | None:
    """Text PostgreSQL can store: NUL bytes and lone surrogates escaped."""
    if value is None or value.isascii() and "\x00" not in value:
        return value
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _clock_offset(conn: psycopg.Connection[Any], clock: Clock) -> float:
    """The server's clock minus this host's (what leases are measured against); warns past 1 s."""
    before = clock.time()
    row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
    after = clock.time()
    assert row is not None
    offset = float(row[0]) - (before + after) / 2
    if abs(offset) > 1.0 and not isinstance(clock, FakeClock):
        log.warning("this host's clock is %.3f s %s the PostgreSQL server's; leases are measured on the "
                    "server's clock, but check NTP", abs(offset), "behind" if offset > 0 else "ahead of")
    return offset

