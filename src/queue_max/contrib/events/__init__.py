"""Typed events with bubus: the queue's events as pydantic models on an async event bus.

    from queue_max.contrib.events import JobCompleted, QueueEventBus

    with QueueEventBus(queue) as events:
        @events.on(JobCompleted)
        def done(event: JobCompleted) -> None: ...

Needs `pip install queue-max[events]`. See docs/events.md.
"""

from .bus import EventTimeout, QueueEventBus
from .models import (
    EVENT_TYPES,
    Alert,
    CircuitChanged,
    DashboardAction,
    JobCancelled,
    JobCompleted,
    JobEnqueued,
    JobEvent,
    JobFailed,
    JobReleased,
    JobRetried,
    JobsRecovered,
    JobStarted,
    QueueEvent,
    QueuePaused,
)

__all__ = [
    "Alert",
    "CircuitChanged",
    "DashboardAction",
    "EVENT_TYPES",
    "EventTimeout",
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
    "QueueEventBus",
    "QueuePaused",
]
