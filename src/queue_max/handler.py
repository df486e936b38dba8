"""JobHandler: what runs a job, with its time limit and how its failures are retried."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ._validate import check_callable, check_seconds
from .errors import ConfigError
from .retry import RetryPolicy, _normalise_retry_on

__all__ = ["Handler", "JobHandler"]

Handler = Callable[[dict[str, Any]], Any]

_new = object.__new__
_set = object.__setattr__


@dataclasses.dataclass(frozen=True, slots=True)
class JobHandler:
    """`fn(payload)` runs the job; `timeout` (seconds) beats the worker's `job_timeout`;
    `policy` (a `RetryPolicy`) beats the queue's backoff; `retry_on` (exception types) narrows
    which failures are retried. None means "the worker's or the queue's"."""

    fn: Handler
    timeout: float | None = None
    policy: RetryPolicy | None = None
    retry_on: tuple[type[BaseException], ...] | None = None

    def __post_init__(self) -> None:
        check_callable("JobHandler fn", self.fn, optional=False)
        check_seconds("JobHandler timeout", self.timeout, optional=True, positive=True)
        if self.policy is not None and not isinstance(self.policy, RetryPolicy):
            raise ConfigError(f"JobHandler policy must be a RetryPolicy or None, got {self.policy!r:.60}")
        if self.retry_on is not None:
            object.__setattr__(self, "retry_on", _normalise_retry_on(self.retry_on))

    def __call__(self, payload: dict[str, Any]) -> Any:
        return self.fn(payload)

    @classmethod
    def checked(cls, fn: Handler, timeout: float | None, policy: RetryPolicy | None,
                retry_on: tuple[type[BaseException], ...] | None) -> JobHandler:
        """A handler from values already validated (a task's options): built once per task job,
        so it skips the checks of `__init__`."""
        handler = _new(cls)
        _set(handler, "fn", fn)
        _set(handler, "timeout", timeout)
        _set(handler, "policy", policy)
        _set(handler, "retry_on", retry_on)
        return handler

    @classmethod
    def of(cls, handler: JobHandler | Handler) -> JobHandler:
        """`handler` itself, or a plain callable with the worker's and the queue's defaults."""
        return handler if isinstance(handler, JobHandler) else cls(handler)

    def wrapped(self, wrapper: Callable[[Handler], Handler] | None) -> JobHandler:
        """The same handler with `fn` replaced by `wrapper(fn)` (e.g. run inside an app context)."""
        if wrapper is None:
            return self
        return dataclasses.replace(self, fn=wrapper(self.fn))

    def retry_delay(self, exc: BaseException, attempts: int) -> float | None:
        """This handler's backoff for a failure at attempt `attempts`; None = the queue's."""
        return None if self.policy is None else self.policy.delay_for(max(1, attempts))

