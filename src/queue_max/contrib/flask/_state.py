"""What the Flask extension keeps for one app: its options and its queue (`app.extensions["queue_max"]`)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context

from ...errors import ConfigError, QueueMaxError
from ...queue import Queue
from ._config import build_queue

if TYPE_CHECKING:
    from .extension import QueueExtension

__all__ = ["EXTENSION_KEY", "AppState", "NoAppContext", "app_state"]

EXTENSION_KEY = "queue_max"


class NoAppContext(QueueMaxError, RuntimeError):
    """The app's queue was needed where no Flask application context is active."""


class AppState:
    """What the extension keeps for one app, in `app.extensions["queue_max"]`: its options and
    its queue, built on first use (so that `flask routes` creates no data directory)."""

    def __init__(self, extension: QueueExtension, options: dict[str, Any]) -> None:
        self.extension = extension
        self.options = options
        self._queue: Queue | None = None
        self._lock = threading.Lock()

    @property
    def queue(self) -> Queue:
        queue = self._queue
        if queue is None:
            with self._lock:
                if self._queue is None:
                    self._queue = build_queue(self.options)
                queue = self._queue
        return queue

    def close(self) -> None:
        with self._lock:
            queue, self._queue = self._queue, None
        if queue is not None:
            queue.close()


def app_state(app: Flask | None = None) -> AppState:
    """The queue-max state of `app` (default: the current app)."""
    if app is None:
        if not has_app_context():
            raise NoAppContext("no Flask app context is active: pass app=, or work inside "
                               "`with app.app_context():`")
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, AppState):
        raise ConfigError(f"queue-max is not set up on the Flask app {app.name!r}: call "
                          "QueueExtension().init_app(app) first")
    return state
