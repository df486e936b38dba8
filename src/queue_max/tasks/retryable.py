"""`@retryable_task`: a task whose direct call retries in-process, with backoff, on failure."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ParamSpec, TypedDict, TypeVar, overload

from typing_extensions import Unpack

from ..errors import ConfigError
from ..retry import RetryPolicy, decide
from ._options import check_task_options
from .task import Task, make_task

if TYPE_CHECKING:
    from ..queue import Queue

__all__ = ["RetryableOptionsDict", "RetryableTask", "retryable_task"]

log = logging.getLogger("queue_max.tasks")

P = ParamSpec("P")
R = TypeVar("R")

# in-process retries wait seconds, not the minutes a queued retry may wait
_LOCAL_BACKOFF, _LOCAL_BACKOFF_MAX = 1.0, 30.0


class RetryableOptionsDict(TypedDict, total=False):
    """The options of `@retryable_task` besides max_retries, retry_on and sleep."""

    name: str
    priority: int
    timeout: float | None
    queue: Queue | None
    retry_backoff: float | None
    retry_backoff_max: float | None


class RetryableTask(Task[P, R]):
    """Calling it retries the function in this thread; `.delay()` enqueues it like any task,
    and the worker retries the job (same `max_retries` and `retry_on`) instead."""

    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        self.stats.count("calls")
        o = self.options
        policy = o.retry_policy() or RetryPolicy(backoff_base=_LOCAL_BACKOFF, backoff_max=_LOCAL_BACKOFF_MAX)
        attempts = 1 + (3 if o.max_retries is None else o.max_retries)
        attempt = 1
        while True:
            try:
                return self.fn(*args, **kwargs)
            except Exception as exc:
                verdict = decide(exc, attempt, attempts, policy, retry_on=o.retry_on)
                if not verdict.retry:
                    raise
                log.info("%s attempt %d of %d failed (%s: %s); retrying in %.2fs",
                         self.name, attempt, attempts, type(exc).__name__, exc, verdict.delay)
                self.sleep(verdict.delay)
                attempt += 1


@overload
def retryable_task(fn: Callable[P, R], /) -> RetryableTask[P, R]: ...


@overload
def retryable_task(
    fn: None = None,
    /,
    *,
    max_retries: int = 3,
    retry_on: type[BaseException] | Iterable[type[BaseException]] | None = None,
    sleep: Callable[[float], None] | None = None,
    **options: Unpack[RetryableOptionsDict],
) -> Callable[[Callable[P, R]], RetryableTask[P, R]]: ...


def retryable_task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    max_retries: int = 3,
    retry_on: Any = None,
    sleep: Callable[[float], None] | None = None,
    **options: Any,
) -> Any:
    """Register a task whose direct call is retried up to `max_retries` times in-process.

    Retries follow `retry_on` (exception types; None = every retryable error), `Permanent`
    and `Retry(delay=...)`, with the task's backoff (`retry_backoff`, default 1s doubling up
    to 30s, jittered). Takes the other options of `@task`. `sleep` replaces `time.sleep`.
    """
    if sleep is not None and not callable(sleep):
        raise ConfigError(f"@retryable_task: sleep must be a callable taking seconds, got {sleep!r}")
    given: dict[str, Any] = {**options, "max_retries": max_retries, "retry_on": retry_on}
    check_task_options("@retryable_task", {k: v for k, v in given.items() if k != "name"})
    extra = {} if sleep is None else {"sleep": sleep}
    if fn is not None:
        return make_task(fn, given, "@retryable_task", RetryableTask, **extra)

    def decorate(func: Callable[P, R]) -> RetryableTask[P, R]:
        built: RetryableTask[P, R] = make_task(func, given, "@retryable_task", RetryableTask, **extra)
        return built

    return decorate
