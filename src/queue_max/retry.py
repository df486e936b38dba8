"""The retry policy: backoff delays, and which failures get another attempt (by exception type).

Classification never reads the error message. Non-retryable ("permanent") are: `Permanent`
raised by a task, and HTTP client errors 4xx other than 429 from `requests.HTTPError` (status of
its `.response`) or `urllib.error.HTTPError` (its `.code`). Everything else is retryable,
including 429, 5xx, timeouts, connection errors and exception types this module does not know
(ValueError, KeyError, ...): the reference README retries unknown errors, and `retry_on` or
`Permanent` narrow it. `requests` is optional; it is never imported here.
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
import threading
import traceback
import urllib.error
from collections.abc import Iterable

from queue_max._validate import check_seconds
from queue_max.errors import ConfigError

__all__ = [
    "Permanent",
    "Retry",
    "RetryDecision",
    "RetryPolicy",
    "decide",
    "error_info",
    "is_retryable_error",
]

# Past 2**64 any base exceeds any sane cap; bounding it keeps 2.0**n from overflowing.
_MAX_DOUBLINGS = 64


class Permanent(Exception):
    """Raised by a task to say retrying cannot help: the job goes to the dead-letter queue."""


class Retry(Exception):
    """Raised by a task to ask for another attempt, after `delay` seconds (None: the backoff).

    The job's attempt limit still applies.
    """

    def __init__(self, delay: float | None = None, message: str = "") -> None:
        if delay is not None and (
            isinstance(delay, bool)
            or not isinstance(delay, (int, float))
            or not (delay >= 0 and math.isfinite(delay))
        ):
            raise ConfigError(
                f"Retry delay must be a finite number of seconds >= 0 or None, got {delay!r}"
            )
        self.delay = None if delay is None else float(delay)
        self.message = message
        super().__init__(message or ("retry requested" if delay is None else f"retry in {delay}s"))


@dataclasses.dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do with a failed job: retry after `delay` seconds, or not; `reason` says why."""

    retry: bool
    delay: float
    reason: str


