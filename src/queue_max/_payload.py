"""Validation and JSON encoding of job payloads and job options, before anything is written."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from ._json import dumps, loads
from .errors import InvalidPayload, InvalidProgress, QueueMaxError
from .models import JobProgress

__all__ = [
    "DEFAULT_QUEUE",
    "MAX_DEPTH",
    "MAX_QUEUE_NAME",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "check_concurrency_key",
    "check_dedupe_key",
    "check_dedupe_window",
    "check_progress",
    "check_payload",
    "check_max_retries",
    "check_priority",
    "check_queue_name",
    "check_shard_key",
    "decode_json",
    "encode_payload",
    "encode_value",
    "oversize",
    "resolve_run_at",
]

MAX_DEPTH = 64
MIN_PRIORITY = -100
MAX_PRIORITY = 100
MAX_DEDUPE_KEY = 512
DEFAULT_QUEUE = "default"
MAX_QUEUE_NAME = 64
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,%d}" % (MAX_QUEUE_NAME - 1), re.ASCII)

_encode = dumps
decode_json = loads

_ALLOWED = "dict with str keys, list, str, int, float (finite), bool or None"


def _kind(value: object) -> str:
    return type(value).__name__


def _check_list(items: list[Any], path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidPayload(f"payload nests deeper than {MAX_DEPTH} levels at {path}")
    for index, value in enumerate(items):
        t = type(value)
        if t is str or t is int or t is bool or value is None:
            continue
        if t is float:
            if not math.isfinite(value):
                raise InvalidPayload(f"{path}[{index}] is {value!r}; JSON has no NaN or Infinity")
        elif t is dict:
            _check_dict(value, f"{path}[{index}]", depth + 1)
        elif t is list:
            _check_list(value, f"{path}[{index}]", depth + 1)
        else:
            raise InvalidPayload(
                f"{path}[{index}] is a {_kind(value)} ({value!r:.60}); allowed: {_ALLOWED}"
                + (" (convert tuples to lists yourself)" if t is tuple else "")
            )


def _check_dict(obj: dict[Any, Any], path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidPayload(f"payload nests deeper than {MAX_DEPTH} levels at {path}")
    for key, value in obj.items():
        if type(key) is not str:
            raise InvalidPayload(
                f"{path} has a {_kind(key)} key {key!r:.60}; JSON object keys must be str"
            )
        t = type(value)
        if t is str or t is int or t is bool or value is None:
            continue
        if t is float:
            if not math.isfinite(value):
                raise InvalidPayload(f"{path}[{key!r}] is {value!r}; JSON has no NaN or Infinity")
        elif t is dict:
            _check_dict(value, f"{path}[{key!r}]", depth + 1)
        elif t is list:
            _check_list(value, f"{path}[{key!r}]", depth + 1)
        else:
            raise InvalidPayload(
                f"{path}[{key!r}] is a {_kind(value)} ({value!r:.60}); allowed: {_ALLOWED}"
                + (" (convert tuples to lists yourself)" if t is tuple else "")
            )


def check_payload(payload: object) -> None:
    """Raise `InvalidPayload` unless `payload` round-trips through JSON exactly."""
    if type(payload) is not dict:
        raise InvalidPayload(
            f"payload must be a dict (a JSON object), got {_kind(payload)} {payload!r:.60}"
        )
    _check_dict(payload, "payload", 1)


def oversize(size: int, max_bytes: int) -> InvalidPayload:
    return InvalidPayload(
        f"payload is {size} bytes as JSON; the limit is {max_bytes} bytes "
        "(QUEUE_MAX_MAX_PAYLOAD_BYTES); store large data elsewhere and enqueue a reference"
    )


def encode_payload(payload: object, max_bytes: int) -> str:
    """Check that `payload` round-trips through JSON exactly, and return its JSON text."""
    check_payload(payload)
    text = _encode(payload)
    if len(text) > max_bytes:
        raise oversize(len(text), max_bytes)
    return text


def encode_value(value: object, what: str = "result") -> str:
    """JSON text for any JSON value (task args, results), refusing lossy conversions."""
    t = type(value)
    if t is dict:
        _check_dict(value, what, 1)  # type: ignore[arg-type]
    elif t is list:
        _check_list(value, what, 1)  # type: ignore[arg-type]
    elif t is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise InvalidPayload(f"{what} is {value!r}; JSON has no NaN or Infinity")
    elif not (t is str or t is int or t is bool or value is None):
        raise InvalidPayload(
            f"{what} is of type {_kind(value)} ({value!r:.60}); allowed: {_ALLOWED}"
            + (" (convert tuples to lists yourself)" if t is tuple else "")
        )
    return _encode(value)


def check_priority(priority: object) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidPayload(
            f"priority must be an int from {MIN_PRIORITY} to {MAX_PRIORITY} "
            f"(0 low, 1 medium, 2 high), got {_kind(priority)} {priority!r}"
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


MAX_PROGRESS_MESSAGE = 1000


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


def resolve_run_at(now: float, delay: object = None, run_at: object = None) -> float | None:
    """The epoch at which a job becomes claimable, from `delay` seconds or an aware `run_at`."""
    if delay is not None and run_at is not None:
        raise InvalidPayload("give either delay= or run_at=, not both")
    if delay is not None:
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) \
                or not math.isfinite(delay) or delay < 0:
            raise InvalidPayload(f"delay must be a finite number of seconds >= 0, got {delay!r}")
        return now + float(delay) if delay else None
    if run_at is not None:
        if not isinstance(run_at, datetime):
            raise InvalidPayload(
                f"run_at must be a timezone-aware datetime, got {_kind(run_at)} {run_at!r:.60}"
            )
        if run_at.tzinfo is None or run_at.utcoffset() is None:
            raise InvalidPayload(
                f"run_at must be timezone-aware (e.g. datetime.now(timezone.utc)), got naive {run_at!r}"
            )
        return run_at.timestamp()
    return None
