"""The scoreboard: which job each thread of a worker process runs, readable by its supervisor.

A small file mapped into memory by both: the child writes (job id, start, deadline) into its
thread's slot around each job, without a system call; the supervisor reads it to kill a child
whose job passed its time limit, and after a crash to tell the jobs that were running (the attempt
counts: one of them may have killed the process) from the ones only held (released untouched).
A slot is written as a seqlock: the job id is cleared first and set last, and readers retry
when the id changed under them.
"""

from __future__ import annotations

import itertools
import mmap
import os
import struct
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["Scoreboard"]

_SLOT = struct.Struct("<qdd")  # job id (0 = idle), started (monotonic), deadline (monotonic, 0 = none)
_ID = struct.Struct("<q")


class Scoreboard:
    """`slots` entries in `path`; `create` in the supervisor, then `open` in the child."""

    def __init__(self, path: Path, slots: int, *, create: bool = False) -> None:
        self.path = path
        self.slots = slots
        size = slots * _SLOT.size
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._next = itertools.count()
        self._local = threading.local()

    # ── the child's side ──
    def _slot(self) -> int | None:
        slot: int | None = getattr(self._local, "slot", -1)
        if slot == -1:
            index = next(self._next)
            slot = self._local.slot = index if index < self.slots else None
        return slot

    def begin(self, job_id: int, timeout: float | None) -> None:
        slot = self._slot()
        if slot is None:
            return
        offset = slot * _SLOT.size
        now = time.monotonic()
        _ID.pack_into(self._map, offset, 0)
        _SLOT.pack_into(self._map, offset, 0, now, 0.0 if timeout is None else now + timeout)
        _ID.pack_into(self._map, offset, job_id)

    def end(self) -> None:
        slot = self._slot()
        if slot is not None:
            _ID.pack_into(self._map, slot * _SLOT.size, 0)

    # ── the supervisor's side ──
    def running(self) -> dict[int, tuple[float, float]]:
        """job id -> (started, deadline or 0.0) for every busy slot, as monotonic seconds."""
        jobs: dict[int, tuple[float, float]] = {}
        for slot in range(self.slots):
            offset = slot * _SLOT.size
            for _attempt in range(3):
                job_id, started, deadline = _SLOT.unpack_from(self._map, offset)
                if job_id == _ID.unpack_from(self._map, offset)[0]:
                    break
            if job_id:
                jobs[job_id] = (started, deadline)
        return jobs

    def clear(self) -> None:
        self._map[:] = bytes(len(self._map))

    def close(self) -> None:
        self._map.close()

    def __enter__(self) -> Scoreboard:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
