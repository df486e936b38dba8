"""The Queue's read side: jobs, counts, stats, dead letters, metrics and schedules, as stored."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._options import QueueOptions
from ._query import build_query
from ._validate import check_limit, check_page_size, check_queue_filter, check_seconds, check_status
from .errors import ConfigError
from ._flow_limits import task_breakers
from .models import DeadLetter, Job, JobProgress, JobStatus, MetricRow, WorkerPresence

if TYPE_CHECKING:
    from ._clock import Clock
    from ._flow_views import SharedCircuitBreaker, SharedRateLimiter
    from .flow import FlowGate
    from .storage.base import Backend

__all__ = ["Inspection"]

METRIC_NAMES = ("enqueued", "attempt", "failure", "duration", "wait")


@dataclass(eq=False)
class Inspection:
    """What a Queue can tell about its jobs without changing any (`queue.get_job` and its kin)."""

    backend: Backend
    clock: Clock
    options: QueueOptions
    flow: FlowGate
    breaker: SharedCircuitBreaker
    limiter: SharedRateLimiter | None
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock.monotonic()

    # ── jobs ──
    def get_job(self, job_id: int) -> Job | None:
        """The job with this id (any status, with its recorded errors), or None."""
        return self.backend.get(job_id)

    def job_progress(self, job_id: int) -> JobProgress | None:
        """What the job's handler last reported with `set_progress`, or None (nothing reported)."""
        return self.backend.progress(job_id)

    def cancel_requested(self, job_id: int) -> bool:
        """Whether `cancel` was asked of the job while it ran (what `current_job().check()` reads)."""
        return self.backend.cancel_requested(job_id)

    def list_jobs(self, status: str | JobStatus | None = None, limit: int = 100,
                  shard_id: int | None = None, queue_name: str | None = None) -> list[Job]:
        """Jobs in `status` (all if None), of one named queue (all if None), oldest first."""
        wanted = check_status(status)
        return self.backend.list_jobs(wanted, check_limit(limit), shard_id, check_queue_filter(queue_name))

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

    def get_failed_jobs(self, limit: int = 100) -> list[Job]:
        """Dead-lettered jobs (status failed), oldest first."""
        return self.backend.list_jobs(JobStatus.FAILED, check_limit(limit))

    def get_processing_jobs(self, limit: int = 1000) -> list[Job]:
        """Jobs currently leased to a worker."""
        return self.backend.list_jobs(JobStatus.PROCESSING, check_limit(limit))

    def trace_contexts(self, job_ids: Sequence[int]) -> dict[int, str]:
        """The stored OpenTelemetry trace context of each traced job, by id (see `tracing`)."""
        return self.backend.trace_contexts(job_ids)

    def workers(self) -> list[WorkerPresence]:
        """Every worker of this queue's storage as its last heartbeat reported it, idle ones
        too (on PostgreSQL, from every host), by worker id. Compare `WorkerPresence.age(now)`
        with `stale_worker_after` to tell a dead or hung one."""
        return self.backend.list_workers(self.clock.time())

    # ── dead letters ──
    def dlq_list(self, limit: int = 100, shard_id: int | None = None,
                 error_type: str | None = None, *, queue_name: str | None = None) -> list[DeadLetter]:
        """Dead letters, newest first (of the jobs of `queue_name` only, if given)."""
        return self.backend.dlq_list(check_limit(limit), shard_id, error_type,
                                     queue_name=check_queue_filter(queue_name))

    def dlq_count(self, shard_id: int | None = None, error_type: str | None = None, *,
                  queue_name: str | None = None) -> int:
        """How many dead letters match (what a bulk requeue or prune of that filter would touch)."""
        return self.backend.dlq_count(shard_id, error_type, queue_name=check_queue_filter(queue_name))

    # ── readiness ──
    def oldest_ready(self, *, queue_name: str | None = None) -> float | None:
        """The earliest `run_at` (epoch seconds) among jobs claimable now (of `queue_name` only,
        if given); None if none is."""
        return self.backend.oldest_ready(self.clock.time(), queue_name=check_queue_filter(queue_name))

    def oldest_ready_age(self) -> float | None:
        """Seconds the oldest claimable job has been due; None when no job is ready."""
        oldest = self.oldest_ready()
        return None if oldest is None else max(0.0, self.clock.time() - oldest)

    def next_due(self) -> float | None:
        """When the earliest scheduled job becomes due (epoch seconds); None if none is scheduled."""
        return self.backend.next_due()

    def has_ready(self) -> bool:
        """Whether a job could be claimed now (a cheap read)."""
        return self.backend.has_ready(self.clock.time())

    def change_token(self) -> Any:
        """An opaque value that changes whenever another process commits to the queue."""
        return self.backend.change_token()

    def wait_until_empty(self, timeout: float | None = None, poll_interval: float = 0.05) -> bool:
        """Block until no job is pending or processing; False if `timeout` passed first."""
        # the deadline is read on the queue's own clock, so a FakeClock drives it in tests
        deadline = None if timeout is None else self.clock.monotonic() + check_seconds("timeout", timeout)
        while self.backend.count_live():
            if deadline is not None and self.clock.monotonic() >= deadline:
                return False
            time.sleep(poll_interval)
        return True

    # ── counts and stats ──
    def counts(self, shard_id: int | None = None, *, queue_name: str | None = None) -> dict[str, int]:
        """Jobs per status now (`pending` includes `scheduled`), plus `dead_letter`; of one
        named queue's jobs if `queue_name` is given."""
        return self.backend.counts(self.clock.time(), shard_id, queue_name=check_queue_filter(queue_name))

    def shard_stats(self, shard_id: int) -> dict[str, Any]:
        """One shard's counts and what the backend records about it (path, version, totals)."""
        return self.backend.shard_stats(shard_id, self.clock.time())

    def event_metrics(self, since: float | None = None, name: str | None = None) -> list[MetricRow]:
        """Persisted event metrics: the all-time totals (`since` None), or the per-minute rows
        from `since` (epoch seconds) on, of metric `name` only if given ("attempt", "failure",
        "enqueued", "duration", "wait"). See `MetricRow`; `queue_max.metrics` renders them."""
        if since is not None:
            since = check_seconds("since", since)
        if name is not None and name not in METRIC_NAMES:
            raise ConfigError(f"name must be one of {', '.join(METRIC_NAMES)} or None, got {name!r}")
        return self.backend.event_metrics(since, name)

    def list_schedules(self) -> list[dict[str, Any]]:
        """Every periodic schedule: name, next_run_at, last_run_at (epoch seconds), last_job_id."""
        return self.backend.list_schedules()

    def get_stats(self) -> dict[str, Any]:
        """Counts per status plus limiter and breaker state (the reference's keys, and more)."""
        counts = self.counts()
        breaker = self.breaker
        state = breaker.state
        limiter = self.limiter
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
            "uptime_seconds": self.clock.monotonic() - self.started,
            "is_healthy": state.value != "open",
            "queues": self.queue_stats(),
            "task_circuits": self.task_circuits(),
        }

    def task_circuits(self) -> dict[str, dict[str, Any]]:
        """The host-wide breakers of tasks that have their own (`@task(circuit_breaker_threshold=)`):
        by task name, its state and consecutive failures, from storage; a task this process
        registered shows its threshold too (None for one only seen in storage)."""
        own = task_breakers()
        stored = {scope.removeprefix("task:"): view
                  for scope, view in self.backend.flow_state(self.clock.time()).breakers.items()
                  if scope.startswith("task:")}
        return {name: {"circuit_state": view.state if view is not None else "closed",
                       "circuit_failures": view.failures if view is not None else 0,
                       "threshold": own[name].threshold if name in own else None}
                for name in sorted(set(own) | set(stored)) for view in [stored.get(name)]}

    def queue_stats(self) -> dict[str, dict[str, Any]]:
        """Per named queue: jobs per status, paused, circuit state and failures, limits in force."""
        now = self.clock.time()
        flow = self.backend.flow_state(now)
        counts = self.backend.queue_counts(now)
        names = sorted(set(counts) | set(flow.paused) | set(self.flow.limits)
                       | {scope.removeprefix("queue:") for scope in flow.breakers if scope.startswith("queue:")})
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
