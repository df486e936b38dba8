"""The argument checks of every public entry point: one place, one wording for each kind of value.

Each raises `ConfigError` (a `ValueError`) naming the argument, what is allowed, and what was given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal, TypeVar, overload

from ._payload import check_queue_name
from .errors import ConfigError
from .models import JobStatus, WorkerPresence

__all__ = ["MAX_PAGE", "check_bool", "check_callable", "check_count", "check_instance", "check_job_ids",
           "check_limit", "check_page_size", "check_presences", "check_queue_filter", "check_seconds",
           "check_status", "check_unicode_id", "check_wait_timeout", "check_worker_id"]

T = TypeVar("T")

MAX_PAGE = 1000


@overload
def check_seconds(name: str, value: object, *, optional: Literal[False] = False, positive: bool = False,
                  unit: str = "seconds") -> float: ...


@overload
def check_seconds(name: str, value: object, *, optional: bool, positive: bool = False,
                  unit: str = "seconds") -> float | None: ...


def check_seconds(name: str, value: object, *, optional: bool = False, positive: bool = False,
                  unit: str = "seconds") -> float | None:
    """A finite number of `unit`, >= 0 (or > 0 with `positive`); None too when `optional`."""
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        bound = "> 0" if positive else ">= 0"
        extra = " or None" if optional else ""
        raise ConfigError(f"{name} must be a finite number of {unit} {bound}{extra}, got {value!r}")
    return float(value)


@overload
def check_count(name: str, value: object, low: int, high: int | None = None, *,
                optional: Literal[False] = False) -> int: ...


@overload
def check_count(name: str, value: object, low: int, high: int | None = None, *,
                optional: bool) -> int | None: ...


def check_count(name: str, value: object, low: int, high: int | None = None, *,
                optional: bool = False) -> int | None:
    """An int from `low` to `high` (or at least `low`); None too when `optional`."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"an int from {low} to {high}" if high is not None else f"an integer >= {low}"
        extra = " or None" if optional else ""
        raise ConfigError(f"{name} must be {allowed}{extra}, got {value!r}")
    return value


@overload
def check_bool(name: str, value: object, *, optional: Literal[False] = False) -> bool: ...


@overload
def check_bool(name: str, value: object, *, optional: bool) -> bool | None: ...


def check_bool(name: str, value: object, *, optional: bool = False) -> bool | None:
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        extra = " or None" if optional else ""
        raise ConfigError(f"{name} must be True or False{extra}, got {value!r}")
    return value


def check_callable(name: str, value: object, *, optional: bool = True) -> Any:
    if value is None and optional:
        return None
    if not callable(value):
        allowed = "a callable or None" if optional else "a callable"
        raise ConfigError(f"{name} must be {allowed}, got {type(value).__name__} {value!r:.60}")
    return value


def check_instance(name: str, value: object, kind: type[T], described: str) -> T:
    """An instance of `kind` (`described` says it to the caller: "a queue_max.Queue")."""
    if not isinstance(value, kind):
        raise ConfigError(f"{name} must be {described}, got {type(value).__name__} {value!r:.60}")
    return value


def check_worker_id(value: object) -> str:
    """A worker id of a worker object: a str with something besides spaces."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"worker_id must be a non-empty str, got {value!r}")
    return value


def check_unicode_id(name: str, value: object) -> str:
    """An id stored as text (a claiming worker's): a non-empty str that encodes to UTF-8 (no lone
    surrogates)."""
    if type(value) is not str or not value or not _utf8(value):
        raise ConfigError(f"{name} must be a non-empty str of valid Unicode, got {value!r}")
    return value


def _utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_wait_timeout(timeout: object) -> float | None:
    """How long `handle.get()` waits for a task's result: seconds >= 0, or None (forever)."""
    if isinstance(timeout, str):
        raise ConfigError(
            f"handle.get() waits for the task's result and takes a timeout in seconds, got {timeout!r}; "
            "for the job id use handle.id or handle['id']"
        )
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout >= 0):
        raise ConfigError(f"timeout must be a number of seconds >= 0 or None (wait forever), got {timeout!r}")
    return None if timeout is None else float(timeout)


def check_page_size(limit: object) -> int:
    """A page size of a search: an int from 1 to `MAX_PAGE`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ConfigError(f"limit must be an int from 1 to {MAX_PAGE}, got {limit!r}")
    return limit


def check_limit(limit: object) -> int:
    """A page size of a listing: an int >= 1."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"limit must be an int >= 1, got {limit!r}")
    return limit


def check_status(status: object) -> JobStatus | None:
    """A job status, as a `JobStatus` or its value; None for "any status"."""
    if status is None:
        return None
    allowed = [s.value for s in JobStatus]
    value = status.value if isinstance(status, JobStatus) else status
    if value not in allowed:
        raise ConfigError(f"status must be one of {', '.join(allowed)} or None, got {status!r}")
    return JobStatus(value)


def check_job_ids(job_ids: Iterable[int]) -> list[int]:
    """An iterable of int job ids (not a single id or a string), as a list."""
    if isinstance(job_ids, (str, bytes, int)):
        raise ConfigError(f"job_ids must be an iterable of job ids, got {job_ids!r}")
    ids = list(job_ids)
    for job_id in ids:
        if isinstance(job_id, bool) or not isinstance(job_id, int):
            raise ConfigError(f"job_ids must hold int job ids, got {job_id!r}")
    return ids


def check_queue_filter(name: object) -> str | None:
    """A named queue to filter by, or None for every queue."""
    return None if name is None else check_queue_name(name, ConfigError)


def check_presences(workers: object) -> list[WorkerPresence]:
    """A list of `WorkerPresence` values (what a worker reports of itself)."""
    if isinstance(workers, (str, bytes, WorkerPresence)) or not isinstance(workers, Iterable):
        raise ConfigError(f"workers must be a list of WorkerPresence, got {workers!r:.80}")
    found = list(workers)
    for worker in found:
        if not isinstance(worker, WorkerPresence):
            raise ConfigError(f"workers must hold WorkerPresence values, got {worker!r:.80}")
    return found
