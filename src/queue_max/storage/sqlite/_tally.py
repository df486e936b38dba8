"""The tallies a batch statement counts itself, in its own transaction (see `TALLIES_SCHEMA`)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from ._sql import Q

__all__ = ["tally_claimed", "tally_completed", "tally_inserted"]

_QUEUE = 19  # the queue name's place in a row of NAMED_JOB_COLUMNS


def tally_inserted(conn: sqlite3.Connection, queue_name: str, status: str, count: int) -> None:
    """`count` jobs inserted into `queue_name` as `status` ("pending" or "scheduled")."""
    pending, scheduled = (count, 0) if status == "pending" else (0, count)
    conn.execute(Q.tally_add, (queue_name, pending, scheduled, 0, 0, 0, 0))


def tally_claimed(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """The claimed `rows` (of NAMED_JOB_COLUMNS) moved from pending to processing."""
    if len(rows) == 1 or all(row[_QUEUE] == rows[0][_QUEUE] for row in rows):
        per_queue: Iterable[tuple[str, int]] = ((rows[0][_QUEUE], len(rows)),) if rows else ()
    else:
        per_queue = Counter(row[_QUEUE] for row in rows).items()
    conn.executemany(Q.tally_add, [(name, -n, 0, n, 0, 0, 0) for name, n in per_queue])


def tally_completed(conn: sqlite3.Connection, rowids: Sequence[int]) -> None:
    """The rows `rowids` (just acked by `Q.complete_counted`) moved from processing to completed."""
    conn.execute(Q.tally_completed, (json.dumps(rowids),))
