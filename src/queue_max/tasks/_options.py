"""Task and per-call options: their names, their validation, and their resolved values."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from .._payload import DEFAULT_QUEUE
from .._validate import MAX_PRIORITY, MIN_PRIORITY, check_queue_name, check_seconds
from ..errors import ConfigError, InvalidPayload
from ..retry import RetryPolicy

if TYPE_CHECKING:
    from ..queue import Queue

__all__ = [
    "CALL_OPTIONS",
    "CallOptions",
    "TASK_OPTIONS",
    "TaskOptions",
    "TaskOptionsDict",
    "check_call_options",
    "check_task_options",
]


class TaskOptionsDict(TypedDict, total=False):
    """The keyword options of `@task(...)` (for type checkers; see `TaskOptions`)."""

    name: str
    priority: int
    max_retries: int | None
    timeout: float | None
    queue: Queue | None
    retry_on: type[BaseException] | Iterable[type[BaseException]] | None
    retry_backoff: float | None
    retry_backoff_max: float | None
    rate_limit: int | None
    retry_delay: float | None
    on_success: Callable[[Any], Any] | None
    on_failure: Callable[[BaseException], Any] | None
    version: int
    queue_name: str
    rate_limit_burst: int | None
    concurrency_key: Callable[..., Any] | None
    concurrency_limit: int | None
    circuit_breaker_threshold: int | None
    circuit_breaker_timeout: float | None


class CallOptions(TypedDict, total=False):
    """The keyword options of `task.with_options(...)`, applied to one enqueue."""

    priority: int
    max_retries: int
    delay: float
    run_at: datetime
    dedupe_key: str
    dedupe_window: float
    shard_key: int
    queue: Queue
    queue_name: str
    concurrency_key: str


TASK_OPTIONS = frozenset(TaskOptionsDict.__annotations__)
CALL_OPTIONS = frozenset(CallOptions.__annotations__)


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """A task's validated defaults; `None` means "the queue's setting"."""

    priority: int = 0
    max_retries: int | None = None
    timeout: float | None = None
    queue: Queue | None = None
    retry_on: tuple[type[BaseException], ...] | None = None
    retry_backoff: float | None = None
    retry_backoff_max: float | None = None
    rate_limit: int | None = None  # jobs of this task started per minute, host-wide
    on_success: Callable[[Any], Any] | None = None
    on_failure: Callable[[BaseException], Any] | None = None
    version: int = 1
    queue_name: str = DEFAULT_QUEUE
    rate_limit_burst: int | None = None
    concurrency_key: Callable[..., Any] | None = None  # the task's arguments -> a key
    concurrency_limit: int | None = None  # jobs of one key running at once, host-wide
    # the task's own host-wide breaker: consecutive failures that open it (None: its queue's
    # breaker counts its jobs), and seconds before its one trial (None: the Queue's timeout)
    circuit_breaker_threshold: int | None = None
    circuit_breaker_timeout: float | None = None

    def retry_policy(self) -> RetryPolicy | None:
        """The task's own backoff, or None when it uses the queue's."""
        if self.retry_backoff is None and self.retry_backoff_max is None:
            return None
        base = 120.0 if self.retry_backoff is None else self.retry_backoff
        cap = max(base, 3600.0) if self.retry_backoff_max is None else self.retry_backoff_max
        return RetryPolicy(backoff_base=base, backoff_max=cap)

    def with_(self, **changes: Any) -> TaskOptions:
        return replace(self, **changes)


