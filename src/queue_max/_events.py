"""The built-in event emitter: named events, callbacks, and per-thread suppression."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .errors import ConfigError

__all__ = ["EVENTS", "Emitter"]

log = logging.getLogger("queue_max.events")

# event name -> the positional arguments its callbacks receive
EVENTS: dict[str, tuple[str, ...]] = {
    "job_enqueued": ("job_id", "shard_id"),
    "job_started": ("job_id", "shard_id", "worker_id"),
    "job_completed": ("job_id", "shard_id"),
    "job_failed": ("job_id", "shard_id", "error"),
    "job_retried": ("job_id", "shard_id", "error"),
    "job_cancelled": ("job_id", "shard_id"),
    "job_released": ("job_id", "shard_id"),
    "jobs_recovered": ("requeued", "buried"),
    "alert": ("type", "pending", "threshold"),
    "dashboard_action": ("action", "actor", "detail"),
}


class Emitter:
    """Calls listeners synchronously; a failing listener is logged and never breaks the caller."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def on(self, event: str, callback: Callable[..., Any]) -> Callable[..., Any]:
        if event not in EVENTS:
            raise ConfigError(f"unknown event {event!r}; events are: {', '.join(EVENTS)}")
        if not callable(callback):
            raise ConfigError(f"callback for {event!r} must be callable, got {callback!r}")
        with self._lock:
            # copy-on-write so emit() can read without the lock
            self._listeners = {**self._listeners, event: [*self._listeners.get(event, ()), callback]}
        return callback

    def off(self, event: str, callback: Callable[..., Any]) -> None:
        with self._lock:
            remaining = [cb for cb in self._listeners.get(event, ()) if cb is not callback]
            self._listeners = {**self._listeners, event: remaining}

    def has(self, event: str) -> bool:
        return bool(self._listeners.get(event)) and not self._depth()

    def _depth(self) -> int:
        depth: int = getattr(self._local, "depth", 0)
        return depth

    def emit(self, event: str, *args: Any) -> None:
        listeners = self._listeners.get(event)
        if not listeners or self._depth():
            return
        for callback in listeners:
            try:
                callback(*args)
            except Exception:
                log.exception("listener %r for %s failed", callback, event)

    @contextlib.contextmanager
    def suppressed(self) -> Iterator[None]:
        """Silence events emitted by the calling thread (other threads are unaffected)."""
        self._local.depth = self._depth() + 1
        try:
            yield
        finally:
            self._local.depth -= 1
