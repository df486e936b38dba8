"""The Queue's management side: inspection, dead letters, housekeeping, events, lifecycle."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ._events import Emitter
from ._options import QueueOptions, check_seconds
from ._payload import check_progress, check_queue_name
from ._query import build_query, check_page_size
from .errors import ConfigError
from .models import DeadLetter, ErrorInfo, Job, JobProgress, JobStatus, MetricRow, WorkerPresence

if TYPE_CHECKING:
    from ._clock import Clock
    from ._flow_views import SharedCircuitBreaker, SharedRateLimiter
    from .flow import FlowGate
    from .storage.base import Backend

__all__ = ["Management"]

METRIC_NAMES = ("enqueued", "attempt", "failure", "duration", "wait")

log = logging.getLogger("queue_max.queue")

LEASE_EXPIRED = ErrorInfo(
    "LeaseExpired",
    "the worker stopped heartbeating before its lease ran out (it died, hung or was stopped); "
    "the attempt was counted",
)


def _status(status: object, allowed: list[str]) -> JobStatus | None:
    if status is None:
        return None
    value = status.value if isinstance(status, JobStatus) else status
    if value not in allowed:
        raise ConfigError(f"status must be one of {', '.join(allowed)} or None, got {status!r}")
    return JobStatus(value)


def _job_ids(job_ids: Iterable[int]) -> list[int]:
    if isinstance(job_ids, (str, bytes, int)):
        raise ConfigError(f"job_ids must be an iterable of job ids, got {job_ids!r}")
    ids = list(job_ids)
    for job_id in ids:
        if isinstance(job_id, bool) or not isinstance(job_id, int):
            raise ConfigError(f"job_ids must hold int job ids, got {job_id!r}")
    return ids


def _queue(name: str | None) -> str | None:
    return None if name is None else check_queue_name(name, ConfigError)


def _presences(workers: object) -> list[WorkerPresence]:
    if isinstance(workers, (str, bytes, WorkerPresence)) or not isinstance(workers, Iterable):
        raise ConfigError(f"workers must be a list of WorkerPresence, got {workers!r:.80}")
    found = list(workers)
    for worker in found:
        if not isinstance(worker, WorkerPresence):
            raise ConfigError(f"workers must hold WorkerPresence values, got {worker!r:.80}")
    return found


def _limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"limit must be an int >= 1, got {limit!r}")
    return limit


class Management:
    """Mixed into `Queue`: everything beside enqueue, claim and acknowledge."""

    backend: Backend
    options: QueueOptions
    clock: Clock
    events: Emitter
    circuit_breaker: SharedCircuitBreaker
    rate_limiter: SharedRateLimiter | None
    flow: FlowGate
    _started: float
    _work: threading.Condition
    _waiters: int
    _maintenance_lock: threading.Lock
    _next_maintenance: float
    _closed: bool
    _leases: dict[int, Job]

    # ── inspection ──
    def get_job(self, job_id: int) -> Job | None:
        """The job with this id (any status, with its recorded errors), or None."""
        return self.backend.get(job_id)

    def job_progress(self, job_id: int) -> JobProgress | None:
        """What the job's handler last reported with `set_progress`, or None (nothing reported)."""
        return self.backend.progress(job_id)

    def set_progress(self, job: Job, fraction: object, message: object = None) -> JobProgress:
        """Store a running job's progress; `InvalidProgress` for a bad value (nothing stored),
        `LeaseLost` if this worker no longer holds the job."""
        progress = check_progress(fraction, message)
        self.backend.set_progress(job.lease, progress.fraction, progress.message)
        return progress

    def list_jobs(self, status: str | JobStatus | None = None, limit: int = 100,
                  shard_id: int | None = None, queue_name: str | None = None) -> list[Job]:
        """Jobs in `status` (all if None), of one named queue (all if None), oldest first."""
        wanted = _status(status, [s.value for s in JobStatus])
        name = _queue(queue_name)
        return self.backend.list_jobs(wanted, _limit(limit), shard_id, name)

    def find_jobs(
        self, *, status: str | JobStatus | None = None, task: str | None = None,
        error_type: str | None = None, shard_id: int | None = None, since: Any = None,
        until: Any = None, payload_contains: str | None = None, before_id: int | None = None,
        limit: int = 50, time_budget: float = 2.0, queue_name: str | None = None,
    ) -> list[Job]:
        """Jobs matching every given filter, newest first (without their error history).

        `since`/`until` bound the enqueue time (aware datetimes or epoch seconds). Page with
        `before_id=<last id of the previous page>`; every page costs the same. A payload search
        (`payload_contains`) scans, so the whole call stops after `time_budget` seconds with
        `SearchTimeout`."""
        query = build_query(self.backend.num_shards, status=status, task=task, error_type=error_type,
                            shard_id=shard_id, since=since, until=until,
                            payload_contains=payload_contains, before_id=before_id, queue_name=queue_name,
                            time_budget=time_budget)
        return self.backend.find_jobs(query, check_page_size(limit))

    def oldest_ready_age(self) -> float | None:
        """Seconds the oldest claimable job has been due; None when no job is ready."""
        oldest = self.oldest_ready()
        return None if oldest is None else max(0.0, self.clock.time() - oldest)

    def get_failed_jobs(self, limit: int = 100) -> list[Job]:
        """Dead-lettered jobs (status failed), oldest first."""
        return self.backend.list_jobs(JobStatus.FAILED, _limit(limit))

    def get_processing_jobs(self, limit: int = 1000) -> list[Job]:
        """Jobs currently leased to a worker."""
        return self.backend.list_jobs(JobStatus.PROCESSING, _limit(limit))

    def counts(self, shard_id: int | None = None, *, queue_name: str | None = None) -> dict[str, int]:
        """Jobs per status now (`pending` includes `scheduled`), plus `dead_letter`; of one
        named queue's jobs if `queue_name` is given."""
        return self.backend.counts(self.clock.time(), shard_id, queue_name=_queue(queue_name))

    def shard_stats(self, shard_id: int) -> dict[str, Any]:
        """One shard's counts and what the backend records about it (path, version, totals)."""
        return self.backend.shard_stats(shard_id, self.clock.time())

    def oldest_ready(self, *, queue_name: str | None = None) -> float | None:
        """The earliest `run_at` (epoch seconds) among jobs claimable now (of `queue_name` only,
        if given); None if none is."""
        return self.backend.oldest_ready(self.clock.time(), queue_name=_queue(queue_name))

    def event_metrics(self, since: float | None = None, name: str | None = None) -> list[MetricRow]:
        """Persisted event metrics: the all-time totals (`since` None), or the per-minute rows
        from `since` (epoch seconds) on, of metric `name` only if given ("attempt", "failure",
        "enqueued", "duration", "wait"). See `MetricRow`; `queue_max.metrics` renders them."""
        if since is not None:
            since = check_seconds("since", since)
        if name is not None and name not in METRIC_NAMES:
            raise ConfigError(f"name must be one of {', '.join(METRIC_NAMES)} or None, got {name!r}")
        return self.backend.event_metrics(since, name)

    def trace_contexts(self, job_ids: Sequence[int]) -> dict[int, str]:
        """The stored OpenTelemetry trace context of each traced job, by id (see `tracing`)."""
        return self.backend.trace_contexts(job_ids)

    # ── workers ──
    @property
    def stale_worker_after(self) -> float:
        """Seconds without a heartbeat after which a worker counts as dead or hung: three
        missed heartbeats (`heartbeat_interval`) and a second."""
        return 3 * self.options.heartbeat_interval + 1.0

    def workers(self) -> list[WorkerPresence]:
        """Every worker of this queue's storage as its last heartbeat reported it, idle ones
        too (on PostgreSQL, from every host), by worker id. Compare `WorkerPresence.age(now)`
        with `stale_worker_after` to tell a dead or hung one."""
        return self.backend.list_workers(self.clock.time())

    def report_workers(self, workers: Sequence[WorkerPresence]) -> None:
        """Record that these workers are alive (what a worker does at start and every heartbeat)."""
        self.backend.put_workers(_presences(workers))

    def withdraw_workers(self, workers: Sequence[WorkerPresence]) -> None:
        """Remove these workers' records (what a worker does when it stops)."""
        self.backend.drop_workers(_presences(workers))

    def list_schedules(self) -> list[dict[str, Any]]:
        """Every periodic schedule: name, next_run_at, last_run_at (epoch seconds), last_job_id."""
        return self.backend.list_schedules()

    def next_due(self) -> float | None:
        """When the earliest scheduled job becomes due (epoch seconds); None if none is scheduled."""
        return self.backend.next_due()

    def has_ready(self) -> bool:
        """Whether a job could be claimed now (a cheap read)."""
        return self.backend.has_ready(self.clock.time())

    def change_token(self) -> Any:
        """An opaque value that changes whenever another process commits to the queue."""
        return self.backend.change_token()

    @property
    def location(self) -> str:
        """Where the jobs live: the data directory, or the database without its password."""
        return self.backend.location

    def get_stats(self) -> dict[str, Any]:
        """Counts per status plus limiter and breaker state (the reference's keys, and more)."""
        counts = self.counts()
        breaker = self.circuit_breaker
        state = breaker.state
        limiter = self.rate_limiter
        return {
            "pending": counts["pending"],
            "processing": counts["processing"],
            "failed": counts["failed"],
            "completed": counts["completed"],
            "cancelled": counts["cancelled"],
            "scheduled": counts["scheduled"],
            "dead_letter": counts["dead_letter"],
            "num_shards": self.backend.num_shards,
            "rate_limit": self.options.rate_limit,
            "max_retries": self.options.max_retries,
            "circuit_state": state.value,
            "circuit_failures": breaker.failures,
            "tokens_available": None if limiter is None else limiter.get_remaining_tokens(),
            "uptime_seconds": self.clock.monotonic() - self._started,
            "is_healthy": state.value != "open",
            "queues": self.queue_stats(),
        }

    def queue_stats(self) -> dict[str, dict[str, Any]]:
        """Per named queue: jobs per status, paused, circuit state and failures, limits in force."""
        now = self.clock.time()
        flow = self.backend.flow_state(now)
        counts = self.backend.queue_counts(now)
        names = sorted(set(counts) | set(flow.paused) | set(self.flow.limits)
                       | {scope.removeprefix("queue:") for scope in flow.breakers})
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            breaker = flow.breakers.get(f"queue:{name}")
            policy = self.flow.policy(name)
            out[name] = {**counts.get(name, {}), "paused": name in flow.paused,
                         "circuit_state": "closed" if breaker is None else breaker.state,
                         "circuit_failures": 0 if breaker is None else breaker.failures,
                         "rate_limit": policy.per_minute, "concurrency_limit": policy.concurrency,
                         "running_slots": flow.slots.get(f"queue:{name}", 0)}
        return out

    # ── cancelling and dead letters ──
    def cancel(self, job_id: int) -> bool:
        """Cancel a pending job (True); a running one is only marked, and its handler stops at its
        next `current_job().check()` (False, as for a finished job): `cancel_job` says which."""
        return self.cancel_job(job_id) == "cancelled"

    def cancel_job(self, job_id: int) -> str:
        """Cancel a job and say what happened: "cancelled" (it was waiting: it never runs),
        "requested" (it is running: marked, its handler stops at its next check), "finished"
        (it already ended: nothing changed) or "missing" (no such job, or it was cleaned up).
        `JobNotFound` for an id this queue could not hold."""
        now = self.clock.time()
        if self.backend.cancel(job_id, now):
            self.events.emit("job_cancelled", job_id, self.backend.shard_of(job_id))
            return "cancelled"
        if self.backend.request_cancel(job_id, now):
            return "requested"
        return "finished" if self.backend.get(job_id) is not None else "missing"

    def cancel_requested(self, job_id: int) -> bool:
        """Whether `cancel` was asked of the job while it ran (what `current_job().check()` reads)."""
        return self.backend.cancel_requested(job_id)

    def dlq_list(self, limit: int = 100, shard_id: int | None = None,
                 error_type: str | None = None, *, queue_name: str | None = None) -> list[DeadLetter]:
        """Dead letters, newest first (of the jobs of `queue_name` only, if given)."""
        return self.backend.dlq_list(_limit(limit), shard_id, error_type, queue_name=_queue(queue_name))

    def dlq_requeue(self, job_ids: Iterable[int] | None = None, shard_id: int | None = None,
                    error_type: str | None = None, *, queue_name: str | None = None) -> int:
        """Give dead jobs fresh retries and make them pending again; returns how many."""
        moved = self.backend.dlq_requeue(self.clock.time(), job_ids, shard_id, error_type,
                                         queue_name=_queue(queue_name))
        if moved:
            self._wake(moved)
        return moved

    def dlq_count(self, shard_id: int | None = None, error_type: str | None = None, *,
                  queue_name: str | None = None) -> int:
        """How many dead letters match (what a bulk requeue or prune of that filter would touch)."""
        return self.backend.dlq_count(shard_id, error_type, queue_name=_queue(queue_name))

    def dlq_prune(self, older_than: float | None = None, shard_id: int | None = None, *,
                  error_type: str | None = None, job_ids: Iterable[int] | None = None,
                  queue_name: str | None = None) -> int:
        """Delete dead letters older than `older_than` seconds (all if None), only those of
        `error_type`, among `job_ids` and of `queue_name` when given; returns how many."""
        before = None
        if older_than is not None:
            before = self.clock.time() - check_seconds("older_than", older_than)
        if job_ids is not None:
            job_ids = _job_ids(job_ids)
        return self.backend.dlq_prune(before, shard_id, error_type=error_type, job_ids=job_ids,
                                      queue_name=_queue(queue_name))

    def retry_failed_jobs(self, shard_id: int | None = None) -> int:
        """Requeue every dead-lettered job (of one shard, or all) with fresh retries."""
        return self.dlq_requeue(shard_id=shard_id)

    # ── housekeeping ──
    def cleanup_old_jobs(self, days: float | None = None, *, queue_name: str | None = None) -> int:
        """Delete completed and cancelled jobs finished more than `days` ago, and expired results
        (of one named queue only, if `queue_name` is given)."""
        age = self.options.cleanup_days if days is None else check_seconds("days", days, unit="days")
        name = _queue(queue_name)
        now = self.clock.time()
        return self.backend.cleanup(now, now - age * 86400.0, queue_name=name)

    def purge_queue(self, status: str | JobStatus | None = None, *, queue_name: str | None = None) -> int:
        """Delete every job in `status` ("pending", "failed", ...), or everything if None; only
        the jobs of one named queue (and their dead letters) if `queue_name` is given."""
        wanted = _status(status, [s.value for s in JobStatus])
        return self.backend.purge(wanted, queue_name=_queue(queue_name))

    def recover_orphans(self) -> int:
        """Requeue jobs whose lease expired (their worker died); returns how many were recovered.

        The attempt counts: a job that keeps killing its worker reaches the dead-letter queue.
        """
        report = self.backend.requeue_expired(self.clock.time(), LEASE_EXPIRED)
        if report.total:
            log.warning("recovered %d job%s with expired leases (%d requeued, %d dead-lettered)",
                        report.total, "" if report.total == 1 else "s", report.requeued, report.buried)
            self.events.emit("jobs_recovered", report.requeued, report.buried)
            self._wake(report.requeued)
        return report.total

    def maintain(self) -> float:
        """Run maintenance if its `recovery_interval` has passed since it last ran (from any
        thread or worker); returns the seconds until it is due again. The queue owns this one
        schedule: claims and every worker's keeper thread ask here."""
        left = self._next_maintenance - self.clock.monotonic()
        if left > 0:
            return left
        self.run_maintenance()
        return self.options.recovery_interval

    def run_maintenance(self) -> None:
        """Recover expired leases and drop expired results; throttled, safe from any thread."""
        if not self._maintenance_lock.acquire(blocking=False):
            return
        try:
            self._next_maintenance = self.clock.monotonic() + self.options.recovery_interval
            self.recover_orphans()
            now = self.clock.time()
            self.backend.cleanup(now, float("-inf"))
            self._drop_expired_claims(now)
            self.backend.checkpoint()  # keeps the WAL small between the automatic checkpoints
        except Exception:
            log.exception("maintenance failed; it will run again in %.1fs", self.options.recovery_interval)
        finally:
            self._maintenance_lock.release()

    def _drop_expired_claims(self, now: float) -> None:
        """Forget remembered claims whose lease ran out long ago (their workers gave up)."""
        leases = self._leases
        horizon = now - self.options.lease_timeout
        for job_id, job in list(leases.items()):
            if job.lease_expires_ts is not None and job.lease_expires_ts < horizon:
                leases.pop(job_id, None)

    # ── waiting ──
    def _wake(self, count: int) -> None:
        if self._waiters:
            with self._work:
                self._work.notify(count)

    def wait_for_work(self, timeout: float) -> None:
        """Block until a job is enqueued in this process or `timeout` seconds pass."""
        with self._work:
            self._waiters += 1
            try:
                self._work.wait(timeout)
            finally:
                self._waiters -= 1

    def wait_until_empty(self, timeout: float | None = None, poll_interval: float = 0.05) -> bool:
        """Block until no job is pending or processing; False if `timeout` passed first."""
        # the deadline is read on the queue's own clock, so a FakeClock drives it in tests
        deadline = None if timeout is None else self.clock.monotonic() + check_seconds("timeout", timeout)
        while self.backend.count_live():
            if deadline is not None and self.clock.monotonic() >= deadline:
                return False
            time.sleep(poll_interval)
        return True

    # ── events ──
    def on(self, event: str, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call `callback` on `event` (see the events table in the docs); returns the callback."""
        return self.events.on(event, callback)

    def off(self, event: str, callback: Callable[..., Any]) -> None:
        self.events.off(event, callback)

    @contextlib.contextmanager
    def batch(self) -> Iterator[Any]:
        """Suppress events emitted by the calling thread inside the block."""
        with self.events.suppressed():
            yield self

    # ── lifecycle ──
    def close(self) -> None:
        """Close every connection; idempotent."""
        if not self._closed:
            self._closed = True
            self.backend.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Queue {self.backend.location} shards={self.backend.num_shards} closed={self._closed}>"
