"""Argument checks shared by the workers' constructors: each error names the value and the range."""

from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError
from ..queue import Queue

__all__ = ["check_bool", "check_callable", "check_count", "check_queue", "check_seconds", "check_worker_id"]


def check_worker_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"worker_id must be a non-empty str, got {value!r}")
    return value


def check_queue(value: object, what: str = "queue") -> Queue:
    if not isinstance(value, Queue):
        raise ConfigError(f"{what} must be a queue_max.Queue, got {type(value).__name__} {value!r:.60}")
    return value


def check_callable(name: str, value: object, *, optional: bool = True) -> Any:
    if value is None and optional:
        return None
    if not callable(value):
        allowed = "a callable or None" if optional else "a callable"
        raise ConfigError(f"{name} must be {allowed}, got {type(value).__name__} {value!r:.60}")
    return value


def check_seconds(name: str, value: object, *, optional: bool = False, positive: bool = False) -> Any:
    """A finite number of seconds, >= 0 (or > 0 with `positive`); None too when `optional`."""
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
        raise ConfigError(f"{name} must be a finite number of seconds {bound}{extra}, got {value!r}")
    return float(value)


def check_count(name: str, value: object, low: int, high: int, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        extra = " or None" if optional else ""
        raise ConfigError(f"{name} must be an int from {low} to {high}{extra}, got {value!r}")
    return value


def check_bool(name: str, value: object, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        extra = " or None" if optional else ""
        raise ConfigError(f"{name} must be True or False{extra}, got {value!r}")
    return value