class RetryPolicy:
    """Exponential backoff: `backoff_base * 2**(retry_number - 1)`, capped, then jittered.

    The cap applies before the jitter, so delays at the cap still spread out (no herd of retries
    at the same instant): every delay lies in `[0, backoff_max * (1 + jitter)]`. `rng` is any
    object with `uniform(a, b)` (a seeded `random.Random` in tests); each policy owns its own.
    """

    def __init__(
        self,
        *,
        backoff_base: float = 120.0,
        backoff_max: float = 3600.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.backoff_base = check_seconds("backoff_base", backoff_base)
        self.backoff_max = check_seconds("backoff_max", backoff_max)
        if self.backoff_max < self.backoff_base:
            raise ConfigError(
                f"backoff_max must be >= backoff_base ({backoff_base!r}), got {backoff_max!r}"
            )
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0 <= jitter <= 1:
            raise ConfigError(f"jitter must be a fraction between 0 and 1, got {jitter!r}")
        self.jitter = float(jitter)
        self._rng = rng if rng is not None else random.Random()
        self._lock = threading.Lock()

    def delay_for(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (1 for the first retry)."""
        if isinstance(retry_number, bool) or not isinstance(retry_number, int) or retry_number < 1:
            raise ConfigError(f"retry_number must be an integer >= 1, got {retry_number!r}")
        doublings = min(retry_number - 1, _MAX_DOUBLINGS)
        delay = min(self.backoff_base * 2.0**doublings, self.backoff_max)
        if self.jitter:
            with self._lock:
                delay *= 1.0 + self._rng.uniform(-self.jitter, self.jitter)
        return min(max(0.0, delay), self.backoff_max * (1.0 + self.jitter))

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(backoff_base={self.backoff_base}, backoff_max={self.backoff_max}, "
            f"jitter={self.jitter})"
        )


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status an HTTP-error exception carries, or None if `exc` is not one."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code if isinstance(exc.code, int) else None
    # If requests was never imported, `exc` cannot be one of its exceptions.
    requests_exceptions = sys.modules.get("requests.exceptions")
    if requests_exceptions is not None and isinstance(exc, requests_exceptions.HTTPError):
        status = getattr(exc.response, "status_code", None)
        return status if isinstance(status, int) else None
    return None


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, ConnectionError, urllib.error.URLError)):
        return True
    requests_exceptions = sys.modules.get("requests.exceptions")
    return requests_exceptions is not None and isinstance(
        exc, (requests_exceptions.Timeout, requests_exceptions.ConnectionError)
    )


def _classify(exc: BaseException) -> tuple[bool, str]:
    """(retryable, why) for `exc`, by its type and, for HTTP errors, its status code."""
    name = type(exc).__name__
    if isinstance(exc, Permanent):
        return False, f"{name} is Permanent"
    if isinstance(exc, Retry):
        return True, "the task raised Retry"
    status = _http_status(exc)
    if status is not None:
        if status == 429:
            return True, "HTTP 429 Too Many Requests is retryable"
        if 400 <= status < 500:
            return False, f"HTTP {status} is a client error and permanent"
        if 500 <= status < 600:
            return True, f"HTTP {status} is a server error and retryable"
        return True, f"HTTP {status} is retryable by default"
    if _is_network_error(exc):
        return True, f"{name} is a timeout or connection error and retryable"
    return True, f"{name} is retryable by default"


def is_retryable_error(exc: BaseException) -> bool:
    """Whether another attempt may succeed where `exc` was raised; see the module docstring."""
    return _classify(exc)[0]


def _normalise_retry_on(
    retry_on: type[BaseException] | Iterable[type[BaseException]],
) -> tuple[type[BaseException], ...]:
    types = (retry_on,) if isinstance(retry_on, type) else tuple(retry_on)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise ConfigError(f"retry_on must hold exception types, got {t!r} in {retry_on!r}")
    return types


def decide(
    exc: BaseException,
    attempts: int,
    max_attempts: int,
    policy: RetryPolicy,
    *,
    retry_on: type[BaseException] | Iterable[type[BaseException]] | None = None,
    delay: float | None = None,
) -> RetryDecision:
    """Whether a job whose attempt number `attempts` raised `exc` runs again, and when: the one
    place where retries are decided, in this order.

    1. `Permanent` and permanent HTTP errors never retry.
    2. No decision exceeds `max_attempts` (every attempt counts: max_retries + 1).
    3. `Retry(delay=...)` retries after its own delay, whatever `retry_on` says.
    4. `retry_on`, when given, retries only those types.
    5. The delay is `delay` when the caller gives one (a per-failure override), else `policy`'s
       backoff for this attempt (a task's own policy, or the queue's).
    """
    for name, value in (("attempts", attempts), ("max_attempts", max_attempts)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    retry_types = None if retry_on is None else _normalise_retry_on(retry_on)
    retryable, why = _classify(exc)
    if not retryable:
        return RetryDecision(False, 0.0, why)
    if attempts >= max_attempts:
        return RetryDecision(False, 0.0, f"attempts exhausted ({attempts} of {max_attempts})")
    if isinstance(exc, Retry) and exc.delay is not None:
        return RetryDecision(True, exc.delay, why)
    if retry_types is not None and not isinstance(exc, (Retry, *retry_types)):
        return RetryDecision(False, 0.0, f"{type(exc).__name__} is not in retry_on")
    return RetryDecision(True, policy.delay_for(attempts) if delay is None else delay, why)


def error_info(exc: BaseException) -> tuple[str, str, str]:
    """(type name, message, formatted traceback) of `exc`, for storing with the failed job."""
    cls = type(exc)
    name = cls.__qualname__
    if cls.__module__ != "builtins":
        name = f"{cls.__module__}.{name}"
    return name, str(exc), "".join(traceback.format_exception(exc))
