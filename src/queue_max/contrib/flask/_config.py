"""The Flask configuration of queue-max: the `QUEUE_MAX_*` keys of `app.config`, validated.

Each key is `QUEUE_MAX_` plus an upper-cased keyword argument of `queue_max.Queue`
(`QUEUE_MAX_SHARDS`, `QUEUE_MAX_DATA_DIR`, ...), except `QUEUE_MAX_RETRIES` for `max_retries`
(the name of the environment variable). Values are in `Queue`'s units; None or absent means the
environment variable, then the default.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ...config import Settings
from ...errors import ConfigError
from ...queue import Queue
from ...queue_options import QUEUE_OPTIONS, build_queue as _build, check_option, check_options, settings_from_options

__all__ = ["KEYS", "PREFIX", "build_queue", "read_config", "to_settings"]

PREFIX = "QUEUE_MAX_"
_SPECIAL = {"max_retries": "QUEUE_MAX_RETRIES"}
# app.config key -> Queue keyword argument
KEYS: dict[str, str] = {_SPECIAL.get(name, PREFIX + name.upper()): name for name in QUEUE_OPTIONS}


def read_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `Queue` keyword arguments in `config`'s `QUEUE_MAX_*` keys; `ConfigError` naming the
    first bad key and what it allows (unknown keys get the closest allowed name)."""
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
            check_option(name, value)
        except ConfigError as exc:
            raise ConfigError(f"app.config[{key!r}] is invalid: {exc}") from None
        options[name] = value
    try:
        check_options(options, {name: f"app.config[{key!r}]" for key, name in KEYS.items()})
    except ConfigError as exc:
        raise ConfigError(f"app.config QUEUE_MAX_* settings do not fit together: {exc}") from None
    return options


def to_settings(options: Mapping[str, Any]) -> Settings:
    """`Settings` from the environment with `options` (Queue keyword arguments) laid over them."""
    return settings_from_options(options)


def build_queue(options: Mapping[str, Any]) -> Queue:
    """A new queue from `options` (Queue keyword arguments) over the environment's settings."""
    return _build(options)
