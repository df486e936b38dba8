"""FlaskWorker: a queue-max worker that runs each job inside its Flask app's application context."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...models import Job
from ...queue import Queue
from ...tasks import is_task_payload
from ...workers import Worker

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["FlaskWorker"]


class _InAppContext:
    """A job handler run inside `app.app_context()`; the task's own time limit and retry options
    read through."""

    def __init__(self, app: Flask, handler: Callable[[dict[str, Any]], Any]) -> None:
        self._app = app
        self._handler = handler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler, name)  # timeout, retry_on, retry_delay of a task

    def __call__(self, payload: dict[str, Any]) -> Any:
        with self._app.app_context():
            return self._handler(payload)


class FlaskWorker(Worker):
    """`FlaskWorker(worker_id, queue, *, app, fallback=None, **worker_options)`.

    Task jobs run their registered task, other payloads `fallback` (if given), each inside
    `app.app_context()`, so that tasks may use `current_app`, `flask.g` and the app's extensions.
    """

    def __init__(self, worker_id: str, queue: Queue, *, app: Flask,
                 fallback: Callable[[dict[str, Any]], Any] | None = None, **options: Any) -> None:
        self._init = {"queue": queue, "app": app, "fallback": fallback, **options}
        super().__init__(worker_id, None, queue, **options)
        self.app = app
        self.fallback = fallback

    def resolve_handler(self, job: Job) -> Any:
        if self.fallback is not None and not is_task_payload(job.payload):
            handler: Any = self.fallback
        else:
            handler = super().resolve_handler(job)
        return _InAppContext(self.app, handler)

    def clone(self, worker_id: str) -> FlaskWorker:
        return type(self)(worker_id, **self._init)
