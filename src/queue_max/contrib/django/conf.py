"""The Django settings of queue-max: `settings.QUEUE_MAX`, validated, and the one queue built from it.

`QUEUE_MAX` is a dict whose keys are the upper-cased keyword arguments of `queue_max.Queue`
(`SHARDS`, `RATE_LIMIT`, `MAX_RETRIES`, `DATA_DIR`, ...; see `KEYS` and docs/django.md), in the
units `Queue` takes them (seconds, counts, bytes). Keys left out, or set to None, fall back to the
environment variables (`NUM_SHARDS`, `DATA_DIR`, ...) and then to the library's defaults.

The queue is built on first use, never at import or in `AppConfig.ready()`, so that commands
such as `migrate` or `check` do not create the data directory.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping
from typing import Any

from ...config import Settings
from ...errors import ConfigError
from ...queue import Queue
from ...queue_options import QUEUE_OPTIONS, build_queue as _build, check_option, check_options, settings_from_options

__all__ = [
    "KEYS",
    "Problem",
    "build_queue",
    "get_queue",
    "queue_options",
    "queue_settings",
    "reset_queue",
    "validate",
]

# QUEUE_MAX key -> Queue keyword argument
KEYS: dict[str, str] = {name.upper(): name for name in QUEUE_OPTIONS}


class Problem:
    """One thing wrong with `QUEUE_MAX`: the check id it is reported under, the key, the message."""

    __slots__ = ("check_id", "hint", "key", "message")

    def __init__(self, check_id: str, key: str | None, message: str, hint: str | None = None) -> None:
        self.check_id = check_id
        self.key = key
        self.message = message
        self.hint = hint

    def __repr__(self) -> str:
        return f"<Problem {self.check_id} {self.message}>"


def _allowed() -> str:
    return ", ".join(sorted(KEYS))


def validate(raw: object) -> tuple[dict[str, Any], list[Problem]]:
    """Queue keyword arguments from a `QUEUE_MAX` value, and everything wrong with it.

    Each value is checked by the same validation `Queue` applies, one key at a time so that each
    message names its key; cross-key rules (backoff base under its cap, heartbeat under the
    lease) are checked once every key is valid.
    """
    if raw is None:
        return {}, []
    if not isinstance(raw, Mapping):
        return {}, [Problem("queue_max.E001", None,
                            f"QUEUE_MAX must be a dict like {{'SHARDS': 4, 'RATE_LIMIT': 160}}, "
                            f"got {type(raw).__name__} {raw!r:.60}")]
    options: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in raw.items():
        name = KEYS.get(key) if isinstance(key, str) else None
        if name is None:
            close = difflib.get_close_matches(str(key).upper(), KEYS, n=1)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            problems.append(Problem("queue_max.E002", str(key),
                                    f"QUEUE_MAX has an unknown key {key!r}",
                                    f"{hint}Allowed keys: {_allowed()}."))
            continue
        if value is None:
            continue  # None means "not set here": the environment or the default applies
        try:
            check_option(name, value)
        except ConfigError as exc:
            problems.append(Problem("queue_max.E003", key, f"QUEUE_MAX[{key!r}] is invalid: {exc}"))
            continue
        options[name] = value
    if not problems:
        try:
            check_options(options, {name: f"QUEUE_MAX[{key!r}]" for key, name in KEYS.items()})
        except ConfigError as exc:
            key = "HEARTBEAT_INTERVAL" if "HEARTBEAT_INTERVAL" in str(exc) else None
            problems.append(Problem("queue_max.E003", key, f"QUEUE_MAX is invalid: {exc}"))
    return options, problems


def _raw() -> object:
    from django.conf import settings  # type: ignore[import-untyped,unused-ignore]

    return getattr(settings, "QUEUE_MAX", None)


def queue_options() -> dict[str, Any]:
    """The validated `Queue` keyword arguments of `settings.QUEUE_MAX`; `ImproperlyConfigured` if bad."""
    from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped,unused-ignore]

    options, problems = validate(_raw())
    if problems:
        raise ImproperlyConfigured("; ".join(
            p.message + (f" ({p.hint})" if p.hint else "") for p in problems))
    return options


def queue_settings(options: Mapping[str, Any] | None = None) -> Settings:
    """`Settings` from the environment with the `QUEUE_MAX` values laid over them.

    What the `queue-max` CLI's commands read (they take a `Settings`); `rate_limiter_timeout`
    has no `Settings` field and is left out."""
    from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped,unused-ignore]

    given = queue_options() if options is None else dict(options)
    try:
        return settings_from_options(given)
    except ConfigError as exc:
        raise ImproperlyConfigured(f"queue-max environment variable: {exc}") from exc


_lock = threading.Lock()
_queue: Queue | None = None
_is_default = False  # whether `_queue` was made the default queue of queue_max.tasks


def get_queue() -> Queue:
    """The process's queue, built from `settings.QUEUE_MAX` on first use (thread-safe).

    It also becomes the default queue of `queue_max.tasks`, so plain `@queue_max.task`
    functions enqueue into it too once it exists.
    """
    global _queue, _is_default
    queue = _queue
    if queue is not None:
        return queue
    with _lock:
        if _queue is None:
            _queue = build_queue()
            from ...tasks import set_default_queue

            set_default_queue(_queue)
            _is_default = True
        return _queue


def build_queue(**overrides: Any) -> Queue:
    """A new queue from `settings.QUEUE_MAX` (and `overrides`, Queue keyword arguments); yours to close."""
    from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped,unused-ignore]

    options = {**queue_options(), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        queue = _build(options)
    except ConfigError as exc:
        raise ImproperlyConfigured(f"QUEUE_MAX: {exc}") from exc
    from ._atomic import join_atomic_blocks

    join_atomic_blocks(queue)
    return queue


def reset_queue() -> None:
    """Close the process's queue (if built); the next `get_queue()` builds it again from settings."""
    global _queue, _is_default
    with _lock:
        queue, _queue = _queue, None
        was_default, _is_default = _is_default, False
    if queue is not None:
        if was_default:
            from ...tasks import set_default_queue

            set_default_queue(None)
        queue.close()
