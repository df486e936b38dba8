"""Upgrading shard files written by queue-max 0.1.1 (schema "version 0") in place."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .shard import Shard

__all__ = ["looks_like_legacy", "migrate"]


def looks_like_legacy(conn: sqlite3.Connection) -> bool:
    """Whether the file has the table layout queue-max 0.1.1 created."""
    return False


def migrate(shard: Shard) -> None:
    """Rewrite a 0.1.1 shard into the current schema, keeping every job."""
    raise NotImplementedError
