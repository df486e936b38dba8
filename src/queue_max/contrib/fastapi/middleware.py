"""QueueMiddleware: the reference's `app.add_middleware(QueueMiddleware, max_workers=4)`, as pure ASGI.

It hooks the ASGI lifespan protocol itself instead of the removed `on_event` handlers, so it
works on any current Starlette/FastAPI and on any ASGI app: the queue opens before the app's
start-up and the workers start after it; at shut-down the workers stop before the app's own
shut-down runs and the queue closes after it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...errors import ConfigError
from ...queue import Queue
from ._runtime import Handler, QueueRuntime

__all__ = ["QueueMiddleware"]

log = logging.getLogger("queue_max.fastapi")


class QueueMiddleware:
    """Runs a queue and `workers` worker threads for the app's lifetime; every request finds the
    queue in `request.state.queue` (and `get_queue`), the pool in `request.state.queue_pool`.

    `max_workers` is the queue-max 0.1.1 name of `workers`. See `queue_lifespan` for the options.
    The server must send lifespan events (uvicorn does by default); without them the queue is
    opened on the first request, no worker is started, and a warning is logged.
    """

    def __init__(
        self,
        app: ASGIApp,
        queue: Queue | None = None,
        *,
        workers: int | None = None,
        max_workers: int | None = None,
        process_function: Handler | None = None,
        worker_options: Mapping[str, Any] | None = None,
        set_default: bool = True,
    ) -> None:
        if workers is not None and max_workers is not None:
            raise ConfigError(f"give workers or max_workers (its queue-max 0.1.1 name), not both; "
                              f"got workers={workers!r}, max_workers={max_workers!r}")
        count = workers if workers is not None else max_workers if max_workers is not None else 4
        self.app = app
        self.runtime = QueueRuntime(queue, workers=count, process_function=process_function,
                                    worker_options=worker_options, set_default=set_default)
        self._lifespan_seen = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self._lifespan_seen = True
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] in ("http", "websocket"):
            if self.runtime.queue is None and not self._lifespan_seen:
                log.warning("QueueMiddleware got no lifespan events: the queue is open, but no worker "
                            "runs in this process (enable lifespan on the server)")
                self._lifespan_seen = True
                self.runtime.open()
                self._publish(scope)
            scope.setdefault("state", {}).update(self.runtime.state)
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        if first["type"] == "lifespan.startup":
            try:
                await anyio.to_thread.run_sync(self.runtime.open)
            except Exception:
                # the app has not seen the start-up yet, so it cannot report this failure itself
                await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
                raise
            self._publish(scope)
        replayed = False

        async def app_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                # before the app's own shut-down: running jobs may still need what it tears down
                await anyio.to_thread.run_sync(self.runtime.stop_workers)
                self._publish(scope)
            return message

        await self.app(scope, app_receive, self._lifespan_send(scope, send))

    def _lifespan_send(self, scope: Scope, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                await anyio.to_thread.run_sync(self.runtime.start_workers)
                self._publish(scope)
            elif kind in ("lifespan.startup.failed", "lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await anyio.to_thread.run_sync(self.runtime.close)
                self._publish(scope)
            await send(message)

        return wrapped

    def _publish(self, scope: Scope) -> None:
        """Put the queue where requests and the app find it: the lifespan state and app.state."""
        state = self.runtime.state
        if scope["type"] == "lifespan" and isinstance(scope.get("state"), dict):
            scope["state"].update(state)
        app_state = getattr(scope.get("app"), "state", None)
        if app_state is not None:
            for key, value in state.items():
                setattr(app_state, key, value)
