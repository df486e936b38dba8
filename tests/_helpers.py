"""Helpers that test modules import instead of copying: waiting for a condition in real time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], object], timeout: float = 60.0) -> bool:
    """Poll `predicate` until it is true (True) or `timeout` real seconds pass (False). The
    timeout only bounds a failing test: a passing one returns as soon as the condition holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_for_value(produce: Callable[[], T], timeout: float = 60.0) -> T:
    """The first truthy value `produce` returns; `AssertionError` if none came within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = produce()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
