"""The argument checks of every public entry point: one place, one wording for each kind of value.

Each raises `ConfigError` (a `ValueError`) naming the argument, what is allowed, and what was given.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ConfigError

__all__ = ["check_bool", "check_callable", "check_count", "check_seconds"]


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
