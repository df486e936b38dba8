"""The argument checks of every public entry point: one place, one wording for each kind of value.

Each raises a `ValueError` naming the argument, what is allowed, and what was given: `ConfigError`
for settings and call arguments, `InvalidPayload` for a job's own options (priority, keys, queue
name), `InvalidProgress` for a progress report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, Literal, TypeVar, overload

from ._json import dumps
from .errors import ConfigError, InvalidPayload, InvalidProgress, QueueMaxError
from .models import JobProgress, JobStatus, WorkerPresence

__all__ = ["MAX_PAGE", "MAX_PRIORITY", "MAX_QUEUE_NAME", "MIN_PRIORITY", "check_bool", "check_callable",
           "check_concurrency_key", "check_count", "check_dedupe_key", "check_dedupe_window", "check_instance",
           "check_job_ids", "check_limit", "check_max_retries", "check_page_size", "check_presences",
           "check_priority", "check_progress", "check_queue_filter", "check_queue_name", "check_seconds",
           "check_shard_key", "check_status", "check_unicode_id", "check_wait_timeout", "check_worker_id"]

T = TypeVar("T")

MAX_PAGE = 1000
MIN_PRIORITY = -100
MAX_PRIORITY = 100
MAX_DEDUPE_KEY = 512
MAX_QUEUE_NAME = 64
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,%d}" % (MAX_QUEUE_NAME - 1), re.ASCII)
MAX_PROGRESS_MESSAGE = 1000


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


# ── a job's own options ──
def check_priority(priority: object) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidPayload(
            f"priority must be an int from {MIN_PRIORITY} to {MAX_PRIORITY} "
            f"(0 low, 1 medium, 2 high), got {dumps(priority)} {priority!r}"
        )
    value = int(priority)
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise InvalidPayload(
            f"priority must be an int from {MIN_PRIORITY} to {MAX_PRIORITY} "
            f"(0 low, 1 medium, 2 high), got {value}"
        )
    return value


def check_max_retries(max_retries: object) -> int:
    if type(max_retries) is not int or max_retries < 0 or max_retries > 1000:
        raise InvalidPayload(
            f"max_retries must be an int from 0 to 1000 (0 = never retry), got {max_retries!r}"
        )
    return max_retries


def check_shard_key(pagina_id: object) -> int | None:
    if pagina_id is None:
        return None
    if type(pagina_id) is not int or pagina_id < 0:
        raise InvalidPayload(
            f"pagina_id (shard key) must be a non-negative int or None, got {pagina_id!r}"
        )
    return pagina_id


def check_queue_name(name: object, error: type[QueueMaxError] = InvalidPayload) -> str:
    """A queue name: 1 to 64 ASCII letters, digits, `_`, `-`, `.` or `:`, starting with a letter
    or a digit (safe in file names, URLs, log lines and command lines)."""
    if type(name) is str and QUEUE_NAME.fullmatch(name):
        return name
    raise error(
        f"queue_name must be 1 to {MAX_QUEUE_NAME} characters of ASCII letters, digits, '_', '-', "
        f"'.' or ':', starting with a letter or digit; got {name!r:.80}"
    )


def check_concurrency_key(key: object) -> str | None:
    if key is None:
        return None
    if type(key) is not str or not key or len(key) > MAX_DEDUPE_KEY or not key.isprintable():
        raise InvalidPayload(
            f"concurrency_key must be a non-empty printable str of at most {MAX_DEDUPE_KEY} "
            f"characters or None, got {key!r:.80}"
        )
    return key


def check_dedupe_key(key: object) -> str | None:
    if key is None:
        return None
    if type(key) is not str or not key or len(key) > MAX_DEDUPE_KEY:
        raise InvalidPayload(
            f"dedupe_key must be a non-empty str of at most {MAX_DEDUPE_KEY} characters "
            f"or None, got {key!r:.80}"
        )
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayload(f"dedupe_key must be valid Unicode (no lone surrogates), got {key!r:.80}") from None
    return key


def check_dedupe_window(window: object, key: str | None) -> float | None:
    """Seconds for which a completed job still holds its dedupe key; needs a dedupe key."""
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not math.isfinite(window) \
            or window <= 0:
        raise InvalidPayload(f"dedupe_window must be a finite number of seconds > 0 or None, got {window!r:.80}")
    if key is None:
        raise InvalidPayload(f"dedupe_window={window!r} needs a dedupe_key: the window is how long a "
                             "completed job of that key still counts")
    return float(window)


def check_progress(fraction: object, message: object = None) -> JobProgress:
    """A job's progress: a fraction from 0 to 1 and an optional short message."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not math.isfinite(fraction) \
            or not 0 <= fraction <= 1:
        raise InvalidProgress(f"progress fraction must be a finite number from 0.0 to 1.0, got {fraction!r:.80}")
    if message is not None:
        if not isinstance(message, str) or len(message) > MAX_PROGRESS_MESSAGE:
            raise InvalidProgress(f"progress message must be a str of at most {MAX_PROGRESS_MESSAGE} characters "
                                  f"or None, got {type(message).__name__} {message!r:.80}")
        try:
            message.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidProgress(f"progress message must be valid Unicode (no lone surrogates), "
                                  f"got {message!r:.80}") from None
    return JobProgress(float(fraction), message)
