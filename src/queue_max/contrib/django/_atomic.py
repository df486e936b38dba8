"""`delay()` inside `transaction.atomic()` joins Django's transaction when the queue is in the same
PostgreSQL database as `DATABASES['default']`."""

from __future__ import annotations

from typing import Any

from ...queue import Queue
from ...storage.base import Transactional

__all__ = ["join_atomic_blocks"]


def join_atomic_blocks(queue: Queue) -> bool:
    """Install the queue's `connection_source` if its backend serves Django's default database;
    returns whether it did."""
    from django.db import DEFAULT_DB_ALIAS, connections  # type: ignore[import-untyped,unused-ignore]

    backend = queue.backend
    wrapper = connections[DEFAULT_DB_ALIAS]
    if wrapper.vendor != "postgresql" or not isinstance(backend, Transactional):
        return False
    params = wrapper.settings_dict
    port = int(params["PORT"]) if params.get("PORT") else None
    if not backend.serves(params["NAME"], params.get("HOST") or None, port):
        return False

    def atomic_connection() -> Any:
        current = connections[DEFAULT_DB_ALIAS]  # this thread's connection
        if not current.in_atomic_block:
            return None
        current.ensure_connection()
        return current.connection

    queue.connection_source = atomic_connection
    return True
