"""Settling the jobs of a worker process found dead, from its scoreboard: a job it held but never
started goes back without an attempt charged; a job it was running keeps the attempt (it may be
what killed the process), and so does every job when the board is missing or proves nothing."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from ._scoreboard import Board, board_paths, read_board
from .models import JobStatus
from .storage.sqlite._workers import process_alive

if TYPE_CHECKING:
    from .storage.base import Backend

__all__ = ["settle_dead_workers", "settle_worker"]

log = logging.getLogger("queue_max.recovery")
# A lease ended "now" is set to end this much before now, as `Backend.expire_leases` does (a lease
# expires strictly before the time it ends).
EXPIRED_BY = 0.001


def settle_dead_workers(backend: Backend, now: float) -> int:
    """Settle every worker whose boards are left in the queue's local directory by processes
    of this host that are gone; returns how many jobs were released uncharged."""
    local = backend.local_dir
    if local is None:
        return 0
    boards: dict[str, list[tuple[Path, Board]]] = defaultdict(list)
    for path in board_paths(local):
        board = read_board(path)
        if board is not None:
            boards[board.worker_id].append((path, board))
    return sum(_settle(backend, now, worker_id, found, expire=True) for worker_id, found in boards.items())


def settle_worker(backend: Backend, now: float, worker_id: str) -> int:
    """Release the jobs the worker `worker_id` held but never started, if its boards show its
    process dead; returns how many (0 without a board). The caller ends the leases left."""
    local = backend.local_dir
    if local is None:
        return 0
    found = [(path, board) for path in board_paths(local, worker_id)
             if (board := read_board(path)) is not None and board.worker_id == worker_id]
    return _settle(backend, now, worker_id, found, expire=False)


def _settle(backend: Backend, now: float, worker_id: str, found: list[tuple[Path, Board]], *, expire: bool) -> int:
    dead = [(path, board) for path, board in found if board.here and not process_alive(board.pid)]
    if not dead:
        return 0
    if len(dead) < len(found):
        # another process (alive, or on another host) uses the same worker id: the leases of
        # both carry it, so none can be told apart; they expire, charged
        _unlink([path for path, _board in dead])
        return 0
    # Read the boards again, now that their processes are known dead (a dead process writes no
    # more): the first read came before the check, and in between the process may have started
    # a job, even one that killed it, which that read does not show. A board gone meanwhile was
    # settled by another process; the leases left expire, charged.
    dead = [(path, board) for path, _first in dead if (board := read_board(path)) is not None]
    if len(dead) < len(found):
        return 0
    leases = [job.lease for job in backend.list_jobs(JobStatus.PROCESSING, 1_000_000) if job.worker_id == worker_id]
    if _newcomer(backend, worker_id, dead):
        # a process that took the same id after the boards were listed (it opens its board
        # before its first claim) may hold some of these leases: as above, they expire, charged
        _unlink([path for path, _board in dead])
        return 0
    started = frozenset().union(*(board.started for _path, board in dead))
    complete = all(board.complete for _path, board in dead)
    unstarted = [lease for lease in leases if (lease.job_id, lease.token) not in started] if complete else []
    # a lease another process recovered meanwhile comes back as stale, untouched
    released = len(unstarted) - len(backend.release(unstarted, now)) if unstarted else 0
    if expire:
        # what the worker was running keeps its lease until recovery charges it: end it now.
        # Only the leases listed above: the id's later leases are a newcomer's.
        kept = set(unstarted)
        backend.extend([lease for lease in leases if lease not in kept], now - EXPIRED_BY)
    _unlink([path for path, _board in dead])
    if released:
        log.warning("worker %s (pid %s) died holding %d job%s it had not started; released them "
                    "without charging an attempt", worker_id, ", ".join(str(b.pid) for _p, b in dead),
                    released, "" if released == 1 else "s")
    return released


def _newcomer(backend: Backend, worker_id: str, dead: list[tuple[Path, Board]]) -> bool:
    """Whether a board of `worker_id` other than the dead ones' is there now."""
    local = backend.local_dir
    assert local is not None
    known = {path for path, _board in dead}
    return any(path not in known and (board := read_board(path)) is not None and board.worker_id == worker_id
               for path in board_paths(local, worker_id))


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink()
        except OSError:
            pass
