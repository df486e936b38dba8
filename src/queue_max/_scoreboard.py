"""The scoreboard: the jobs a worker process's threads have started, in a file others can read.

A small file mapped into memory. The worker writes (job id, lease token, start, deadline) into
its thread's slot around each handler call, without a system call. Readers: the supervisor of a
worker process (to kill a child whose job passed its time limit, and after a crash to tell the
running jobs from the ones only held), and any process that finds the worker dead (lease
recovery: a held job whose claim is not on the board never started, so it is released without
an attempt charged).

A slot is written as a seqlock: the job id is cleared first and set last, and readers retry
when the id changed under them. The header names the process (pid, host) and the worker id; a
flag records that a thread found no free slot, after which the board proves nothing.
"""

from __future__ import annotations

import itertools
import mmap
import os
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = ["BOARD_DIR", "Board", "Scoreboard", "board_path", "board_paths", "drop_board", "open_board", "read_board"]

BOARD_DIR = "workers"  # under the queue's local directory, beside the CLI's worker status files
_SUFFIX = ".started"
_MAGIC = b"QMSB"
# magic, version, pid, slots, overflow flag, length of the worker id, host (64 bytes)
_HEADER = struct.Struct("<4sIqIII64s")
_ID_SPACE = 256  # bytes kept for the worker id (utf-8)
_SLOTS_AT = _HEADER.size + _ID_SPACE
_OVERFLOW_AT = 20  # offset of the overflow flag in the header
_SLOT = struct.Struct("<qqdd")  # job id (0 = idle), lease token, started (monotonic), deadline (0 = none)
_ID = struct.Struct("<q")
_FLAG = struct.Struct("<I")


def board_path(local_dir: Path, worker_id: str, pid: int | None = None) -> Path:
    """Where the process `pid` (default: this one) of worker `worker_id` keeps its board under a
    queue's local directory (with the pid: ids are free text, and two processes may share one)."""
    return local_dir / BOARD_DIR / f"{_stem(worker_id)}.{os.getpid() if pid is None else pid}{_SUFFIX}"


def board_paths(local_dir: Path, worker_id: str | None = None) -> list[Path]:
    """The boards under a queue's local directory (of every worker, or those that may be
    `worker_id`'s: the caller checks the id a board names)."""
    pattern = f"{'*' if worker_id is None else _stem(worker_id) + '.*'}{_SUFFIX}"
    try:
        return sorted((local_dir / BOARD_DIR).glob(pattern))
    except OSError:
        return []


_TAKEN: set[Path] = set()  # boards this process has open: two workers may share an id
_TAKEN_LOCK = threading.Lock()


def open_board(local_dir: Path, worker_id: str, slots: int) -> Scoreboard:
    """A new board for a worker of this process, under a name no other worker here uses
    (`OSError` if it cannot be written)."""
    base = board_path(local_dir, worker_id)
    with _TAKEN_LOCK:
        path, serial = base, 1
        while path in _TAKEN:
            serial += 1
            path = base.with_name(f"{base.name[:-len(_SUFFIX)]}-{serial}{_SUFFIX}")
        _TAKEN.add(path)
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        return Scoreboard(path, slots, create=True, worker_id=worker_id)
    except BaseException:
        with _TAKEN_LOCK:
            _TAKEN.discard(path)
        raise


def drop_board(board: Scoreboard) -> None:
    """Delete a board `open_board` made (its map stays usable: a thread may still end a job)."""
    try:
        board.path.unlink()
    except OSError:
        pass
    with _TAKEN_LOCK:
        _TAKEN.discard(board.path)


def _stem(worker_id: str) -> str:
    return quote(worker_id, safe="-_@+=")[:200]


