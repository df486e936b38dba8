"""QueueExtension: queue-max as a Flask extension, per app, for the application-factory pattern."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from flask import Flask, current_app, has_app_context
from typing_extensions import Unpack

from ...errors import ConfigError
from ...queue import Queue
from ...tasks import Task, TaskOptionsDict
from ...tasks import make_task
from ._config import read_config
from ._state import EXTENSION_KEY, AppState, NoAppContext, app_state
from .cli import queue_cli
from .worker import FlaskWorker

__all__ = ["EXTENSION_KEY", "AppState", "FlaskTask", "NoAppContext", "QueueExtension", "app_state"]

P = ParamSpec("P")
R = TypeVar("R")


class FlaskTask(Task[P, R]):
    """A task whose jobs go to the queue of the current Flask app (unless it has `queue=`)."""

    extension: QueueExtension

    @property
    def queue(self) -> Queue:
        if self.options.queue is not None:
            return self.options.queue
        if not has_app_context():
            raise NoAppContext(
                f"task {self.name!r} enqueues to the current Flask app's queue, and no app context is "
                "active: enqueue during a request or a `flask` command, inside `with app.app_context():`, "
                "or give the task queue=")
        return self.extension.get_queue()


class QueueExtension:
    """`QueueExtension(app)`, or `ext = QueueExtension()` then `ext.init_app(app)` in a factory.

    Configuration comes from `app.config["QUEUE_MAX_*"]` (see docs/flask.md); the app's state
    lives in `app.extensions["queue_max"]`, never on the extension, so one extension serves any
    number of apps. `init_app` adds the `flask queue worker|stats|purge` commands.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Validate the app's `QUEUE_MAX_*` config (`ConfigError` on a bad key) and set the app up."""
        if not isinstance(app, Flask):
            raise ConfigError(f"init_app takes a Flask app, got {app!r:.60}")
        if EXTENSION_KEY in app.extensions:
            raise ConfigError(f"queue-max is already set up on the Flask app {app.name!r}; call init_app once")
        app.extensions[EXTENSION_KEY] = AppState(self, read_config(app.config))
        app.cli.add_command(queue_cli)

    # ── the app's state ──
    def state(self, app: Flask | None = None) -> AppState:
        """The state of `app` (default: the current app)."""
        return app_state(app)

    def get_queue(self, app: Flask | None = None) -> Queue:
        """The queue of `app` (default: the current app), built from its config on first use."""
        return self.state(app).queue

    def close(self, app: Flask | None = None) -> None:
        """Close the app's queue (the next use opens it again)."""
        self.state(app).close()

    # ── tasks and workers ──
    @overload
    def task(self, fn: Callable[P, R], /) -> FlaskTask[P, R]: ...

    @overload
    def task(self, fn: None = None, /, **options: Unpack[TaskOptionsDict]
             ) -> Callable[[Callable[P, R]], FlaskTask[P, R]]: ...

    def task(self, fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
        """`@queue.task` or `@queue.task(priority=2, ...)`: a queue-max task (same options as
        `queue_max.task`) enqueued to the current app's queue and run in an app context."""
        if fn is not None:
            return make_task(fn, options, "@queue.task", FlaskTask, extension=self)

        def decorate(func: Callable[P, R]) -> FlaskTask[P, R]:
            built: FlaskTask[P, R] = make_task(func, options, "@queue.task(...)", FlaskTask, extension=self)
            return built

        return decorate

    def worker(self, app: Flask | None = None, worker_id: str = "flask", **options: Any) -> FlaskWorker:
        """A worker on the app's queue that runs every job inside the app's context; `options`
        are `Worker`'s (concurrency, burst, max_jobs, poll_interval, ...) and `fallback`."""
        state = self.state(app)
        target = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
        return FlaskWorker(worker_id, state.queue, app=target, **options)