def _unknown(where: str, given: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ConfigError(
            f"{where} got unknown option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def _seconds(where: str, name: str, value: object, *, positive: bool) -> float | None:
    seconds: float | None = check_seconds(f"{where}: {name}", value, optional=True, positive=positive)
    return seconds


def _retry_on(where: str, value: object) -> tuple[type[BaseException], ...] | None:
    if value is None:
        return None
    types = (value,) if isinstance(value, type) else value
    if isinstance(types, (str, bytes, Mapping)) or not isinstance(types, Iterable):
        raise ConfigError(f"{where}: retry_on must be an exception type or a list of them, got {value!r}")
    result = tuple(types)
    for t in result:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise ConfigError(f"{where}: retry_on must hold exception types, got {t!r} in {value!r}")
    return result


def _priority(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise ConfigError(
            f"{where}: priority must be an int from {MIN_PRIORITY} to {MAX_PRIORITY} "
            f"(0 low, 1 medium, 2 high), got {value!r}"
        )
    return int(value)


def _max_retries(where: str, value: object) -> int | None:
    if value is not None and (type(value) is not int or not 0 <= value <= 1000):
        raise ConfigError(f"{where}: max_retries must be an int from 0 to 1000 (0 = never retry) "
                          f"or None (the queue's setting), got {value!r}")
    return value


def _queue(where: str, value: object) -> Queue | None:
    from ..queue import Queue

    if value is not None and not isinstance(value, Queue):
        raise ConfigError(f"{where}: queue must be a queue_max.Queue or None, got {value!r:.80}")
    return value


def _key_function(where: str, value: object) -> Callable[..., Any] | None:
    if value is not None and not callable(value):
        raise ConfigError(f"{where}: concurrency_key must be a function of the task's arguments that "
                          f"returns the key (lambda customer_id, **_: customer_id), got {value!r:.80}")
    return value


def check_task_options(where: str, given: Mapping[str, Any]) -> TaskOptions:
    """Validate the options of a task decorator (everything but `name`)."""
    _unknown(where, given, TASK_OPTIONS)
    base = _seconds(where, "retry_backoff", given.get("retry_backoff"), positive=False)
    delay = _seconds(where, "retry_delay", given.get("retry_delay"), positive=False)
    if delay is not None:  # queue-max 0.1.1's name for the base of the task's backoff
        if base is not None and base != delay:
            raise ConfigError(f"{where}: retry_delay ({delay}) and retry_backoff ({base}) name the same "
                              "setting; give one")
        base = delay
    cap = _seconds(where, "retry_backoff_max", given.get("retry_backoff_max"), positive=False)
    if base is not None and cap is not None and cap < base:
        raise ConfigError(f"{where}: retry_backoff_max ({cap}) must be >= retry_backoff ({base})")
    threshold = _count(where, "circuit_breaker_threshold", given.get("circuit_breaker_threshold"),
                       "consecutive failures that open the task's own breaker, or None")
    recovery = _seconds(where, "circuit_breaker_timeout", given.get("circuit_breaker_timeout"), positive=True)
    if recovery is not None and threshold is None:
        raise ConfigError(f"{where}: circuit_breaker_timeout ({recovery}) applies to the task's own breaker; "
                          "give circuit_breaker_threshold too")
    return TaskOptions(
        priority=_priority(where, given.get("priority", 0)),
        max_retries=_max_retries(where, given.get("max_retries")),
        timeout=_seconds(where, "timeout", given.get("timeout"), positive=True),
        queue=_queue(where, given.get("queue")),
        retry_on=_retry_on(where, given.get("retry_on")),
        retry_backoff=base,
        retry_backoff_max=cap,
        rate_limit=_count(where, "rate_limit", given.get("rate_limit"), "jobs per minute, or None"),
        on_success=_callback(where, "on_success", given.get("on_success")),
        on_failure=_callback(where, "on_failure", given.get("on_failure")),
        version=_count(where, "version", given.get("version", 1), "") or 1,
        queue_name=check_queue_name(given.get("queue_name", DEFAULT_QUEUE), ConfigError),
        rate_limit_burst=_count(where, "rate_limit_burst", given.get("rate_limit_burst"), "jobs, or None"),
        concurrency_key=_key_function(where, given.get("concurrency_key")),
        concurrency_limit=_count(where, "concurrency_limit", given.get("concurrency_limit"), "jobs, or None"),
        circuit_breaker_threshold=threshold,
        circuit_breaker_timeout=recovery,
    )


def _count(where: str, name: str, value: object, what: str) -> int | None:
    if value is None and what:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: {name} must be an int >= 1{' (' + what + ')' if what else ''}, got {value!r}")
    return value


def _callback(where: str, name: str, value: object) -> Any:
    if value is not None and not callable(value):
        raise ConfigError(f"{where}: {name} must be a callable or None, got {value!r:.60}")
    return value


def check_call_options(where: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Check the names of per-call options; their values are checked where the job is built."""
    _unknown(where, given, CALL_OPTIONS)
    if "queue" in given:
        _queue(where, given["queue"])
    if "queue_name" in given:
        check_queue_name(given["queue_name"], InvalidPayload)
    if "delay" in given and "run_at" in given:
        raise InvalidPayload(f"{where}: give either delay= or run_at=, not both")
    return dict(given)
