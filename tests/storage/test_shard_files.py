"""Shard files: creation, permissions, refusal of foreign, corrupt and newer files, shard counts."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat

import pytest

from queue_max import (
    CorruptShard,
    ForeignDatabase,
    IncompatibleSchema,
    Queue,
    ShardCountMismatch,
    StorageError,
)
from queue_max.storage.sqlite import ShardManager
from queue_max.storage.sqlite._sql import APPLICATION_ID, SCHEMA_VERSION
from _helpers import run_threads


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_shards_are_private_wal_files_with_our_application_id(tmp_path):
    manager = ShardManager(tmp_path / "data", 3)
    manager.close()
    assert stat.S_IMODE(os.stat(tmp_path / "data").st_mode) == 0o700
    for n in range(3):
        path = tmp_path / "data" / f"shard_{n}.db"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def test_jobs_survive_reopening(tmp_path, settings):
    with Queue(data_dir=tmp_path / "d", shards=4, settings=settings) as queue:
        ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(20)])["ids"]
    with Queue(data_dir=tmp_path / "d", shards=4, settings=settings) as queue:
        assert sorted(queue.get_job(i).payload["n"] for i in ids) == list(range(20))


def test_reopening_with_another_shard_count_is_refused(tmp_path, settings):
    Queue(data_dir=tmp_path / "d", shards=4, settings=settings).close()
    with pytest.raises(ShardCountMismatch, match=r"holds 4 shards .* but 6 were asked for"):
        Queue(data_dir=tmp_path / "d", shards=6, settings=settings)


def test_without_an_explicit_count_the_directory_decides(tmp_path, settings):
    Queue(data_dir=tmp_path / "d", shards=4, settings=settings).close()
    with Queue(data_dir=tmp_path / "d", settings=settings) as queue:
        assert queue.num_shards == 4


def test_an_explicit_environment_count_is_checked_too(tmp_path, settings):
    Queue(data_dir=tmp_path / "d", shards=4, settings=settings).close()
    explicit = settings.with_(num_shards=2, shards_explicit=True)
    with pytest.raises(ShardCountMismatch):
        Queue(data_dir=tmp_path / "d", settings=explicit)


def test_a_missing_shard_file_is_detected(tmp_path):
    ShardManager(tmp_path / "d", 3).close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / "d" / f"shard_1.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(StorageError, match="not shard_0 .. shard_N"):
        ShardManager(tmp_path / "d", 3)


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "shard_0.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users(name) VALUES ('ana')")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(ForeignDatabase, match="another application"):
        ShardManager(tmp_path / "d", 1)
    assert digest(path) == before
    assert sorted(os.listdir(tmp_path / "d")) == [".queue-max.lock", "shard_0.db"]


def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path):
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "shard_0.db"
    path.write_bytes(b"this is not a database at all" * 200)
    before = digest(path)
    with pytest.raises(CorruptShard, match="not a (readable SQLite|valid queue-max) database"):
        ShardManager(tmp_path / "d", 1)
    assert digest(path) == before


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path):
    ShardManager(tmp_path / "d", 1).close()
    path = tmp_path / "d" / "shard_0.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = digest(path)
    with pytest.raises(IncompatibleSchema, match="newer queue-max"):
        ShardManager(tmp_path / "d", 1)
    assert digest(path) == before


def test_two_processes_worth_of_openers_create_a_directory_once(tmp_path):
    import threading

    errors, start = [], threading.Barrier(6)

    def open_it() -> None:
        start.wait()
        try:
            ShardManager(tmp_path / "race", 3).close()
        except Exception as exc:  # pragma: no cover - the assertion shows it
            errors.append(exc)

    run_threads(6, open_it)
    assert errors == []
    assert len([p for p in os.listdir(tmp_path / "race") if p.endswith(".db")]) == 3


def test_a_read_only_data_directory_gives_a_typed_error(tmp_path, settings):
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        with pytest.raises(StorageError):
            Queue(data_dir=target, settings=settings)
    finally:
        target.chmod(0o700)


def _read_only(monkeypatch, path):
    """This process may not write to `path` (as a read-only mount or another user's snapshot)."""
    import os

    from queue_max.storage.sqlite import _layout

    real = os.access
    monkeypatch.setattr(_layout.os, "access",
                        lambda p, mode: False if (mode & os.W_OK and str(p) == str(path)) else real(p, mode))


def test_a_read_only_directory_can_be_read_but_not_written(tmp_path, monkeypatch):
    from queue_max import Queue, Settings, StorageReadOnly

    # Given a queue with jobs, then left read-only (a snapshot), without its lock file
    data = tmp_path / "snapshot"
    with Queue(data_dir=data, shards=2, rate_limit=0, settings=Settings()) as queue:
        ids = [queue.enqueue({"n": n})["id"] for n in range(3)]
    (data / ".queue-max.lock").unlink()
    _read_only(monkeypatch, data)
    # When it is opened again
    with Queue(data_dir=data, rate_limit=0, settings=Settings()) as queue:
        # Then everything reads, and a write is refused with a typed error
        assert queue.get_stats()["pending"] == 3 and queue.num_shards == 2
        assert queue.get_job(ids[0]).payload == {"n": 0}
        with pytest.raises(StorageReadOnly):
            queue.enqueue({"n": 9})
    # And nothing was created or changed in the directory
    assert not (data / ".queue-max.lock").exists()


def test_stats_reads_a_read_only_directory(tmp_path, monkeypatch, capsys):
    from queue_max import Queue, Settings
    from queue_max.cli import main

    data = tmp_path / "backup"
    with Queue(data_dir=data, shards=1, rate_limit=0, settings=Settings()) as queue:
        queue.enqueue({"n": 1})
    _read_only(monkeypatch, data)
    assert main(["--data-dir", str(data), "stats", "--json"]) == 0
    assert '"pending": 1' in capsys.readouterr().out


def test_a_cleanly_closed_read_only_copy_without_wal_files_is_read_too(tmp_path, monkeypatch):
    from queue_max import Queue, Settings

    # Given a copy of a queue's shard files only (no -wal, no -shm), as a backup tool makes them
    data = tmp_path / "copy"
    with Queue(data_dir=data, shards=1, rate_limit=0, settings=Settings()) as queue:
        queue.enqueue_batch([{"payload": {"n": n}} for n in range(5)])
    for extra in data.glob("*.db-*"):
        extra.unlink()
    _read_only(monkeypatch, data)
    # Then it opens and reads
    with Queue(data_dir=data, rate_limit=0, settings=Settings()) as queue:
        assert queue.get_stats()["pending"] == 5
    assert not list(data.glob("*.db-shm"))
