"""Settling the jobs of a worker process found dead, from its scoreboard: a job it held but never
started goes back without an attempt charged; a job it was running keeps the attempt (it may be
what killed the process), and so does every job when the board is missing or proves nothing."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ._scoreboard import BOARD_DIR, Board, board_path, read_board
from .errors import LeaseLost
from .models import JobStatus

if TYPE_CHECKING:
    from .queue import Queue

__all__ = ["process_alive", "settle_dead_workers", "settle_worker"]

log = logging.getLogger("queue_max.recovery")


def settle_dead_workers(queue: Queue) -> int:
    """Settle every worker of this host whose board is left in the queue's local directory and
    whose process is gone; returns how many jobs were released uncharged."""
    local = queue.backend.local_dir
    if local is None:
        return 0
    try:
        paths = sorted((local / BOARD_DIR).glob("*.started"))
    except OSError:
        return 0
    return sum(_settle_file(queue, path, expire=True) for path in paths)


def settle_worker(queue: Queue, worker_id: str) -> int:
    """Release the jobs the worker `worker_id` held but never started, if its board shows it
    dead; returns how many (0 without a board). The caller ends the leases left."""
    local = queue.backend.local_dir
    return 0 if local is None else _settle_file(queue, board_path(local, worker_id), expire=False)


def _settle_file(queue: Queue, path: Path, *, expire: bool) -> int:
    board = read_board(path)
    if board is None or not board.here or process_alive(board.pid):
        return 0  # not a board, another host's, or a live process (whose file is current)
    released = _release_unstarted(queue, board) if board.complete else 0
    if expire:
        # what the worker was running keeps its lease until recovery charges it: end it now
        queue.backend.expire_leases(board.worker_id, queue.clock.time())
    try:
        path.unlink()
    except OSError:
        pass
    if released:
        log.warning("worker %s (pid %d) died holding %d job%s it had not started; released "
                    "them without charging an attempt", board.worker_id, board.pid, released,
                    "" if released == 1 else "s")
    return released


def _release_unstarted(queue: Queue, board: Board) -> int:
    released = 0
    for job in queue.list_jobs(JobStatus.PROCESSING, limit=1_000_000):
        if job.worker_id != board.worker_id or (job.id, job.lease_token) in board.started:
            continue
        try:
            released += queue.release_job(job.id, lease=job.lease)
        except LeaseLost:
            pass  # recovered by another process meanwhile
    return released


def process_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
