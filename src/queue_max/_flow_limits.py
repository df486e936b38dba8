"""What host-wide flow control is configured with: queue and task limits, task breakers, scopes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ._validate import check_queue_name
from .errors import ConfigError
from .models import Job

__all__ = [
    "TASK_BREAKERS",
    "TASK_LIMITS",
    "Policy",
    "QueueLimits",
    "TaskBreaker",
    "TaskLimits",
    "breaker_scope",
    "check_limits",
    "check_queue_list",
    "set_task_breaker",
    "set_task_limits",
    "task_breakers",
    "task_of",
    "task_scope",
]

_TASK_KEY = "__task__"


class TaskLimits(NamedTuple):
    """A task's own host-wide limits (0 = none): jobs started per minute, and jobs of one
    concurrency key running at once (a keyed job of a task without one runs alone)."""

    per_minute: int = 0
    burst: int | None = None
    per_key: int = 0


# task name -> its limits; filled by @task, read by every Queue's claims (like the task registry)
TASK_LIMITS: dict[str, TaskLimits] = {}


def set_task_limits(name: str, limits: TaskLimits) -> None:
    """Record (or, with no limit, forget) the limits of the task registered as `name`."""
    if limits.per_minute or limits.per_key:
        TASK_LIMITS[name] = limits
    else:
        TASK_LIMITS.pop(name, None)


class TaskBreaker(NamedTuple):
    """A task's own host-wide circuit breaker: consecutive failures of its jobs that open it,
    and the seconds before one trial job runs (None: the Queue's circuit_breaker_timeout)."""

    threshold: int
    recovery_s: float | None = None


# task name -> its own breaker; filled by @task(circuit_breaker_threshold=...), read by claims and acks
TASK_BREAKERS: dict[str, TaskBreaker] = {}


def set_task_breaker(name: str, breaker: TaskBreaker | None) -> None:
    """Give the task registered as `name` its own breaker (None: its jobs count on their queue's)."""
    if breaker is None:
        TASK_BREAKERS.pop(name, None)
    else:
        TASK_BREAKERS[name] = breaker


def task_breakers() -> dict[str, TaskBreaker]:
    """The tasks of this process that have their own breaker, by name."""
    return dict(TASK_BREAKERS)


def breaker_scope(queue_name: str) -> str:
    return f"queue:{queue_name}"


def task_scope(task_name: str) -> str:
    return f"task:{task_name}"


def task_of(job: Job) -> str | None:
    """The name of the task whose envelope the job carries, or None (a plain payload)."""
    task = job.payload.get(_TASK_KEY) if type(job.payload) is dict else None
    return task if isinstance(task, str) else None


def _limit(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
        raise ConfigError(f"{name} must be an int from 0 (no limit) to 10**9, or None, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """Host-wide limits of one named queue; None means "the Queue's setting", 0 means none.

    `rate_limit` is in jobs started per minute, `rate_limit_burst` the most that may start at
    once (default: a minute's worth), `concurrency_limit` the most jobs of the queue running at
    once on the host."""

    rate_limit: int | None = None
    rate_limit_burst: int | None = None
    concurrency_limit: int | None = None

    def __post_init__(self) -> None:
        _limit("rate_limit", self.rate_limit)
        _limit("rate_limit_burst", self.rate_limit_burst)
        _limit("concurrency_limit", self.concurrency_limit)


@dataclass(frozen=True, slots=True)
class Policy:
    """The limits in force for one queue: per-second rate, burst and concurrency (0 = none)."""

    per_minute: int
    burst: int
    concurrency: int

    @property
    def limited(self) -> bool:
        return bool(self.per_minute or self.concurrency)

    def describe(self) -> str:
        parts = []
        if self.per_minute:
            parts.append(f"rate {self.per_minute}/min (burst {self.burst})")
        if self.concurrency:
            parts.append(f"at most {self.concurrency} running")
        return ", ".join(parts) or "no limit"


def check_queue_list(queues: object, what: str = "queues") -> tuple[str, ...] | None:
    """A worker's queue list: None (every queue) or a non-empty list of distinct valid names."""
    if queues is None:
        return None
    if isinstance(queues, str):
        queues = [part.strip() for part in queues.split(",")]
    if not isinstance(queues, (list, tuple)) or not queues:
        raise ConfigError(f"{what} must be a non-empty list of queue names or None (every queue), got {queues!r:.80}")
    names = tuple(check_queue_name(name, ConfigError) for name in queues)
    if len(set(names)) != len(names):
        raise ConfigError(f"{what} lists a queue twice: {list(names)!r}")
    return names


def check_limits(limits: object) -> dict[str, QueueLimits]:
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise ConfigError(f"queue_limits must map queue names to QueueLimits, got {limits!r:.80}")
    checked: dict[str, QueueLimits] = {}
    for name, value in limits.items():
        check_queue_name(name, ConfigError)
        if isinstance(value, Mapping):
            try:
                value = QueueLimits(**value)
            except TypeError as exc:
                raise ConfigError(f"queue_limits[{name!r}]: {exc}; allowed: rate_limit, "
                                  "rate_limit_burst, concurrency_limit") from None
        if not isinstance(value, QueueLimits):
            raise ConfigError(f"queue_limits[{name!r}] must be a QueueLimits or a dict, got {value!r:.80}")
        checked[name] = value
    return checked
