"""Handler functions for `queue-max worker --function cli_fixtures.handlers:NAME`."""

from __future__ import annotations

import os
import time
from typing import Any

__all__ = ["NOT_CALLABLE", "boom", "echo", "slow"]

NOT_CALLABLE = 42


def echo(payload: dict[str, Any]) -> dict[str, Any]:
    """Completes with the payload it got and the process that ran it."""
    return {"got": payload, "pid": os.getpid()}


def boom(payload: dict[str, Any]) -> None:
    raise ValueError(f"boom: {payload.get('n')}")


def slow(payload: dict[str, Any]) -> float:
    """Sleeps `payload["seconds"]` (a stand-in for a long job a signal arrives during)."""
    time.sleep(float(payload.get("seconds", 1.0)))
    return time.time()
