"""The chaos test's own records, kept apart from the queue: one append-only JSON-lines file per process.

Each record is written with a single `os.write` on an O_APPEND descriptor, so a SIGKILL either
leaves the whole line or none of it, and the records of a process are in the order it wrote them.
Every record carries `t` (wall-clock seconds, the same clock in every process of the host).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["RecordLog", "read_records"]


class RecordLog:
    """Appends records to `path`; safe from several threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, event: str, **fields: Any) -> None:
        record = {"ev": event, "t": time.time(), "pid": os.getpid(), **fields}
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


def read_records(directory: Path, prefix: str) -> tuple[list[dict[str, Any]], int]:
    """Every record of the files `prefix*.jsonl` in `directory`, and how many lines were unreadable."""
    records: list[dict[str, Any]] = []
    bad = 0
    for path in sorted(directory.glob(f"{prefix}*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                bad += 1
    return records, bad
