"""Settling the jobs of a worker process found dead, from its scoreboard: a job it held but never
started goes back without an attempt charged; a job it was running keeps the attempt (it may be
what killed the process), and so does every job when the board is missing or proves nothing."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from ._scoreboard import Board, board_paths, read_board
from .errors import LeaseLost
from .models import JobStatus
from .storage.sqlite._workers import process_alive

if TYPE_CHECKING:
    from .queue import Queue

__all__ = ["settle_dead_workers", "settle_worker"]

log = logging.getLogger("queue_max.recovery")


def settle_dead_workers(queue: Queue) -> int:
    """Settle every worker whose boards are left in the queue's local directory by processes
    of this host that are gone; returns how many jobs were released uncharged."""
    local = queue.backend.local_dir
    if local is None:
        return 0
    boards: dict[str, list[tuple[Path, Board]]] = defaultdict(list)
    for path in board_paths(local):
        board = read_board(path)
        if board is not None:
            boards[board.worker_id].append((path, board))
    return sum(_settle(queue, worker_id, found, expire=True) for worker_id, found in boards.items())


def settle_worker(queue: Queue, worker_id: str) -> int:
    """Release the jobs the worker `worker_id` held but never started, if its boards show its
    process dead; returns how many (0 without a board). The caller ends the leases left."""
    local = queue.backend.local_dir
    if local is None:
        return 0
    found = [(path, board) for path in board_paths(local, worker_id)
             if (board := read_board(path)) is not None and board.worker_id == worker_id]
    return _settle(queue, worker_id, found, expire=False)


def _settle(queue: Queue, worker_id: str, found: list[tuple[Path, Board]], *, expire: bool) -> int:
    dead = [(path, board) for path, board in found if board.here and not process_alive(board.pid)]
    if not dead:
        return 0
    if len(dead) < len(found):
        # another process (alive, or on another host) uses the same worker id: the leases of
        # both carry it, so none can be told apart; they expire, charged
        _unlink([path for path, _board in dead])
        return 0
    started = frozenset().union(*(board.started for _path, board in dead))
    complete = all(board.complete for _path, board in dead)
    released = _release_unstarted(queue, worker_id, started) if complete else 0
    if expire:
        # what the worker was running keeps its lease until recovery charges it: end it now
        queue.backend.expire_leases(worker_id, queue.clock.time())
    _unlink([path for path, _board in dead])
    if released:
        log.warning("worker %s (pid %s) died holding %d job%s it had not started; released them "
                    "without charging an attempt", worker_id, ", ".join(str(b.pid) for _p, b in dead),
                    released, "" if released == 1 else "s")
    return released


def _release_unstarted(queue: Queue, worker_id: str, started: frozenset[tuple[int, int]]) -> int:
    released = 0
    for job in queue.list_jobs(JobStatus.PROCESSING, limit=1_000_000):
        if job.worker_id != worker_id or (job.id, job.lease_token) in started:
            continue
        try:
            released += queue.release_job(job.id, lease=job.lease)
        except LeaseLost:
            pass  # recovered by another process meanwhile
    return released


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink()
        except OSError:
            pass
