"""The idiomatic wiring: a lifespan that runs the queue and its workers, and a `get_queue` dependency."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends
from starlette.requests import HTTPConnection

from ...errors import ConfigError
from ...queue import Queue
from ._runtime import Handler, QueueRuntime

__all__ = ["QueueDep", "get_queue", "queue_lifespan"]

Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]


def queue_lifespan(
    queue: Queue | None = None,
    *,
    workers: int = 4,
    process_function: Handler | None = None,
    worker_options: Mapping[str, Any] | None = None,
    set_default: bool = True,
    lifespan: Lifespan | None = None,
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[dict[str, Any]]]:
    """A lifespan for `FastAPI(lifespan=...)`: the queue and a pool of `workers` worker threads
    live as long as the app.

    Start-up opens the queue (`Queue()` from the environment if none is given), runs your own
    `lifespan`, then starts the workers; shut-down stops the workers (running jobs finish), runs
    the end of your lifespan, then closes the queue if it was built here. Requests find the
    queue in `request.state.queue` (use `get_queue`), the pool in `request.state.queue_pool`;
    both are on `app.state` too. `workers=0` only enqueues (workers run elsewhere).
    """
    if lifespan is not None and not callable(lifespan):
        raise ConfigError(f"lifespan must be your app's lifespan function or None, got {lifespan!r:.80}")
    runtime = QueueRuntime(queue, workers=workers, process_function=process_function,
                           worker_options=worker_options, set_default=set_default)

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[dict[str, Any]]:
        await anyio.to_thread.run_sync(runtime.open)
        _publish(app, runtime.state)
        try:
            inner = lifespan(app) if lifespan is not None else contextlib.nullcontext()
            async with inner as inner_state:
                await anyio.to_thread.run_sync(runtime.start_workers)
                _publish(app, runtime.state)
                try:
                    yield {**runtime.state, **(inner_state or {})}
                finally:
                    await anyio.to_thread.run_sync(runtime.stop_workers)
                    _publish(app, runtime.state)
        finally:
            runtime.close()
            _publish(app, {"queue": None, "queue_pool": None})

    return run


def _publish(app: Any, state: dict[str, Any]) -> None:
    app_state = getattr(app, "state", None)
    if app_state is not None:
        for key, value in state.items():
            setattr(app_state, key, value)


def get_queue(connection: HTTPConnection) -> Queue:
    """The app's queue, for `Depends(get_queue)` (or `QueueDep`), from `queue_lifespan` or
    `QueueMiddleware`."""
    queue = getattr(connection.state, "queue", None)
    if queue is None:
        queue = getattr(connection.app.state, "queue", None)
    if not isinstance(queue, Queue):
        raise ConfigError(
            "this app has no queue: pass lifespan=queue_lifespan(...) to FastAPI(), or add "
            "QueueMiddleware (and run the server with lifespan events on)"
        )
    return queue


QueueDep = Annotated[Queue, Depends(get_queue)]
