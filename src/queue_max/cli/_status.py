"""Status files of running `queue-max worker` processes: what `health` and `metrics` read about them.

Circuit-breaker and rate-limiter state live in each worker process's memory, out of reach of
another process. So every `queue-max worker` rewrites `<data_dir>/workers/<name>.json` every
few seconds (atomically: write, then rename) and removes it when it stops; readers drop the
files of processes that no longer exist and call a file that stopped changing stale.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from ..config import Settings
from ..storage.sqlite._workers import process_alive

__all__ = ["STATUS_DIR", "StatusFile", "read_statuses", "stale_after", "status_interval"]

log = logging.getLogger("queue_max.cli")

STATUS_DIR = "workers"


def status_interval(settings: Settings) -> float:
    """How often a worker rewrites its status file."""
    return min(2.0, settings.heartbeat_interval)


def stale_after(settings: Settings) -> float:
    """A status file older than this belongs to a hung or stopped worker."""
    return 3 * status_interval(settings) + 1.0


class StatusFile:
    """The status file of this process; writing never raises (a worker must not die of it)."""

    def __init__(self, data_dir: Path, name: str) -> None:
        self.path = data_dir / STATUS_DIR / f"{name}.json"
        self._broken = False

    def write(self, status: dict[str, Any]) -> None:
        if self._broken:
            return
        data = {"pid": os.getpid(), "host": socket.gethostname(), "updated_at": time.time(), **status}
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(mode=0o700, exist_ok=True)
            tmp.write_text(json.dumps(data, default=str), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            self._broken = True
            log.warning("cannot write the worker status file %s (%s); health and metrics will "
                        "not see this worker's circuit and limiter state", self.path, exc)

    def remove(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass


def read_statuses(data_dir: Path, stale_after: float, now: float | None = None) -> list[dict[str, Any]]:
    """Status of every worker process that is alive (or on another host), oldest name first.

    Each gets `age_seconds` and `stale` (not rewritten for `stale_after` seconds: hung or stopped).
    Files of processes that no longer exist are deleted."""
    folder = data_dir / STATUS_DIR
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    here = socket.gethostname()
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            pid, updated = int(data["pid"]), float(data["updated_at"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being replaced, or not ours
        if data.get("host") == here and not process_alive(pid):
            try:
                path.unlink()
            except OSError:
                pass
            continue
        data["age_seconds"] = max(0.0, now - updated)
        data["stale"] = data["age_seconds"] > stale_after
        found.append(data)
    return found
