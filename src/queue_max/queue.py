"""The Queue facade: enqueue, claim, acknowledge and manage jobs over a storage backend."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ._clock import SYSTEM_CLOCK, Clock
from ._events import Emitter
from ._files import read_job_file
from ._options import QueueOptions, build_from_spec, build_job, check_seconds, resolve_options
from ._payload import DEFAULT_QUEUE, check_payload, check_queue_name, encode_payload, encode_value
from ._queue_admin import Management
from ._flow_views import SharedCircuitBreaker, SharedRateLimiter
from .config import Settings, load_settings
from .errors import ConfigError, InvalidJobFile, InvalidPayload, JobNotFound, LeaseLost, RateLimitError
from .models import ErrorInfo, Job, JobRef, JobStatus, Lease, NewJob
from .flow import FlowGate, QueueLimits, check_limits, check_queue_list
from .retry import RetryPolicy, decide, error_info
from . import tracing
from .storage.base import Backend, Notifying
from .storage._open import check_database_url, open_postgres, open_sqlite
from ._caller_tx import caller_connection, caller_transaction, transactional

__all__ = ["Queue"]

log = logging.getLogger("queue_max.queue")



class Queue(Management):
    """A durable job queue. Arguments left as None come from `Settings` (environment)."""

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
        self._started = clock.monotonic()
        if backend is not None:
            self.backend: Backend = backend
        elif url:
            self.backend = open_postgres(url, schema=s.database_schema, listen=s.database_listen,
                                         pool_size=s.database_pool_size, clock=clock)
        else:
            self.backend = open_sqlite(o.data_dir, o.shards, busy_timeout=s.busy_timeout, cache_size=s.cache_size,
                                       mmap_size=s.mmap_size, durable=o.durable, default_shards=s.num_shards)
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
        self._held = threading.local()
        self._leases: dict[int, Job] = {}
        self._work = threading.Condition(threading.Lock())
        self._waiters = 0
        self._maintenance_lock = threading.Lock()
        self._next_maintenance = clock.monotonic() + o.recovery_interval
        self._next_alert = 0.0
        self._closed = False
        # A framework's hook: the caller's open transaction that enqueues should join, or None.
        self.connection_source: Callable[[], Any] | None = None
        if isinstance(self.backend, Notifying):
            self.backend.on_change(self._wake_waiters)

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
        now = self.clock.time()
        if (priority == 0 and type(priority) is int and pagina_id is None and shard_key is None
                and max_retries is None and delay is None and run_at is None and dedupe_key is None
                and queue_name is DEFAULT_QUEUE and concurrency_key is None and dedupe_window is None):
            # every option at its default: only the payload needs checking
            job = NewJob(encode_payload(payload, self.options.max_payload_bytes), 0, self.options.max_retries + 1)
        else:
            key = pagina_id if shard_key is None else shard_key
            job = build_job(self.options, now, payload, key, priority, max_retries, delay, run_at, dedupe_key,
                            queue_name, concurrency_key, dedupe_window)
        conn = caller_connection(id(self), connection, self.connection_source)
        if conn is not None:
            ref = transactional(self.backend, "enqueue(connection=...)", self.location).enqueue_in(conn, (job,), now)[0]
        elif tracing.active():
            ref = self._traced_enqueue([job], now)[0]
        else:
            ref = self.backend.enqueue_many((job,), now)[0]
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
        payloads: list[dict[str, Any]] = []
        append = payloads.append
        for index, item in enumerate(items):
            payload = item.get("payload") if type(item) is dict and len(item) == 1 else None
            if type(payload) is not dict:
                break  # an item with options: every item takes the general path below
            try:
                check_payload(payload)
            except InvalidPayload as exc:
                raise InvalidPayload(f"enqueue_batch item {index}: {exc}") from None
            append(payload)
        else:
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

    def _wake_waiters(self) -> None:
        """Another process committed work: wake this process's idle waiters as an enqueue would."""
        if self._waiters:
            with self._work:
                self._work.notify(1)

    def _after_enqueue(self, count: int) -> None:
        if self._waiters:
            with self._work:
                self._work.notify(count)
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

    # ── claiming ──
    def pop_job(self, worker_id: str | None = None, queues: Sequence[str] | None = None) -> Job | None:
        """Lease the next ready job to `worker_id`, or return None (empty, paused, circuit
        open, or no rate-limit token within `rate_limiter_timeout`)."""
        if worker_id is None:
            worker_id = _default_worker()
        jobs = self.claim_jobs(worker_id, 1, queues=queues)
        deadline = self.clock.monotonic() + self.options.rate_limiter_timeout
        while not jobs and self.clock.monotonic() < deadline:
            pause = self.flow.held_back()
            if not self.flow.short_of_tokens():
                break
            threading.Event().wait(min(pause, max(0.0, deadline - self.clock.monotonic())))
            jobs = self.claim_jobs(worker_id, 1, queues=queues)
        return jobs[0] if jobs else None

    def claim_jobs(self, worker_id: str, limit: int, *, queues: Sequence[str] | None = None,
                   wait_for_tokens: bool = False) -> list[Job]:
        """Lease up to `limit` jobs at once (what workers use to prefetch), from `queues` in
        that order (None: every queue; see docs/queues.md for the order and its fairness).

        Paused queues are skipped, an open circuit skips its queue (one trial job host-wide
        when half-open), and rate-limit tokens and concurrency slots are taken in storage for
        the jobs actually claimed; jobs that found none are given back untouched.
        """
        if type(worker_id) is not str or not worker_id or not _utf8(worker_id):
            raise ConfigError(f"worker_id must be a non-empty str of valid Unicode, got {worker_id!r}")
        if type(limit) is not int or not 1 <= limit <= 10_000:
            raise ConfigError(f"limit must be an int from 1 to 10000, got {limit!r}")
        names = check_queue_list(queues)
        if self.clock.monotonic() >= self._next_maintenance:
            self.maintain()
        jobs = self.flow.claim(worker_id, limit, names)
        held = self._thread_leases()
        for job in jobs:
            held[job.id] = job
            self._leases[job.id] = job
        if self.events.has("job_started"):
            for job in jobs:
                self.events.emit("job_started", job.id, job.shard_id, worker_id)
        return jobs

    # ── pausing ──
    def pause(self, queue_name: str) -> bool:
        """Stop every worker of the host from claiming `queue_name` (running jobs finish, enqueues
        are still accepted) until `resume`; durable. False if it was already paused."""
        changed = self.backend.set_paused(check_queue_name(queue_name, ConfigError), True, self.clock.time())
        if changed:
            log.info("queue %r paused", queue_name)
            self.events.emit("queue_paused", queue_name, True)
        return changed

    def resume(self, queue_name: str) -> bool:
        """Let workers claim `queue_name` again; False if it was not paused."""
        changed = self.backend.set_paused(check_queue_name(queue_name, ConfigError), False, self.clock.time())
        if changed:
            log.info("queue %r resumed", queue_name)
            self.events.emit("queue_paused", queue_name, False)
            self._after_enqueue(1)
        return changed

    def paused_queues(self) -> list[str]:
        """The names of the paused queues, sorted."""
        return sorted(self.backend.claim_blocks()[0])

    def _thread_leases(self) -> dict[int, Job]:
        held: dict[int, Job] | None = getattr(self._held, "jobs", None)
        if held is None:
            held = self._held.jobs = {}
        return held

    def _held_job(self, job_id: int | Job, lease: Lease | None) -> tuple[int, Job | None, Lease | None]:
        if isinstance(job_id, Job):
            return job_id.id, job_id, lease or job_id.lease
        if type(job_id) is not int:
            raise JobNotFound(job_id, f"job_id must be an int or a Job, got {job_id!r}")
        job = self._thread_leases().get(job_id) or self._leases.get(job_id)
        if lease is None and job is not None:
            lease = job.lease
        return job_id, job, lease

    def _forget(self, lease: Lease) -> None:
        """Drop the remembered claim of `lease` (not a newer claim of the same job)."""
        job_id, _shard, token, _worker = lease
        held = self._thread_leases()
        job = held.get(job_id)
        if job is not None and job.lease_token == token:
            del held[job_id]
        job = self._leases.get(job_id)
        if job is not None and job.lease_token == token:
            self._leases.pop(job_id, None)

    def _no_lease(self, job_id: int) -> LeaseLost | JobNotFound:
        if self.backend.get(job_id) is None:
            return JobNotFound(job_id)
        return LeaseLost(job_id, f"job {job_id}: this Queue holds no lease for it (it was not claimed "
                                 "through this Queue, or its lease was already used); pass lease=job.lease")

    @staticmethod
    def _check_shard_arg(backend: Backend, job_id: int, shard_id: int | None) -> None:
        if shard_id is not None and backend.shard_of(job_id) != shard_id:
            raise JobNotFound(job_id, f"job {job_id} lives in shard {backend.shard_of(job_id)}, not shard {shard_id}")

    # ── acknowledging ──
    def complete_job(
        self, job_id: int | Job, shard_id: int | None = None, result: Any = None, *, lease: Lease | None = None
    ) -> bool:
        """Mark a claimed job completed (its result is kept for `result_ttl`); returns True.

        Raises `LeaseLost` (nothing changed) if this worker's lease is no longer current,
        and `JobNotFound` if the job does not exist.
        """
        job_id, _job, lease = self._held_job(job_id, lease)
        self._check_shard_arg(self.backend, job_id, shard_id)
        if lease is None:
            raise self._no_lease(job_id)
        encoded = None if result is None else encode_value(result, "result")
        lost = self.backend.complete_many(((lease, encoded),), self.clock.time(), self.options.result_ttl)
        self._forget(lease)
        if lost:
            self.flow.free([_job] if _job is not None else [])
            raise LeaseLost(job_id)
        if _job is not None:
            self.flow.finished([_job], succeeded=True)
        self.events.emit("job_completed", job_id, lease.shard_id)
        return True

    def complete_jobs(self, results: Sequence[tuple[Job, Any]]) -> list[int]:
        """Complete many claimed jobs in one transaction per shard (grouped acks).

        `results` holds (job, result) pairs; returns the ids whose lease was lost (nothing
        changed for those). A crash before this returns loses no job: the jobs are still
        leased and come back after their lease expires.
        """
        if not results:
            return []
        encoded = [(job.lease, None if result is None else encode_value(result, "result"))
                   for job, result in results]
        lost = {lease.job_id for lease in
                self.backend.complete_many(encoded, self.clock.time(), self.options.result_ttl)}
        emit = self.events.has("job_completed")
        done = [job for job, _result in results if job.id not in lost]
        self.flow.free([job for job, _result in results])
        self.flow.finished(done, succeeded=True)
        for job, _result in results:
            self._forget(job.lease)
            if job.id in lost:
                continue
            if emit:
                self.events.emit("job_completed", job.id, job.shard_id)
        return sorted(lost)

    def fail_job(
        self,
        job_id: int | Job,
        shard_id: int | None = None,
        error: str | BaseException | None = None,
        permanent: bool = False,
        *,
        lease: Lease | None = None,
        retry_delay: float | None = None,
        retry_on: Any = None,
        policy: RetryPolicy | None = None,
    ) -> JobStatus:
        """Record a failed attempt: retry later (returns PENDING) or dead-letter (returns FAILED).

        An exception `error` is classified by type (4xx HTTP errors other than 429 and
        `Permanent` are not retried); `permanent=True` skips the retries. `retry_delay` overrides
        the backoff for this failure, `policy` (a task's own) the queue's; see `retry.decide`.
        """
        job_id, job, lease = self._held_job(job_id, lease)
        self._check_shard_arg(self.backend, job_id, shard_id)
        if lease is None:
            raise self._no_lease(job_id)
        if job is None:
            job = self.backend.get(job_id)
            if job is None:
                raise JobNotFound(job_id)
        delay = None if retry_delay is None else check_seconds("retry_delay", retry_delay)
        if _asked_to_stop(error):
            return self._cancel_running(job, lease)
        info, decision = self._classify(job, error, permanent, retry_on, policy or self.retry_policy, delay)
        now = self.clock.time()
        try:
            if decision is not None:
                self.backend.retry(lease, now + decision, info, now)
            else:
                self.backend.bury(lease, info, now)
        except LeaseLost:
            self._forget(lease)
            self.flow.free([job])
            raise
        # a storage error above keeps the claim remembered, so the caller can retry the call
        self._forget(lease)
        self.flow.finished([job], succeeded=False)
        event = "job_retried" if decision is not None else "job_failed"
        self.events.emit(event, job_id, lease.shard_id, info.message)
        return JobStatus.PENDING if decision is not None else JobStatus.FAILED

    def _cancel_running(self, job: Job, lease: Lease) -> JobStatus:
        """The handler stopped because `cancel` was asked while it ran: the job ends cancelled."""
        try:
            self.backend.cancel_running(lease, self.clock.time())
        finally:
            self._forget(lease)
            self.flow.free([job])
        self.events.emit("job_cancelled", job.id, lease.shard_id)
        return JobStatus.CANCELLED

    @staticmethod
    def _classify(job: Job, error: object, permanent: bool, retry_on: Any, policy: RetryPolicy,
                  delay: float | None) -> tuple[ErrorInfo, float | None]:
        """The stored error, and the retry delay (None = dead-letter now)."""
        if isinstance(error, BaseException):
            info = ErrorInfo(*error_info(error))
            exc: BaseException = error
        else:
            info = ErrorInfo("Error", "" if error is None else str(error))
            exc = RuntimeError(info.message)
        if permanent:
            return info, None
        verdict = decide(exc, max(1, job.tentativas), max(1, job.max_tentativas), policy,
                         retry_on=None if exc is not error else retry_on, delay=delay)
        return info, (verdict.delay if verdict.retry else None)

    def release_job(self, job_id: int | Job, *, lease: Lease | None = None) -> bool:
        """Give a claimed job back untouched (not counted as an attempt); False if the lease was lost."""
        job_id, _job, lease = self._held_job(job_id, lease)
        if lease is None:
            raise self._no_lease(job_id)
        lost = self.backend.release([lease], self.clock.time())
        self._forget(lease)
        if _job is not None:
            self.flow.free([_job])
        if not lost:
            self.events.emit("job_released", job_id, lease.shard_id)
        return not lost

    def extend_lease(self, job: Job | Lease, seconds: float | None = None) -> bool:
        """Keep a long job's lease alive for `seconds` more (default: the lease timeout)."""
        lease = job.lease if isinstance(job, Job) else job
        span = self.options.lease_timeout if seconds is None else check_seconds("seconds", seconds, allow_zero=False)
        until = self.clock.time() + span
        self.flow.extend([lease.job_id], until)
        return not self.backend.extend([lease], until)

    def extend_leases(self, leases: Sequence[Lease], seconds: float | None = None) -> list[Lease]:
        """Keep many leases alive for `seconds` more (default: the lease timeout), in one call;
        returns the leases that were lost (another worker may own those jobs now)."""
        span = self.options.lease_timeout if seconds is None else check_seconds("seconds", seconds, allow_zero=False)
        until = self.clock.time() + span
        self.flow.extend([lease.job_id for lease in leases], until)  # running jobs keep their slots
        return self.backend.extend(leases, until)

    def expire_leases(self, worker_id: str) -> int:
        """End every lease `worker_id` holds now (its process is known to be dead), so that the
        next `recover_orphans` requeues those jobs, the attempt counted; returns how many."""
        if type(worker_id) is not str or not worker_id:
            raise ConfigError(f"worker_id must be a non-empty str, got {worker_id!r}")
        return self.backend.expire_leases(worker_id, self.clock.time())

    def heartbeat(self, shard_id: int | None = None, worker_id: str | None = None) -> int:
        """Extend every lease `worker_id` holds (in one shard or all); returns how many."""
        if worker_id is None:
            raise ConfigError("heartbeat needs the worker_id whose leases to extend")
        return self.backend.heartbeat(worker_id, self.clock.time() + self.options.lease_timeout, shard_id)


def _utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _default_worker() -> str:
    import os

    return f"pid-{os.getpid()}-{threading.get_ident()}"


def _asked_to_stop(error: object) -> bool:
    """Whether a handler's error is `JobCancelRequested`: it stopped because `cancel` was asked."""
    from .workers.errors import JobCancelRequested  # only when a job failed: no import cycle at load

    return isinstance(error, JobCancelRequested)
