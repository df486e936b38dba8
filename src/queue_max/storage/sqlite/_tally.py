"""The tallies a batch statement counts itself, in its own transaction (see `TALLIES_SCHEMA`)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from ._rows import CLAIMED_COLUMNS
from ._sql import TALLY_STATUSES, Q

__all__ = ["fold_tail", "mark_counted", "tally_claimed", "tally_completed", "tally_inserted", "tally_moved"]

_QUEUE = CLAIMED_COLUMNS.split(", ").index("queue_name")  # its place in a batch claim's row
_COLUMN = {status: index for index, status in enumerate(TALLY_STATUSES)}


def fold_tail(conn: sqlite3.Connection) -> None:
    """Count the rows of the tail (lone enqueues, rows inserted by hand) into the tallies (in the
    caller's write transaction), so that a statement after it may count its own rows: none is
    uncounted. One cheap read when there is nothing to fold.

    The mark moving past the rows is what makes them counted (schema 6): schema 5 also set each
    row's `tallied`, a rewrite of every row that cost ~5.5k instructions a lone enqueue. A tail
    of one queue and one status (lone enqueues of one queue, none claimed yet: the common case)
    is counted by one pass without a sort: on a raw-SQL loop of lone inserts and a fold, 4.3k ->
    1.75k instructions a row (the GROUP BY sorts every row). That pass counts the rows alike
    the newest row (two counts a row), not the least and greatest of two text columns (four
    text comparisons a row): a loop of 200 vs 400 lone inserts then a fold (callgrind), 2.6k ->
    1.8k instructions a row."""
    if conn.execute(Q.tail_waiting).fetchone()[0]:
        queue, status, count, alike = conn.execute(Q.tail_span).fetchone()
        if count and alike == count and status in _COLUMN:
            deltas = [0] * len(TALLY_STATUSES)
            deltas[_COLUMN[status]] = count
            conn.execute(Q.tally_add, (queue, *deltas))
        elif count:
            conn.execute(Q.fold_tail)
        mark_counted(conn)


def mark_counted(conn: sqlite3.Connection) -> None:
    """Move the mark past every row (all counted now, in the caller's transaction)."""
    conn.execute(Q.raise_floor)  # ids stay above the mark even after the newest rows go
    conn.execute(Q.fold_mark)


def tally_inserted(conn: sqlite3.Connection, queue_name: str, status: str, count: int) -> None:
    """`count` jobs inserted into `queue_name` as `status` ("pending" or "scheduled")."""
    pending, scheduled = (count, 0) if status == "pending" else (0, count)
    conn.execute(Q.tally_add, (queue_name, pending, scheduled, 0, 0, 0, 0))


def tally_claimed(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """The claimed `rows` (of CLAIMED_COLUMNS) moved from pending to processing."""
    if rows:
        tally_moved(conn, [row[_QUEUE] for row in rows], "pending", "processing")


def tally_moved(conn: sqlite3.Connection, queues: list[str], old: str, new: str) -> None:
    """One job of each of `queues` (a name per job) moved from status `old` to `new`."""
    first = queues[0]
    # one queue (the common case) found by a count in C, not a generator step a job
    per_queue: Iterable[tuple[str, int]] = (
        ((first, len(queues)),) if queues.count(first) == len(queues) else Counter(queues).items())
    for name, n in per_queue:
        if not _move(conn, name, n, old, new):
            deltas = [0] * len(TALLY_STATUSES)
            deltas[_COLUMN[old]] -= n
            deltas[_COLUMN[new]] += n
            conn.execute(Q.tally_add, (name, *deltas))


def _move(conn: sqlite3.Connection, name: str, n: int, old: str, new: str) -> bool:
    """A batch claim's or grouped ack's move as a plain UPDATE of the queue's tallies row; False
    (nothing changed) for another move, or when the row is missing (the caller UPSERTs it).

    The UPSERT (`Q.tally_add`) tries an insert first and writes all six columns: with the
    UPDATE, `benchmarks/instr.py claim_ack --n 1000` went from 159.2k to ~155k instructions a
    job (~0.7k of it in SQLite, measured on a raw-SQL loop; the rest is the Python that built
    each UPSERT's six deltas)."""
    if old == "pending" and new == "processing":
        return bool(conn.execute(Q.move_claimed, (n, n, name)).rowcount)
    if old == "processing" and new == "completed":
        return bool(conn.execute(Q.move_acked, (n, n, name)).rowcount)
    return False


def tally_completed(conn: sqlite3.Connection, rowids: Sequence[int]) -> None:
    """The rows `rowids` (just acked by `Q.complete_group`) moved from processing to completed."""
    conn.execute(Q.tally_completed, (json.dumps(rowids),))
