"""Queue options as plain values: their names, their checks, and the `Settings` they make.

The public seam through which an integration (Flask's `app.config`, Django's `QUEUE_MAX`, your
own configuration) turns `Queue` keyword arguments into a queue, or into the `Settings` the CLI
commands read, with the same validation `Queue` applies.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from ._options import QueueOptions, resolve_options
from ._validate import check_queue_name
from .config import Settings, load_settings
from .errors import ConfigError
from .queue import Queue

__all__ = [
    "QUEUE_OPTIONS",
    "build_queue",
    "check_option",
    "check_options",
    "check_queue_name",
    "settings_from_options",
]

# Queue arguments that are objects, not settings
_NOT_OPTIONS = frozenset({"self", "backend", "settings", "clock"})
# every `Queue` keyword argument that is a setting, read off the constructor so they never drift
QUEUE_OPTIONS: tuple[str, ...] = tuple(
    name for name in inspect.signature(Queue.__init__).parameters if name not in _NOT_OPTIONS)
# Queue keyword argument -> `Settings` field, where the names differ
_SETTINGS_FIELD = {
    "shards": "num_shards",
    "circuit_breaker_threshold": "circuit_failure_threshold",
    "circuit_breaker_timeout": "circuit_timeout",
}
_FIELDS = frozenset(f.name for f in fields(Settings))


def check_option(name: str, value: Any) -> None:
    """Raise `ConfigError` if `value` is not allowed for the Queue option `name` (None always is)."""
    if name not in QUEUE_OPTIONS:
        raise ConfigError(f"unknown queue option {name!r}; allowed: {', '.join(sorted(QUEUE_OPTIONS))}")
    if value is not None:
        resolve_options(Settings(), {name: value})


def check_options(options: Mapping[str, Any], names: Mapping[str, str] | None = None) -> QueueOptions:
    """Check options that are each valid (`check_option`) together: the backoff base under its
    cap, the heartbeat under the lease. Returns the options resolved over the defaults.

    `names` maps an option to what the user wrote (`{"heartbeat_interval": "QUEUE_MAX_HEARTBEAT_INTERVAL"}`)
    for the messages."""
    resolved = resolve_options(Settings(), options)
    if resolved.heartbeat_interval >= resolved.lease_timeout:
        said = names or {}
        raise ConfigError(
            f"{said.get('heartbeat_interval', 'heartbeat_interval')} ({resolved.heartbeat_interval}s) must be "
            f"shorter than {said.get('lease_timeout', 'lease_timeout')} ({resolved.lease_timeout}s), or the "
            "leases of running jobs expire between heartbeats")
    return resolved


def settings_from_options(options: Mapping[str, Any], base: Settings | None = None) -> Settings:
    """`base` (default: the environment's settings) with `options` (Queue keyword arguments)
    laid over it; options `Settings` has no field for (`rate_limiter_timeout`) are left out."""
    changes: dict[str, Any] = {}
    for name, value in options.items():
        field = _SETTINGS_FIELD.get(name, name)
        if field in _FIELDS and value is not None:
            changes[field] = Path(value) if field == "data_dir" else value
    if "num_shards" in changes:
        changes["shards_explicit"] = True
    return (load_settings() if base is None else base).with_(**changes)


def build_queue(options: Mapping[str, Any], base: Settings | None = None) -> Queue:
    """A new queue (yours to close) from `options` over `base` (default: the environment)."""
    extra = {k: v for k, v in options.items() if _SETTINGS_FIELD.get(k, k) not in _FIELDS and v is not None}
    return Queue(settings=settings_from_options(options, base), **extra)
