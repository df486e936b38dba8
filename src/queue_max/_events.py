"""The built-in event emitter: named events, callbacks, and per-thread suppression."""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .errors import ConfigError

__all__ = ["EVENTS", "Emitter"]

log = logging.getLogger("queue_max.events")

# event name -> the arguments its callbacks receive: by keyword when the callback takes these
# names (as queue-max 0.1.1 calls them), else by position
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
    "circuit_changed": ("queue_name", "old_state", "new_state"),
    "task_circuit_changed": ("task_name", "old_state", "new_state"),
    "queue_paused": ("queue_name", "paused"),
}


def _by_keyword(callback: Callable[..., Any], names: tuple[str, ...]) -> bool:
    """Whether `callback` takes the event's arguments by name (as queue-max 0.1.1 passes them:
    `lambda job_id, shard_id: ...` or `lambda **kw: ...`); else they are passed by position."""
    try:
        inspect.signature(callback).bind(**dict.fromkeys(names))
    except TypeError:
        return False
    except ValueError:  # no signature to read (some builtins): by position, as always
        return False
    return True


class Emitter:
    """Calls listeners synchronously; a failing listener is logged and never breaks the caller."""

    def __init__(self) -> None:
        # event -> [(callback, called with keyword arguments?)]
        self._listeners: dict[str, list[tuple[Callable[..., Any], bool]]] = {}
        # the events that have a listener: a caller on a hot path tests `event in emitter.heard`
        # before it calls `emit` (the call is most of what an unheard event costs)
        self.heard: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._local = threading.local()

    def on(self, event: str, callback: Callable[..., Any]) -> Callable[..., Any]:
        if event not in EVENTS:
            raise ConfigError(f"unknown event {event!r}; events are: {', '.join(EVENTS)}")
        if not callable(callback):
            raise ConfigError(f"callback for {event!r} must be callable, got {callback!r}")
        listener = (callback, _by_keyword(callback, EVENTS[event]))
        with self._lock:
            # copy-on-write so emit() can read without the lock
            self._listeners = {**self._listeners, event: [*self._listeners.get(event, ()), listener]}
            self.heard = self.heard | {event}
        return callback

    def off(self, event: str, callback: Callable[..., Any]) -> None:
        with self._lock:
            remaining = [pair for pair in self._listeners.get(event, ()) if pair[0] is not callback]
            self._listeners = {**self._listeners, event: remaining}
            self.heard = frozenset(name for name, listeners in self._listeners.items() if listeners)

    def has(self, event: str) -> bool:
        return bool(self._listeners.get(event)) and not self._depth()

    def _depth(self) -> int:
        depth: int = getattr(self._local, "depth", 0)
        return depth

    def emit(self, event: str, *args: Any) -> None:
        listeners = self._listeners.get(event)
        if not listeners or self._depth():
            return
        names = EVENTS[event]
        for callback, by_keyword in listeners:
            try:
                if by_keyword:
                    callback(**dict(zip(names, args)))
                else:
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
