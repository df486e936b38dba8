"""The SQLite backend's worker registry: one small JSON file per live worker, beside the shards.

The records live in `<data_dir>/workers/registry/`, not in the shard databases, on purpose: the
heartbeat of an idle worker then writes no shard, so it moves no shard's `data_version` and wakes
no other process's watcher (an idle queue causes no database writes). Each file is replaced
atomically (write, then rename), so a reader sees the old record or the new one."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import StorageError
from ...models import WorkerPresence

__all__ = ["FORGET_AFTER", "REGISTRY_DIR", "WorkerFiles", "presence_from_record", "presence_record",
           "process_alive"]

REGISTRY_DIR = Path("workers") / "registry"
# A record not refreshed for this long is deleted by the next reader: its worker is long gone
# (a stale one is still shown until then, so an operator sees what died).
FORGET_AFTER = 86400.0


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def presence_record(worker: WorkerPresence) -> dict[str, Any]:
    """The JSON-ready record of a worker (the PostgreSQL table holds the same fields)."""
    return {"worker_id": worker.worker_id, "host": worker.host, "pid": worker.pid, "kind": worker.kind,
            "queues": None if worker.queues is None else list(worker.queues), "concurrency": worker.concurrency,
            "running": worker.running, "started_at": worker.started_at, "heartbeat_at": worker.heartbeat_at}


def presence_from_record(record: dict[str, Any]) -> WorkerPresence:
    """A WorkerPresence from a stored record; KeyError, TypeError or ValueError if it is not one."""
    queues = record["queues"]
    return WorkerPresence(str(record["worker_id"]), str(record["host"]), int(record["pid"]), str(record["kind"]),
                          None if queues is None else tuple(str(name) for name in queues),
                          int(record["concurrency"]), int(record["running"]), float(record["started_at"]),
                          float(record["heartbeat_at"]))


def _file_name(worker: WorkerPresence) -> str:
    # one file per worker object: ids are free text and two processes may reuse one
    key = f"{worker.host}\0{worker.pid}\0{worker.worker_id}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:32] + ".json"


class WorkerFiles:
    """`put_workers`, `drop_workers` and `list_workers`, mixed into the ShardManager."""

    data_dir: Path

    @property
    def _registry(self) -> Path:
        return self.data_dir / REGISTRY_DIR

    def put_workers(self, workers: Sequence[WorkerPresence]) -> None:
        folder = self._registry
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            for worker in workers:
                path = folder / _file_name(worker)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(presence_record(worker)), encoding="utf-8")
                os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write the worker registry in {folder}: {exc}") from exc

    def drop_workers(self, workers: Sequence[WorkerPresence]) -> None:
        for worker in workers:
            try:
                (self._registry / _file_name(worker)).unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StorageError(f"cannot remove a worker record in {self._registry}: {exc}") from exc

    def list_workers(self, now: float) -> list[WorkerPresence]:
        folder = self._registry
        if not folder.is_dir():
            return []
        here = socket.gethostname()
        found = []
        for path in sorted(folder.glob("*.json")):
            try:
                worker = presence_from_record(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being replaced, or not ours
            if (worker.host == here and not process_alive(worker.pid)) or worker.age(now) > FORGET_AFTER:
                _forget(path)
                continue
            found.append(worker)
        return sorted(found, key=lambda w: (w.worker_id, w.host, w.pid))


def _forget(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass  # a read-only directory, or another reader was first: the record is skipped all the same
