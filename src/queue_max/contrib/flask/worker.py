"""FlaskWorker: a queue-max worker that runs each job inside its Flask app's application context."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...handler import Handler
from ...queue import Queue
from ...workers import Worker

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["FlaskWorker"]


def in_app_context(app: Flask) -> Callable[[Handler], Handler]:
    """A worker `wrapper` that runs each handler inside `app.app_context()`."""

    def wrap(handler: Handler) -> Handler:
        def run(payload: dict[str, Any]) -> Any:
            with app.app_context():
                return handler(payload)

        return run

    return wrap


class FlaskWorker(Worker):
    """`FlaskWorker(worker_id, queue, *, app, fallback=None, **worker_options)`.

    Task jobs run their registered task, other payloads `fallback` (if given), each inside
    `app.app_context()`, so that tasks may use `current_app`, `flask.g` and the app's extensions.
    """

    def __init__(self, worker_id: str, queue: Queue, *, app: Flask,
                 fallback: Callable[[dict[str, Any]], Any] | None = None, **options: Any) -> None:
        options.setdefault("wrapper", in_app_context(app))
        super().__init__(worker_id, None, queue, fallback=fallback, **options)
        self.app = app

    def _clone_arguments(self) -> dict[str, Any]:
        arguments = super()._clone_arguments()
        del arguments["process_function"]
        return {**arguments, "app": self.app}
