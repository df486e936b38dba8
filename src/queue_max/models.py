"""Job value objects: Job, JobStatus, JobPriority, Lease and the records around them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum, IntEnum
from typing import Any, NamedTuple

__all__ = [
    "BreakerView",
    "DeadLetter",
    "FlowState",
    "ErrorInfo",
    "HISTOGRAM_BUCKETS",
    "JobProgress",
    "Job",
    "JobPriority",
    "JobQuery",
    "JobRef",
    "JobStatus",
    "Lease",
    "METRIC_OUTCOMES",
    "MetricRow",
    "NewJob",
    "RecoveryReport",
    "WorkerPresence",
    "iso_utc",
    "to_datetime",
]


class JobStatus(str, Enum):
    """Where a job is in its life."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class JobPriority(IntEnum):
    """The three named priority levels; any int from -100 to 100 is accepted."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2
    BAIXA = 0
    MEDIA = 1
    ALTA = 2


def iso_utc(epoch: float | None) -> str | None:
    """An epoch float as an ISO-8601 string with an explicit UTC offset."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def to_datetime(epoch: float | None) -> datetime | None:
    """An epoch float as an aware UTC datetime."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc)


class JobRef(NamedTuple):
    """Where a stored job lives: its global id and its shard; `created` is False when a dedupe
    key matched a live job and no new job was written."""

    id: int
    shard_id: int
    created: bool = True

    def as_dict(self) -> dict[str, int]:
        return {"id": self.id, "shard_id": self.shard_id}


class Lease(NamedTuple):
    """Proof that a worker holds a job: the job id plus the fencing token of that claim."""

    job_id: int
    shard_id: int
    token: int
    worker_id: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure as storage keeps it."""

    type: str
    message: str
    traceback: str | None = None
    attempt: int | None = None  # which attempt failed (set when read back from storage)
    worker_id: str | None = None
    failed_at: float | None = None


class NewJob(NamedTuple):
    """A validated job ready to be written: the payload is already JSON text.

    A named tuple because batches build a hundred thousand of these per call."""

    payload_json: str
    priority: int = 0
    max_attempts: int = 4
    run_at: float | None = None
    shard_key: int | None = None
    dedupe_key: str | None = None
    trace: str | None = None  # W3C trace context (JSON) of the enqueueing span; kept beside the job
    queue_name: str = "default"
    concurrency_key: str | None = None
    # with a dedupe key: a job of that key completed this many seconds ago or less also counts
    dedupe_window: float | None = None


@dataclass(frozen=True, slots=True)
class JobProgress:
    """What a running handler last reported with `current_job().set_progress(fraction, message)`."""

    fraction: float  # from 0.0 to 1.0
    message: str | None = None


class BreakerView(NamedTuple):
    """One host-wide circuit breaker as storage holds it."""

    state: str  # "closed", "open" or "half_open"
    failures: int  # consecutive failures, from every process
    opened_at: float | None
    trial_until: float | None  # while half-open: when the one trial's claim lapses


@dataclass(frozen=True, slots=True)
class FlowState:
    """The host-wide flow-control state: paused queues, breakers, buckets and held slots."""

    paused: frozenset[str] = frozenset()
    breakers: dict[str, BreakerView] = field(default_factory=dict)
    tokens: dict[str, tuple[float, float]] = field(default_factory=dict)  # (tokens, as of when)
    slots: dict[str, int] = field(default_factory=dict)  # live slots per scope


# Upper bounds (seconds) of the job duration and wait histograms; "+Inf" is implied.
HISTOGRAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
# How an attempt ended, as the `outcome` label of queue_max_job_attempts_total.
METRIC_OUTCOMES = ("completed", "retry", "dead_letter", "timeout", "lease_lost")


