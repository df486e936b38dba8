"""The Queue facade: enqueue, claim, acknowledge and manage jobs over a storage backend."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from . import tracing
from ._caller_tx import caller_connection, caller_transaction, inside_block, transactional
from ._claims import Claiming, Claims
from ._clock import SYSTEM_CLOCK, Clock
from ._delegate import delegate
from ._events import Emitter
from ._files import read_job_file
from ._flow_views import SharedCircuitBreaker, SharedRateLimiter
from ._maintenance import Maintenance
from ._options import QueueOptions, build_from_spec, build_job, resolve_options
from ._payload import DEFAULT_QUEUE, bare_payloads, encode_payload
from ._queue_acks import Acks
from ._queue_admin import Admin
from ._queue_inspect import Inspection
from ._waiting import Waiting
from .config import Settings, load_settings
from .errors import ConfigError, InvalidJobFile, InvalidPayload
from ._flow_limits import QueueLimits, check_limits
from .flow import FlowGate
from .models import JobRef, NewJob
from .retry import RetryPolicy
from .storage._open import check_database_url, open_backend
from .storage.base import Backend, Notifying

__all__ = ["Queue"]

_new_tuple = tuple.__new__


class Queue:
    """A durable job queue. Arguments left as None come from `Settings` (environment).

    The Queue enqueues and claims; its parts do the rest, each method reachable on the Queue
    under its 0.1.1 name: `Acks` (complete, fail, release, extend), `Inspection` (jobs, counts,
    stats), `Admin` (pause, cancel, dead letters, cleanup) and `Maintenance` (lease recovery)."""

    def __init__(
        self,
        shards: int | None = None,
        rate_limit: int | None = None,
        max_retries: int | None = None,
        data_dir: str | Path | None = None,
        circuit_breaker_threshold: int | None = None,
        circuit_breaker_timeout: float | None = None,
        rate_limiter_timeout: float = 5.0,
        *,
        backend: Backend | None = None,
        settings: Settings | None = None,
        clock: Clock = SYSTEM_CLOCK,
        durable: bool | None = None,
        result_ttl: float | None = None,
        lease_timeout: float | None = None,
        alert_threshold: int | None = None,
        max_payload_bytes: int | None = None,
        retry_backoff: float | None = None,
        retry_backoff_max: float | None = None,
        recovery_interval: float | None = None,
        heartbeat_interval: float | None = None,
        rate_limit_burst: int | None = None,
        database_url: str | None = None,
        queue_limits: Mapping[str, QueueLimits | Mapping[str, int]] | None = None,
    ) -> None:
        s = settings if settings is not None else load_settings()
        url = s.database_url if database_url is None else check_database_url(database_url)
        if url and backend is None and shards is not None:
            raise ConfigError(f"shards={shards!r} applies to SQLite only; a PostgreSQL queue has no shards")
        args = {k: v for k, v in locals().items()
                if k not in ("self", "s", "settings", "backend", "clock", "rate_limit_burst", "database_url", "url",
                             "queue_limits")}
        self.options: QueueOptions = resolve_options(s, args)
        o = self.options
        self.clock = clock
        self.backend: Backend = backend if backend is not None else open_backend(
            url, s, data_dir=o.data_dir, shards=o.shards, durable=o.durable, clock=clock)
        if rate_limit_burst is not None and (type(rate_limit_burst) is not int or rate_limit_burst < 1):
            raise ConfigError(f"rate_limit_burst must be an int >= 1 or None, got {rate_limit_burst!r}")
        self.events = Emitter()
        # host-wide limits: their state is in the backend, shared by every process
        self.flow = FlowGate(self.backend, clock, rate_limit=o.rate_limit, burst=rate_limit_burst,
                             limits=check_limits(queue_limits), threshold=o.circuit_threshold,
                             recovery_s=o.circuit_timeout, lease_s=o.lease_timeout, events=self.events)
        self.rate_limiter: SharedRateLimiter | None = (
            SharedRateLimiter(self.flow) if self.flow.policy(DEFAULT_QUEUE).per_minute else None)
        self.circuit_breaker = SharedCircuitBreaker(self.flow)
        self.retry_policy = RetryPolicy(backoff_base=o.retry_backoff, backoff_max=o.retry_backoff_max)
        self._claims = Claims()
        self._waiting = Waiting()
        self._next_alert = 0.0
        self._closed = False
        self._acks = Acks(self.backend, clock, o, self.flow, self.events, self._claims, self.retry_policy)
        self._inspection = Inspection(self.backend, clock, o, self.flow, self.circuit_breaker, self.rate_limiter)
        self._admin = Admin(self.backend, clock, o, self.events, self._waiting)
        self._maintenance = Maintenance(self.backend, clock, o, self.events, self._waiting, self._claims)
        self._claiming = Claiming(clock, o, self.flow, self.events, self._claims, self._maintenance)
        # every field of a job with the default options after its payload (see _enqueue_plain)
        self._plain_job = NewJob("", 0, o.max_retries + 1)[1:]
        # A framework's hook: the caller's open transaction that enqueues should join, or None.
        self.connection_source: Callable[[], Any] | None = None
        if isinstance(self.backend, Notifying):
            self.backend.on_change(self._waiting.notify)  # another process committed work

    # ── properties of the reference API ──
    @property
    def shard_manager(self) -> Backend:
        """The storage backend (a `ShardManager` for the default SQLite storage)."""
        return self.backend

    def shard_of(self, job_id: int) -> int:
        """The shard a job id lives in (ids encode their shard)."""
        return self.backend.shard_of(job_id)

    @property
    def num_shards(self) -> int:
        return self.backend.num_shards

    @property
    def max_retries(self) -> int:
        return self.options.max_retries

    @property
    def rate_limit(self) -> int:
        return self.options.rate_limit

    @property
    def stale_worker_after(self) -> float:
        """Seconds without a heartbeat after which a worker counts as dead or hung: three
        missed heartbeats (`heartbeat_interval`) and a second."""
        return 3 * self.options.heartbeat_interval + 1.0

    @property
    def location(self) -> str:
        """Where the jobs live: the data directory, or the database without its password."""
        return self.backend.location

    # ── enqueue ──
    def enqueue(
        self,
        payload: dict[str, Any],
        pagina_id: int | None = None,
        priority: int = 0,
        max_retries: int | None = None,
        *,
        delay: float | None = None,
        run_at: Any = None,
        dedupe_key: str | None = None,
        shard_key: int | None = None,
        connection: Any = None,
        queue_name: str = DEFAULT_QUEUE,
        concurrency_key: str | None = None,
        dedupe_window: float | None = None,
    ) -> dict[str, int]:
        """Store one job in the named queue; returns `{"id": job_id, "shard_id": shard_id}`.

        With `dedupe_key`, a second enqueue while a job with that key is pending or running
        returns the existing job's id instead of adding a job. With `dedupe_window` seconds too,
        a job of that key that completed within the window also counts, and the result has
        `"created": False` (True when a job was added). With `connection` (a psycopg
        connection to the queue's PostgreSQL database), the job is written in that
        connection's transaction: it exists if and only if the caller commits. With
        `concurrency_key`, the job counts against its task's per-key concurrency limit.
        """
        if (priority == 0 and type(priority) is int and pagina_id is None and shard_key is None
                and max_retries is None and delay is None and run_at is None and dedupe_key is None
                and queue_name is DEFAULT_QUEUE and concurrency_key is None and dedupe_window is None
                and connection is None):
            return self._enqueue_plain(payload)
        now = self.clock.time()
        key = pagina_id if shard_key is None else shard_key
        job = build_job(self.options, now, payload, key, priority, max_retries, delay, run_at, dedupe_key,
                        queue_name, concurrency_key, dedupe_window)
        return self._enqueue_job(job, now, connection, dedupe_window)

    def _enqueue_plain(self, payload: dict[str, Any]) -> dict[str, int]:
        """`enqueue(payload)` with every option at its default, the common call: only the payload
        needs checking, and the job is built without NewJob's Python-level constructor.

        With the lone-enqueue path of ShardManager: 104.8k -> 99.0k instructions a job
        (`python benchmarks/instr.py enqueue`). The test that no caller's transaction is open is
        the context variable's C `get` (`inside_block`), not a `caller_connection` call, and
        `emit` is not called for an event nobody listens to: instr.py enqueue delay 77.9k ->
        75.7k-75.9k and 98.2k -> 96.1k. Nor `has("alert")` (the default threshold is 1000)
        unless an alert listener is on: 72.5k -> 71.9k and 93.1k -> 92.1k."""
        now = self.clock.time()
        job = _new_tuple(NewJob, (encode_payload(payload, self.options.max_payload_bytes), *self._plain_job))
        if self.connection_source is not None or inside_block() is not None or tracing.active():
            return self._enqueue_job(job, now, None, None)
        ref = self.backend.enqueue_one(job, now)
        self._waiting.notify(1)  # _after_enqueue(1), inlined
        if "alert" in self.events.heard and self.options.alert_threshold and self.events.has("alert"):
            self._check_backlog()
        if "job_enqueued" in self.events.heard:
            self.events.emit("job_enqueued", ref[0], ref[1])
        return {"id": ref[0], "shard_id": ref[1]}

    def _enqueue_job(self, job: NewJob, now: float, connection: Any, dedupe_window: float | None) -> dict[str, int]:
        conn = caller_connection(id(self), connection, self.connection_source)
        if conn is not None:
            ref = transactional(self.backend, "enqueue(connection=...)", self.location).enqueue_in(conn, (job,), now)[0]
        elif tracing.active():
            ref = self._traced_enqueue([job], now)[0]
        else:
            ref = self.backend.enqueue_one(job, now)
        if ref.created:
            self._after_enqueue(1)
            self.events.emit("job_enqueued", ref.id, ref.shard_id)
        if dedupe_window is not None:  # the 0.1.1 shape otherwise
            return {"id": ref.id, "shard_id": ref.shard_id, "created": ref.created}
        return {"id": ref.id, "shard_id": ref.shard_id}

    def enqueue_batch(self, items: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Store many jobs all-or-nothing: items are `{"payload": {...}, "priority": 2, ...}`.

        Returns `{"total": n, "ids": [job ids in input order]}` (`total` as in queue-max 0.1.1;
        each id names its shard, see `Queue.shard_of`)."""
        if isinstance(items, (dict, str, bytes)):
            raise InvalidPayload(
                f"enqueue_batch takes a list of job dicts like {{'payload': {{...}}}}, got {type(items).__name__}")
        now = self.clock.time()
        options = self.options
        items = items if isinstance(items, list) else list(items)
        if caller_connection(id(self), None, self.connection_source) is not None or tracing.active():
            # in a caller's transaction, or tracing: the general path (with its connection, or
            # storing the trace context with each job)
            return self._store_many([build_from_spec(options, now, item, f"enqueue_batch item {index}")
                                     for index, item in enumerate(items)], now)
        payloads = bare_payloads(items)
        if payloads is not None:
            # bulk path: every item is a bare payload with default options
            ids = self.backend.enqueue_payloads(payloads, options.max_retries + 1, now,
                                                options.max_payload_bytes)
            self._after_enqueue(len(ids))
            if ids and self.events.has("job_enqueued"):
                shard_id = self.backend.shard_of(ids[0])
                for job_id in ids:
                    self.events.emit("job_enqueued", job_id, shard_id)
            return {"total": len(ids), "ids": ids}
        jobs = [build_from_spec(options, now, item, f"enqueue_batch item {index}")
                for index, item in enumerate(items)]
        return self._store_many(jobs, now)

    def enqueue_from_file(self, path: str | Path, fmt: str | None = "jsonl") -> dict[str, Any]:
        """Store every job of a jsonl, json or csv file, or none if any record is bad.

        A record with a `"payload"` object (and only job-option keys) is a job spec; any other
        object is the payload itself. CSV: a `payload` column of JSON plus option columns, or,
        without one, each row's columns are the payload.
        """
        now = self.clock.time()
        jobs: list[NewJob] = []
        for where, spec in read_job_file(path, fmt):
            try:
                jobs.append(build_from_spec(self.options, now, spec, where))
            except InvalidPayload as exc:
                raise InvalidJobFile(str(exc)) from None
        return self._store_many(jobs, now)

    # ── periodic schedules ──
    def schedule_state(self, name: str, first_due: float) -> tuple[float, float | None]:
        """(next due epoch, last fired epoch) of the named schedule, created due at `first_due`."""
        return self.backend.schedule_state(name, first_due)

    def fire_schedule(
        self, name: str, due: float, next_due: float, payload: dict[str, Any], *,
        priority: int = 0, max_retries: int | None = None, queue_name: str = DEFAULT_QUEUE,
    ) -> dict[str, int] | None:
        """Enqueue the tick of schedule `name` due at `due` and move it to `next_due`, atomically;
        None when another process fired this tick first (each tick runs once)."""
        now = self.clock.time()
        job = build_job(self.options, now, payload, None, priority, max_retries, queue_name=queue_name)
        ref = self.backend.fire_schedule(name, due, next_due, job, now)
        if ref is None:
            return None
        self._after_enqueue(1)
        self.events.emit("job_enqueued", ref.id, ref.shard_id)
        return {"id": ref.id, "shard_id": ref.shard_id}

    def _store_many(self, jobs: Sequence[NewJob], now: float) -> dict[str, Any]:
        if not jobs:
            return {"total": 0, "ids": []}
        conn = caller_connection(id(self), None, self.connection_source)
        if conn is not None:
            return self._stored(transactional(self.backend, "enqueue in a transaction", self.location)
                                .enqueue_in(conn, jobs, now))
        if tracing.active():
            return self._stored(self._traced_enqueue(jobs, now))
        return self._stored(self.backend.enqueue_many(jobs, now))

    def transaction(self, connection: Any) -> AbstractContextManager[Any]:
        """`with queue.transaction(conn):` a transaction on your psycopg connection to the
        queue's PostgreSQL database, in which every enqueue of this queue (and `task.delay()`)
        writes its job: the jobs exist if and only if the block commits."""
        return caller_transaction(id(self), transactional(self.backend, "transaction()", self.location),
                                  connection)

    def _traced_enqueue(self, jobs: Sequence[NewJob], now: float) -> list[JobRef]:
        """Enqueue under a PRODUCER `send` span, storing its context with every job."""
        with tracing.producer_span({job.queue_name for job in jobs}, len(jobs)) as (span, context):
            refs = self.backend.enqueue_many([job._replace(trace=context) for job in jobs], now)
            if span is not None and len(refs) == 1:
                span.set_attribute("messaging.message.id", str(refs[0].id))
        return refs

    def _stored(self, refs: list[JobRef]) -> dict[str, Any]:
        if not refs:
            return {"total": 0, "ids": []}
        self._after_enqueue(len(refs))
        if self.events.has("job_enqueued"):
            for ref in refs:
                if ref.created:
                    self.events.emit("job_enqueued", ref.id, ref.shard_id)
        return {"total": len(refs), "ids": [ref[0] for ref in refs]}

    def _after_enqueue(self, count: int) -> None:
        self._waiting.notify(count)
        if self.options.alert_threshold and self.events.has("alert"):
            self._check_backlog()

    def _check_backlog(self) -> None:
        mono = self.clock.monotonic()
        if mono < self._next_alert:
            return
        self._next_alert = mono + 1.0
        pending = self.backend.counts(self.clock.time())["pending"]
        if pending > self.options.alert_threshold:
            self.events.emit("alert", "QUEUE_SIZE", pending, self.options.alert_threshold)

    def wait_for_work(self, timeout: float) -> None:
        """Block until a job is enqueued in this process or `timeout` seconds pass."""
        self._waiting.wait(timeout)

    def on_local_work(self, wake: Callable[[], None] | None) -> None:
        """Call `wake()` in the enqueuing thread whenever this process adds work (or the backend
        reports another process's), as well as waking `wait_for_work`; None removes it. The
        workers' hub uses it to wake an idle worker directly."""
        self._waiting.route_to(wake)

    # ── the Queue's parts: each public method below is the part's own, bound (see `delegate`) ──
    pop_job = delegate("_claiming", Claiming.pop_job)
    claim_jobs = delegate("_claiming", Claiming.claim_jobs)

    complete_job = delegate("_acks", Acks.complete_job)
    complete_jobs = delegate("_acks", Acks.complete_jobs)
    fail_job = delegate("_acks", Acks.fail_job)
    release_job = delegate("_acks", Acks.release_job)
    set_progress = delegate("_acks", Acks.set_progress)
    extend_lease = delegate("_acks", Acks.extend_lease)
    extend_leases = delegate("_acks", Acks.extend_leases)
    expire_leases = delegate("_acks", Acks.expire_leases)
    heartbeat = delegate("_acks", Acks.heartbeat)
    report_workers = delegate("_acks", Acks.report_workers)
    withdraw_workers = delegate("_acks", Acks.withdraw_workers)

    get_job = delegate("_inspection", Inspection.get_job)
    job_progress = delegate("_inspection", Inspection.job_progress)
    cancel_requested = delegate("_inspection", Inspection.cancel_requested)
    list_jobs = delegate("_inspection", Inspection.list_jobs)
    find_jobs = delegate("_inspection", Inspection.find_jobs)
    get_failed_jobs = delegate("_inspection", Inspection.get_failed_jobs)
    get_processing_jobs = delegate("_inspection", Inspection.get_processing_jobs)
    trace_contexts = delegate("_inspection", Inspection.trace_contexts)
    workers = delegate("_inspection", Inspection.workers)
    dlq_list = delegate("_inspection", Inspection.dlq_list)
    dlq_count = delegate("_inspection", Inspection.dlq_count)
    oldest_ready = delegate("_inspection", Inspection.oldest_ready)
    oldest_ready_age = delegate("_inspection", Inspection.oldest_ready_age)
    next_due = delegate("_inspection", Inspection.next_due)
    has_ready = delegate("_inspection", Inspection.has_ready)
    change_token = delegate("_inspection", Inspection.change_token)
    wait_until_empty = delegate("_inspection", Inspection.wait_until_empty)
    counts = delegate("_inspection", Inspection.counts)
    shard_stats = delegate("_inspection", Inspection.shard_stats)
    event_metrics = delegate("_inspection", Inspection.event_metrics)
    list_schedules = delegate("_inspection", Inspection.list_schedules)
    get_stats = delegate("_inspection", Inspection.get_stats)
    queue_stats = delegate("_inspection", Inspection.queue_stats)
    task_circuits = delegate("_inspection", Inspection.task_circuits)

    pause = delegate("_admin", Admin.pause)
    resume = delegate("_admin", Admin.resume)
    paused_queues = delegate("_admin", Admin.paused_queues)
    cancel = delegate("_admin", Admin.cancel)
    cancel_job = delegate("_admin", Admin.cancel_job)
    dlq_requeue = delegate("_admin", Admin.dlq_requeue)
    retry_failed_jobs = delegate("_admin", Admin.retry_failed_jobs)
    dlq_prune = delegate("_admin", Admin.dlq_prune)
    cleanup_old_jobs = delegate("_admin", Admin.cleanup_old_jobs)
    purge_queue = delegate("_admin", Admin.purge_queue)

    recover_orphans = delegate("_maintenance", Maintenance.recover_orphans)
    maintain = delegate("_maintenance", Maintenance.maintain)
    run_maintenance = delegate("_maintenance", Maintenance.run_maintenance)

    # ── events ──
    def on(self, event: str, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call `callback` on `event` (see the events table in the docs); returns the callback."""
        return self.events.on(event, callback)

    def off(self, event: str, callback: Callable[..., Any]) -> None:
        self.events.off(event, callback)

    @contextlib.contextmanager
    def batch(self) -> Iterator[Queue]:
        """Suppress events emitted by the calling thread inside the block."""
        with self.events.suppressed():
            yield self

    # ── lifecycle ──
    def close(self) -> None:
        """Close every connection; idempotent."""
        if not self._closed:
            self._closed = True
            self.backend.close()

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Queue {self.backend.location} shards={self.backend.num_shards} closed={self._closed}>"
