"""The workers' own argument checks (a queue, a worker id) beside the common ones of `queue_max._validate`."""

from __future__ import annotations

from .._validate import check_bool, check_callable, check_count, check_seconds
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