@dataclass(frozen=True, slots=True)
class WorkerPresence:
    """One worker as its last heartbeat reported it: who and where it is, and what it does.

    Workers report at start, then at every heartbeat (`heartbeat_interval`), running jobs or
    not, and remove their record when they stop; a record whose heartbeat is older than
    `Queue.stale_worker_after` seconds belongs to a worker that died or hangs."""

    worker_id: str
    host: str
    pid: int
    kind: str  # the worker's class: "Worker", "AsyncWorker"
    queues: tuple[str, ...] | None  # the named queues it consumes, in order (None: every queue)
    concurrency: int
    running: int  # jobs its handlers are running now (prefetched ones not counted)
    started_at: float  # epoch seconds
    heartbeat_at: float  # epoch seconds

    def age(self, now: float) -> float:
        """Seconds since the last heartbeat (never negative)."""
        return max(0.0, now - self.heartbeat_at)


class MetricRow(NamedTuple):
    """One persisted per-minute event figure.

    `minute` is the epoch second the minute starts at (0 holds older minutes folded together);
    `name` is "enqueued", "attempt" (label: outcome), "failure" (label: error type), or
    "duration"/"wait" (label: a histogram bucket's upper bound, "+Inf", or "sum")."""

    minute: int
    queue: str
    task: str
    name: str
    label: str
    value: float


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A filter over stored jobs, newest first, with a keyset cursor (`before_id`).

    Every field left as None matches everything. `created_since`/`created_until` bound the
    enqueue time (epoch seconds, inclusive/exclusive); `payload_contains` is a substring of the
    payload's JSON text (a scan, so it runs under `time_budget` seconds)."""

    status: JobStatus | None = None
    task: str | None = None
    error_type: str | None = None
    shard_id: int | None = None
    created_since: float | None = None
    created_until: float | None = None
    payload_contains: str | None = None
    queue_name: str | None = None
    before_id: int | None = None
    time_budget: float = 2.0


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What a sweep of expired leases did."""

    requeued: int = 0
    buried: int = 0

    @property
    def total(self) -> int:
        return self.requeued + self.buried


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job that exhausted its retries or failed permanently."""

    id: int
    original_job_id: int
    shard_id: int
    payload: dict[str, Any]
    error: str | None
    error_type: str | None
    failed_at: float
    attempts: int
    error_stack: str | None = None
    queue_name: str = "default"  # the named queue of the job (last, so 0.1.1's positions hold)

    def as_dict(self) -> dict[str, Any]:
        """The reference's DLQ row shape (plus attempts, the traceback and the queue name)."""
        return {
            "id": self.id,
            "original_job_id": self.original_job_id,
            "payload": self.payload,
            "error": self.error,
            "error_type": self.error_type,
            "failed_at": iso_utc(self.failed_at),
            "shard_id": self.shard_id,
            "attempts": self.attempts,
            "error_stack": self.error_stack,
            "queue_name": self.queue_name,
        }


_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class _JobFields(NamedTuple):
    id: int
    shard_id: int
    payload: dict[str, Any]
    status: JobStatus
    priority_int: int
    tentativas: int
    max_tentativas: int
    created_ts: float
    run_ts: float
    lease_token: int = 0
    worker_id: str | None = None
    started_ts: float | None = None
    completed_ts: float | None = None
    lease_expires_ts: float | None = None
    last_error: str | None = None
    error_type: str | None = None
    error_stack: str | None = None
    pagina_id: int | None = None
    dedupe_key: str | None = None
    result: Any = None
    errors: tuple[ErrorInfo, ...] = ()
    queue_name: str = "default"
    concurrency_key: str | None = None


