"""Transactional enqueue: which of the caller's own database connections an enqueue writes into.

`queue.transaction(conn)` marks a block (a context variable, so threads and asyncio tasks each
see their own); `enqueue(..., connection=conn)` names one call; a framework may install
`queue.connection_source` (Django does, for `transaction.atomic()` on the same PostgreSQL).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from .errors import ConfigError
from .storage.base import Backend, Transactional

__all__ = ["caller_connection", "caller_transaction", "inside_block", "transactional"]

# (id of the queue, the caller's connection) of the innermost `queue.transaction(...)` block
_CURRENT: ContextVar[tuple[int, Any] | None] = ContextVar("queue_max_caller_transaction", default=None)

# (id of the queue, connection) of the innermost `queue.transaction(...)` block, or None: the
# context variable's own C `get`, so the lone enqueue's check that no block is open costs no
# Python frame (`caller_connection` finds the block's connection when one is).
inside_block = _CURRENT.get


def transactional(backend: Backend, what: str, location: str) -> Transactional:
    """The backend, if it can write into a caller's transaction; else a `ConfigError`."""
    if isinstance(backend, Transactional):
        return backend
    raise ConfigError(f"{what} needs the PostgreSQL backend (database_url=postgresql://...); "
                      f"this queue keeps its jobs in {location}, which has no caller transactions")


def caller_connection(queue_id: int, given: Any, source: Callable[[], Any] | None) -> Any:
    """The connection an enqueue writes into: `given`, else the enclosing block's, else the
    framework's (`source`); None means the queue's own connections."""
    if given is not None:
        return given
    current = _CURRENT.get()
    if current is not None and current[0] == queue_id:
        return current[1]
    return source() if source is not None else None


@contextlib.contextmanager
def caller_transaction(queue_id: int, backend: Transactional, connection: Any) -> Iterator[Any]:
    """A transaction block on `connection` in which this queue's enqueues join it."""
    with backend.transaction(connection):
        token = _CURRENT.set((queue_id, connection))
        try:
            yield connection
        finally:
            _CURRENT.reset(token)
