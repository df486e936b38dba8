"""The Flask configuration of queue-max: the `QUEUE_MAX_*` keys of `app.config`, validated.

Each key is `QUEUE_MAX_` plus an upper-cased keyword argument of `queue_max.Queue`
(`QUEUE_MAX_SHARDS`, `QUEUE_MAX_DATA_DIR`, ...), except `QUEUE_MAX_RETRIES` for `max_retries`
(the name of the environment variable). Values are in `Queue`'s units; None or absent means the
environment variable, then the default.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from ...config import Settings, load_settings
from ...errors import ConfigError
from ...queue import Queue

__all__ = ["KEYS", "PREFIX", "build_queue", "read_config", "to_settings"]

PREFIX = "QUEUE_MAX_"
_NOT_SETTINGS = frozenset({"self", "backend", "settings", "clock"})
_SPECIAL = {"max_retries": "QUEUE_MAX_RETRIES"}
# app.config key -> Queue keyword argument, read off the constructor so the two never drift.
KEYS: dict[str, str] = {
    _SPECIAL.get(name, PREFIX + name.upper()): name
    for name in inspect.signature(Queue.__init__).parameters if name not in _NOT_SETTINGS
}
_SETTINGS_FIELD = {
    "shards": "num_shards",
    "circuit_breaker_threshold": "circuit_failure_threshold",
    "circuit_breaker_timeout": "circuit_timeout",
}
_FIELDS = {f.name for f in fields(Settings)}


def read_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `Queue` keyword arguments in `config`'s `QUEUE_MAX_*` keys; `ConfigError` naming the
    first bad key and what it allows (unknown keys get the closest allowed name)."""
    from ..._options import resolve_options

    defaults = Settings()
    options: dict[str, Any] = {}
    for key in sorted(k for k in config if isinstance(k, str) and k.startswith(PREFIX)):
        name = KEYS.get(key)
        if name is None:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(f"app.config has an unknown queue-max key {key}; {hint}"
                              f"allowed: {', '.join(sorted(KEYS))}")
        value = config[key]
        if value is None:
            continue
        try:
            resolve_options(defaults, {name: value})
        except ConfigError as exc:
            raise ConfigError(f"app.config[{key!r}] is invalid: {exc}") from None
        options[name] = value
    try:
        resolved = resolve_options(defaults, options)
    except ConfigError as exc:
        raise ConfigError(f"app.config QUEUE_MAX_* settings do not fit together: {exc}") from None
    if resolved.heartbeat_interval >= resolved.lease_timeout:
        raise ConfigError(
            f"app.config['QUEUE_MAX_HEARTBEAT_INTERVAL'] ({resolved.heartbeat_interval}s) must be shorter "
            f"than QUEUE_MAX_LEASE_TIMEOUT ({resolved.lease_timeout}s), or the leases of running jobs "
            "expire between heartbeats")
    return options


def to_settings(options: Mapping[str, Any]) -> Settings:
    """`Settings` from the environment with `options` (Queue keyword arguments) laid over them."""
    changes: dict[str, Any] = {}
    for name, value in options.items():
        field = _SETTINGS_FIELD.get(name, name)
        if field in _FIELDS:
            changes[field] = Path(value) if field == "data_dir" else value
    if "num_shards" in changes:
        changes["shards_explicit"] = True
    return load_settings().with_(**changes)


def build_queue(options: Mapping[str, Any]) -> Queue:
    """A new queue from `options` (Queue keyword arguments) over the environment's settings."""
    extra = {k: v for k, v in options.items() if _SETTINGS_FIELD.get(k, k) not in _FIELDS}
    return Queue(settings=to_settings(options), **extra)