class Job(_JobFields):
    """One job as read from storage; an immutable snapshot.

    Times are epoch floats in the `*_ts` fields; the reference's `created_at` style
    properties give ISO-8601 UTC strings, and `enqueued_at`, `run_at`, `claimed_at`,
    `finished_at` give aware datetimes. (A named tuple underneath: a worker builds one per
    claimed job, and a tuple is several times cheaper to build than a frozen dataclass.)
    """

    __slots__ = ()

    # ── English aliases ──
    @property
    def attempts(self) -> int:
        return self.tentativas

    @property
    def max_attempts(self) -> int:
        return self.max_tentativas

    @property
    def shard_key(self) -> int | None:
        return self.pagina_id

    @property
    def status_str(self) -> str:
        """The status's value, e.g. "processing" (as in queue-max 0.1.1)."""
        return self.status.value

    @property
    def priority(self) -> int:
        try:
            return JobPriority(self.priority_int)
        except ValueError:
            return self.priority_int

    @property
    def lease(self) -> Lease:
        """The lease of the claim this snapshot was taken from."""
        return Lease(self.id, self.shard_id, self.lease_token, self.worker_id)

    # ── reference timestamps (ISO strings) ──
    @property
    def created_at(self) -> str:
        return iso_utc(self.created_ts)  # type: ignore[return-value]

    @property
    def started_at(self) -> str | None:
        return iso_utc(self.started_ts)

    @property
    def completed_at(self) -> str | None:
        return iso_utc(self.completed_ts)

    @property
    def next_retry_at(self) -> str | None:
        """When a retried job becomes claimable again; None unless a retry is pending."""
        if self.status is JobStatus.PENDING and self.tentativas > 0:
            return iso_utc(self.run_ts)
        return None

    # ── aware datetimes ──
    @property
    def enqueued_at(self) -> datetime:
        return to_datetime(self.created_ts)  # type: ignore[return-value]

    @property
    def run_at(self) -> datetime:
        return to_datetime(self.run_ts)  # type: ignore[return-value]

    @property
    def claimed_at(self) -> datetime | None:
        return to_datetime(self.started_ts)

    @property
    def finished_at(self) -> datetime | None:
        return to_datetime(self.completed_ts)

    @property
    def lease_expires_at(self) -> datetime | None:
        return to_datetime(self.lease_expires_ts)

    # ── convenience checks ──
    @property
    def is_pending(self) -> bool:
        return self.status is JobStatus.PENDING

    @property
    def is_scheduled(self) -> bool:
        """Pending, but not claimable before `run_at`."""
        return self.status is JobStatus.PENDING and self.run_ts > time.time()

    @property
    def is_processing(self) -> bool:
        return self.status is JobStatus.PROCESSING

    @property
    def is_completed(self) -> bool:
        return self.status is JobStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        return self.status is JobStatus.FAILED

    @property
    def is_cancelled(self) -> bool:
        return self.status is JobStatus.CANCELLED

    @property
    def is_terminal(self) -> bool:
        return self.status in _TERMINAL

    @property
    def can_retry(self) -> bool:
        return self.tentativas < self.max_tentativas

    @property
    def remaining_retries(self) -> int:
        return max(0, self.max_tentativas - self.tentativas)

    @property
    def age_seconds(self) -> float | None:
        return max(0.0, time.time() - self.created_ts)

    @property
    def processing_time_seconds(self) -> float | None:
        if self.started_ts is None:
            return None
        end = self.completed_ts if self.completed_ts is not None else time.time()
        return max(0.0, end - self.started_ts)

    def to_dict(self, *, history: bool = True) -> dict[str, Any]:
        """A JSON-ready view of the job (for CLIs, admin APIs and logs).

        `history=False` is for listings, whose jobs are read without their error history: the
        `errors` list is left out (rather than shown empty), and `last_error` / `error_type` say
        how the latest attempt failed."""
        data: dict[str, Any] = {
            "id": self.id,
            "shard_id": self.shard_id,
            "status": self.status.value,
            "priority": self.priority_int,
            "payload": self.payload,
            "attempts": self.tentativas,
            "max_attempts": self.max_tentativas,
            "worker_id": self.worker_id,
            "lease_token": self.lease_token,
            "created_at": self.created_at,
            "run_at": iso_utc(self.run_ts),
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "lease_expires_at": iso_utc(self.lease_expires_ts),
            "last_error": self.last_error,
            "error_type": self.error_type,
            "pagina_id": self.pagina_id,
            "dedupe_key": self.dedupe_key,
            "queue_name": self.queue_name,
            "concurrency_key": self.concurrency_key,
            "result": self.result,
        }
        if history:
            data["errors"] = [
                {"type": e.type, "message": e.message, "attempt": e.attempt,
                 "worker_id": e.worker_id, "failed_at": iso_utc(e.failed_at)}
                for e in self.errors
            ]
        return data
