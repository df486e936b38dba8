"""The typed events: one pydantic (bubus) model per event of the queue's built-in emitter."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from bubus import BaseEvent

__all__ = [
    "Alert",
    "CircuitChanged",
    "DashboardAction",
    "EVENT_TYPES",
    "JobCancelled",
    "JobCompleted",
    "JobEnqueued",
    "JobEvent",
    "JobFailed",
    "JobReleased",
    "JobRetried",
    "JobStarted",
    "JobsRecovered",
    "QueueEvent",
    "QueuePaused",
    "snake_name",
]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_name(event_type: str) -> str:
    """`JobCompleted` -> `job_completed`: the name wildcard patterns match besides the class name."""
    return _CAMEL.sub("_", event_type).lower()


class QueueEvent(BaseEvent[None]):  # type: ignore[misc]  # bubus ships no type hints
    """Base of the events a `QueueEventBus` dispatches.

    `queue_event` is the built-in emitter's name for the event (`queue.on("job_completed", ...)`)
    and `arg_fields` the model fields filled, in order, from that event's positional arguments.
    """

    queue_event: ClassVar[str] = ""
    arg_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_args(cls, args: tuple[Any, ...]) -> QueueEvent:
        """The typed event for the positional arguments the queue emitted."""
        return cls(**dict(zip(cls.arg_fields, args, strict=True)))


class JobEvent(QueueEvent):
    """Something happened to one job."""

    job_id: int
    shard_id: int

    arg_fields: ClassVar[tuple[str, ...]] = ("job_id", "shard_id")


class JobEnqueued(JobEvent):
    """A job was stored (not emitted when a dedupe key matched a live job)."""

    queue_event: ClassVar[str] = "job_enqueued"


class JobStarted(JobEvent):
    """A worker leased the job and is about to run it."""

    worker_id: str

    queue_event: ClassVar[str] = "job_started"
    arg_fields: ClassVar[tuple[str, ...]] = ("job_id", "shard_id", "worker_id")


class JobCompleted(JobEvent):
    """The job finished; its result is stored with it."""

    queue_event: ClassVar[str] = "job_completed"


class JobFailed(JobEvent):
    """The job failed for good and went to the dead-letter queue (permanent error or no retry left)."""

    error: str

    queue_event: ClassVar[str] = "job_failed"
    arg_fields: ClassVar[tuple[str, ...]] = ("job_id", "shard_id", "error")


class JobRetried(JobEvent):
    """An attempt failed and the job will run again after its backoff."""

    error: str

    queue_event: ClassVar[str] = "job_retried"
    arg_fields: ClassVar[tuple[str, ...]] = ("job_id", "shard_id", "error")


class JobCancelled(JobEvent):
    """A pending job was cancelled before it ran."""

    queue_event: ClassVar[str] = "job_cancelled"


class JobReleased(JobEvent):
    """A worker gave a leased job back untouched (shutdown); another worker can take it at once."""

    queue_event: ClassVar[str] = "job_released"


class JobsRecovered(QueueEvent):
    """A sweep found jobs whose worker died: `requeued` run again, `buried` went to the dead letters."""

    requeued: int
    buried: int

    queue_event: ClassVar[str] = "jobs_recovered"
    arg_fields: ClassVar[tuple[str, ...]] = ("requeued", "buried")


class Alert(QueueEvent):
    """More than `threshold` jobs are pending (`alert_type` "QUEUE_SIZE")."""

    alert_type: str
    pending: int
    threshold: int

    queue_event: ClassVar[str] = "alert"
    arg_fields: ClassVar[tuple[str, ...]] = ("alert_type", "pending", "threshold")


class DashboardAction(QueueEvent):
    """Someone changed the queue from the web dashboard (the audit trail): `action` such as
    "dlq_requeue", `actor` as the dashboard identified them, and the action's `detail`."""

    action: str
    actor: str
    detail: dict[str, Any]

    queue_event: ClassVar[str] = "dashboard_action"
    arg_fields: ClassVar[tuple[str, ...]] = ("action", "actor", "detail")


class CircuitChanged(QueueEvent):
    """A named queue's host-wide circuit breaker changed state ("closed", "open", "half_open");
    emitted by the process whose job outcome or claim made the change."""

    queue_name: str
    old_state: str
    new_state: str

    queue_event: ClassVar[str] = "circuit_changed"
    arg_fields: ClassVar[tuple[str, ...]] = ("queue_name", "old_state", "new_state")


class TaskCircuitChanged(QueueEvent):
    """The host-wide circuit breaker of a task with its own `circuit_breaker_threshold` changed
    state; emitted by the process whose job outcome or claim made the change."""

    task_name: str
    old_state: str
    new_state: str

    queue_event: ClassVar[str] = "task_circuit_changed"
    arg_fields: ClassVar[tuple[str, ...]] = ("task_name", "old_state", "new_state")


class QueuePaused(QueueEvent):
    """A named queue was paused (`paused` True) or resumed (False) through this process."""

    queue_name: str
    paused: bool

    queue_event: ClassVar[str] = "queue_paused"
    arg_fields: ClassVar[tuple[str, ...]] = ("queue_name", "paused")


# the built-in emitter's event name -> its typed event
EVENT_TYPES: dict[str, type[QueueEvent]] = {
    cls.queue_event: cls
    for cls in (JobEnqueued, JobStarted, JobCompleted, JobFailed, JobRetried, JobCancelled,
                JobReleased, JobsRecovered, Alert, DashboardAction, CircuitChanged, TaskCircuitChanged,
                QueuePaused)
}
