"""The data directory: creating it privately, locking it, and finding its shard files."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: opening is not serialised across processes
    fcntl = None  # type: ignore[assignment]

from ...errors import ConfigError, StorageError

__all__ = ["LOCK_FILE", "directory_lock", "existing_shards", "prepare_dir", "read_only_dir"]

LOCK_FILE = ".queue-max.lock"
_SHARD_FILE = re.compile(r"^shard_(\d+)\.db$")


@contextlib.contextmanager
def directory_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the directory's lock; `shared` (a read-only opener) takes none, since it creates
    nothing and may not be able to open the lock file at all."""
    if shared:
        yield
        return
    try:
        fd = os.open(path / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise StorageError(f"cannot open the lock file in {str(path)!r}: {exc.strerror}") from exc
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_only_dir(data_dir: object) -> bool:
    """Whether `data_dir` is an existing queue directory this process may not write to."""
    if not isinstance(data_dir, (str, Path)) or not str(data_dir):
        return False
    path = Path(data_dir)
    return path.is_dir() and (path / "shard_0.db").is_file() and not os.access(path, os.W_OK)


def prepare_dir(data_dir: str | Path) -> Path:
    if not isinstance(data_dir, (str, Path)) or not str(data_dir):
        raise ConfigError(f"data_dir must be a non-empty path, got {data_dir!r}")
    path = Path(data_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"data_dir {str(path)!r} exists and is not a directory")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create data_dir {str(path)!r}: {exc.strerror}") from exc
    return path


def existing_shards(path: Path) -> list[int]:
    found = []
    for entry in path.iterdir():
        match = _SHARD_FILE.match(entry.name)
        if match:
            found.append(int(match.group(1)))
    found.sort()
    if found and found != list(range(len(found))):
        raise StorageError(
            f"data_dir {str(path)!r} has shard files {found}, which are not shard_0 .. shard_N "
            "without gaps; a shard file is missing or stray files were copied in"
        )
    return found
