"""SQLite driver errors translated into the typed error tree, at the seam (`raise ... from exc`)."""

from __future__ import annotations

import sqlite3

from ...errors import CorruptShard, StorageBusy, StorageError, StorageFull, StorageReadOnly

__all__ = ["translate"]


def translate(exc: sqlite3.Error, where: str) -> StorageError:
    """Map a driver error to the typed error tree (callers `raise ... from exc`)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StorageBusy(f"{where} is busy (locked by another writer past the busy timeout); retry shortly")
    if name.startswith("SQLITE_FULL"):
        return StorageFull(f"{where}: the disk or database is full; the operation was rolled back")
    if name.startswith("SQLITE_READONLY") or name == "SQLITE_CANTOPEN" and _readonly_hint(exc):
        return StorageReadOnly(f"{where} is read-only; the operation was rolled back ({exc})")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return CorruptShard(f"{where} is not a valid queue-max database ({exc}); it was left untouched")
    if name.startswith("SQLITE_IOERR") and "short read" not in str(exc):
        return StorageError(f"{where}: I/O error ({exc}); the operation was rolled back")
    return StorageError(f"{where}: {exc}")


def _readonly_hint(exc: sqlite3.Error) -> bool:
    return "readonly" in str(exc).lower() or "read-only" in str(exc).lower()
