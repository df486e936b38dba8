"""The argument checks of every public entry point: one place, one wording for each kind of value.

Each raises `ConfigError` (a `ValueError`) naming the argument, what is allowed, and what was given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ._payload import check_queue_name
from .errors import ConfigError
from .models import JobStatus, WorkerPresence

__all__ = ["check_bool", "check_callable", "check_count", "check_job_ids", "check_limit", "check_presences",
           "check_queue_filter", "check_seconds", "check_status"]


def check_seconds(name: str, value: object, *, optional: bool = False, positive: bool = False,
                  unit: str = "seconds") -> Any:
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


def check_count(name: str, value: object, low: int, high: int | None = None, *, optional: bool = False) -> Any:
    """An int from `low` to `high` (or at least `low`); None too when `optional`."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"an int from {low} to {high}" if high is not None else f"an integer >= {low}"
        extra = " or None" if optional else ""
        raise ConfigError(f"{name} must be {allowed}{extra}, got {value!r}")
    return value


def check_bool(name: str, value: object, *, optional: bool = False) -> Any:
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