class Scoreboard:
    """`slots` entries in `path`. `create` makes the file for this process; without it the file
    must exist (a supervisor creates it, its child opens it and `own`s it)."""

    def __init__(self, path: Path, slots: int, *, create: bool = False, worker_id: str = "") -> None:
        self.path = path
        self.slots = slots
        size = _SLOTS_AT + slots * _SLOT.size
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._views = _slot_views(self._map, slots)
        self._next = itertools.count()
        if create:
            self.own(worker_id)

    def own(self, worker_id: str) -> None:
        """Write this process's name into the header (the board is cleared)."""
        self.clear()
        name = worker_id.encode()[:_ID_SPACE]
        host = socket.gethostname().encode()[:64]
        _HEADER.pack_into(self._map, 0, _MAGIC, 1, os.getpid(), self.slots, 0, len(name), host)
        self._map[_HEADER.size:_HEADER.size + len(name)] = name

    # ── the worker's side ──
    def take_slot(self) -> int | None:
        """A slot of its own for one thread, or None when all are taken (the board then says
        so, and proves nothing about the jobs of this process)."""
        index = next(self._next)
        if index < self.slots:
            return index
        _FLAG.pack_into(self._map, _OVERFLOW_AT, 1)
        return None

    def begin(self, slot: int | None, job_id: int, token: int, timeout: float | None,
              now: float | None = None) -> None:
        """Record that the job started at `now` (monotonic; default: the time of the call)."""
        if slot is None:
            return
        if now is None:
            now = time.monotonic()
        deadline = 0.0 if timeout is None else now + timeout
        views = self._views
        if views is None:  # a big-endian host: the slot's little-endian fields packed
            offset = _SLOTS_AT + slot * _SLOT.size
            _SLOT.pack_into(self._map, offset, 0, token, now, deadline)
            _ID.pack_into(self._map, offset, job_id)
            return
        ints, floats = views
        at = slot * 4  # the slot's first field, in 8-byte units
        ints[at] = 0  # the id is cleared first and set last (see the module's docstring)
        ints[at + 1] = token
        floats[at + 2] = now
        floats[at + 3] = deadline
        ints[at] = job_id

    def end(self, slot: int | None) -> None:
        if slot is None:
            return
        views = self._views
        if views is None:
            _ID.pack_into(self._map, _SLOTS_AT + slot * _SLOT.size, 0)
        else:
            views[0][slot * 4] = 0

    # ── the readers' side ──
    def running(self) -> dict[int, tuple[float, float]]:
        """job id -> (started, deadline or 0.0) for every busy slot, as monotonic seconds."""
        return {job_id: (started, deadline) for job_id, (_token, started, deadline) in _busy(self._map, self.slots)}

    def clear(self) -> None:
        self._map[:] = bytes(len(self._map))

    def close(self) -> None:
        if self._views is not None:
            for view in self._views:
                view.release()  # a map with views of it open cannot be closed
        self._map.close()

    def __enter__(self) -> Scoreboard:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _slot_views(board: mmap.mmap, slots: int) -> tuple[memoryview[int], memoryview[float]] | None:
    """The slots as 8-byte integers and as doubles, for a worker to write a field at a time
    (None on a big-endian host: the views write native order, the file is little-endian).

    An item assignment through a view, where `struct.pack_into` acquired and released the map's
    buffer and parsed its format each call: `begin` + `end` 364 -> 163 ns (timeit); the pinned
    drain of docs/benchmarks.md (one worker thread, callgrind): see there."""
    if sys.byteorder != "little":
        return None
    area = memoryview(board)[_SLOTS_AT:_SLOTS_AT + slots * _SLOT.size]
    return area.cast("q"), area.cast("d")


@dataclass(frozen=True)
class Board:
    """What a board file said when it was read."""

    worker_id: str
    pid: int
    host: str
    complete: bool  # False: a thread of the worker had no slot, so a job may have run unrecorded
    started: frozenset[tuple[int, int]]  # (job id, lease token) of every job running then

    @property
    def here(self) -> bool:
        """Written by a process of this host."""
        return self.host == socket.gethostname()[:64]


def read_board(path: Path) -> Board | None:
    """The board in `path`, or None if it cannot be read or is not a board."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < _SLOTS_AT:
        return None
    magic, version, pid, slots, overflow, name_len, host = _HEADER.unpack_from(data, 0)
    if magic != _MAGIC or version != 1 or len(data) < _SLOTS_AT + slots * _SLOT.size or name_len > _ID_SPACE:
        return None
    worker_id = data[_HEADER.size:_HEADER.size + name_len].decode(errors="replace")
    started = frozenset((job_id, token) for job_id, (token, _s, _d) in _busy(data, slots))
    return Board(worker_id, pid, host.rstrip(b"\0").decode(errors="replace"), not overflow, started)


def _busy(buffer: Any, slots: int) -> list[tuple[int, tuple[int, float, float]]]:
    found = []
    for slot in range(slots):
        offset = _SLOTS_AT + slot * _SLOT.size
        for _attempt in range(3):
            job_id, token, started, deadline = _SLOT.unpack_from(buffer, offset)
            if job_id == _ID.unpack_from(buffer, offset)[0]:
                break
        if job_id:
            found.append((job_id, (token, started, deadline)))
    return found
