"""One shard: a single SQLite file with its per-thread connections, pragmas, schema and errors."""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ...errors import (
    CorruptShard,
    ForeignDatabase,
    IncompatibleSchema,
    QueueClosed,
    StorageError,
    StorageReadOnly,
)
from . import _legacy
from ._errors import translate
from ._sql import (APPLICATION_ID, MIGRATE_2_TO_3, MIGRATE_3_TO_4, MIGRATE_4_TO_5, MIGRATE_5_TO_6, MIGRATE_6_TO_7,
                   OBSERVABILITY_SCHEMA, SCHEMA, SCHEMA_VERSION, Q)

__all__ = ["MIGRATIONS", "Shard", "ShardOptions", "translate"]

log = logging.getLogger("queue_max.storage")

# Every transaction is ours (BEGIN IMMEDIATE ... COMMIT), so sqlite3 must never open one by
# itself. 3.12+ says that with autocommit=True; isolation_level=None says it before 3.12, and on
# 3.12+ only while autocommit keeps its legacy default, which Python plans to change.
_OUR_TRANSACTIONS: dict[str, Any] = (
    {"autocommit": True} if sys.version_info >= (3, 12) else {"isolation_level": None})

# from_version -> statements that bring a shard to from_version + 1 (run in one transaction)
MIGRATIONS: dict[int, list[str]] = {1: OBSERVABILITY_SCHEMA, 2: MIGRATE_2_TO_3, 3: MIGRATE_3_TO_4, 4: MIGRATE_4_TO_5, 5: MIGRATE_5_TO_6,
                                  6: MIGRATE_6_TO_7}


@dataclass(frozen=True, slots=True)
class ShardOptions:
    """Connection settings shared by every shard of a manager."""

    busy_timeout: float = 30.0
    # Pages of page cache per connection. Reads of the file go through mmap and skip it, so it
    # holds the pages written or read from the WAL: a claim+ack's few hundred fit in 2,000. More
    # costs every commit whose b-tree balance swapped pages (SQLite parks one at page
    # PENDING_BYTE/page_size + 1): its truncate then walks the whole hash table, which grows to
    # 16,384 buckets once a connection held ~10k pages (a big batch, a big read of the WAL).
    # `instr.py --child claim_ack_1s --scheduled 100000` (N and 2N, callgrind): the walk 9.0k a
    # job at 10,000 pages, 1.3k at 2,000 (0.2k with nothing filled); docs/benchmarks.md.
    cache_size: int = 2000
    mmap_size: int = 268435456
    durable: bool = False
    # Small pages: a claim or an ack rewrites ~3 pages, so WAL traffic per job scales with this.
    page_size: int = 1024
    journal_size_limit: int = 64 * 1024 * 1024
    # Checkpoint after this many WAL pages (8 MiB at 1 KiB pages) instead of SQLite's 1000:
    # checkpointing inline every ~200 jobs cost a sixth of claim+ack throughput. Workers also
    # checkpoint when idle, so the WAL stays small in practice and bounded in the worst case.
    wal_autocheckpoint: int = 8192
    # Open for reading only (the data directory is not writable: a snapshot, a backup, a read-only
    # mount): nothing is created, initialized or migrated, and every write raises StorageReadOnly.
    read_only: bool = False


class _Tx:
    """`with shard.write() as conn:` — one BEGIN IMMEDIATE transaction, errors translated."""

    __slots__ = ("_shard", "_conn")

    def __init__(self, shard: Shard) -> None:
        self._shard = shard
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        conn = self._shard.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise translate(exc, self._shard.name) from exc
        self._conn = conn
        return conn

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._conn
        assert conn is not None
        if kind is None:
            try:
                conn.execute("COMMIT")
                return
            except sqlite3.Error as commit_exc:
                _rollback(conn)
                raise translate(commit_exc, self._shard.name) from commit_exc
        _rollback(conn)
        if isinstance(exc, sqlite3.Error):
            raise translate(exc, self._shard.name) from exc


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        log.debug("rollback failed", exc_info=True)


class _Holder:
    """Owns one thread's connection and closes it when the thread's local storage goes.

    Not with `__del__`: a holder dropped in a reference cycle (a queue let go without close(),
    its connection made in a pool thread) is collected together with its connection, in no set
    order, and Python 3.13 warns "unclosed database" when the connection goes first. The
    finalizer holds the connection, so it is never part of such a cycle, and runs before it."""

    __slots__ = ("conn", "thread", "_closer", "__weakref__")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.thread = threading.current_thread()
        self._closer = weakref.finalize(self, _close_quietly, conn)
        self._closer.atexit = False  # at exit a daemon thread may still run a statement on it

    def close(self) -> None:
        self._closer()


def _close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        log.debug("close failed", exc_info=True)


class Shard:
    """One shard file. Each thread gets its own connection; the object is shared by threads."""

    def __init__(self, path: Path, shard_id: int, options: ShardOptions) -> None:
        self.path = path
        self.shard_id = shard_id
        self.name = f"shard {shard_id} ({path})"
        self.options = options
        self._local = threading.local()
        self._lock = threading.Lock()
        # weak: a thread's connection is closed when the thread ends and drops its holder
        self._all: weakref.WeakSet[_Holder] = weakref.WeakSet()
        self._closed = False
        self._open_and_check()

    # ── connections ──
    def conn(self) -> sqlite3.Connection:
        """This thread's connection to the shard (opened on first use)."""
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is None:
            holder = _Holder(self._connect())
            self._local.holder = holder
            with self._lock:
                self._all.add(holder)
        elif self._closed:  # closed by another thread: close ours here, where nothing runs on it
            self._local.holder = None
            holder.close()
            raise QueueClosed(f"{self.name} is closed")
        return holder.conn

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise QueueClosed(f"{self.name} is closed")
        try:
            conn: sqlite3.Connection = sqlite3.connect(
                self._read_only_uri() if self.options.read_only else self.path,
                timeout=self.options.busy_timeout,
                check_same_thread=False,
                cached_statements=256,
                uri=self.options.read_only,
                **_OUR_TRANSACTIONS,
            )
        except sqlite3.Error as exc:
            raise translate(exc, self.name) from exc
        try:
            conn.execute(f"PRAGMA synchronous = {'FULL' if self.options.durable else 'NORMAL'}")
            conn.execute(f"PRAGMA cache_size = {int(self.options.cache_size)}")
            conn.execute(f"PRAGMA mmap_size = {int(self.options.mmap_size)}")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute(f"PRAGMA journal_size_limit = {int(self.options.journal_size_limit)}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {int(self.options.wal_autocheckpoint)}")
        except sqlite3.Error as exc:
            conn.close()  # opened, then refused (a corrupt or foreign file): not left open
            raise translate(exc, self.name) from exc
        if self._closed:
            conn.close()
            raise QueueClosed(f"{self.name} is closed")
        return conn

    def _read_only_uri(self) -> str:
        # Without a -wal file no writer is active and there is nothing to replay: `immutable`
        # reads without the -shm file, which a read-only directory could not create.
        wal = self.path.with_name(self.path.name + "-wal")
        return f"{self.path.resolve().as_uri()}?{'mode=ro' if wal.exists() else 'immutable=1'}"

    def write(self) -> _Tx:
        return _Tx(self)

    def read(self, sql: str, params: Any = ()) -> list[Any]:
        try:
            return self.conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc, self.name) from exc

    def read_one(self, sql: str, params: Any = ()) -> Any:
        try:
            return self.conn().execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise translate(exc, self.name) from exc

    def data_version(self) -> int:
        return int(self.read_one("PRAGMA data_version")[0])

    def close(self) -> None:
        """Close this thread's connection now; another live thread closes its own at its next use
        (QueueClosed) or when it ends. Closing a connection while another thread runs a statement
        on it crashes the interpreter (sqlite3 frees what the statement still uses)."""
        me = threading.current_thread()
        with self._lock:
            self._closed = True
            holders = list(self._all)
        for holder in holders:
            if holder.thread is me or not holder.thread.is_alive():
                holder.close()

    # ── opening, checks, schema ──
    def _open_and_check(self) -> None:
        """Create or validate the file; a foreign, corrupt or newer file is never modified."""
        if self.options.read_only:
            self._open_read_only()
            return
        _create_private(self.path)
        try:
            conn = self.conn()
            self._check_header(conn)
            self._enable_wal(conn)
        except BaseException:
            self.close()
            raise

    def _open_read_only(self) -> None:
        """Validate an existing file without writing to it (no initialization, no migration)."""
        if not self.path.is_file():
            raise StorageReadOnly(f"{self.name} does not exist, and the data directory is read-only")
        try:
            app_id, version, _objects = self._read_header(self.conn())
            if app_id != APPLICATION_ID:
                raise ForeignDatabase(f"{self.name} is not a queue-max shard (application_id {app_id:#x}); "
                                      "it was left untouched")
            if version != SCHEMA_VERSION:
                raise IncompatibleSchema(
                    f"{self.name} has schema version {version} and this queue-max reads {SCHEMA_VERSION}; "
                    "a read-only directory cannot be migrated: open it once with write access")
        except BaseException:
            self.close()
            raise

    def _read_header(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        try:
            app_id, version, objects = conn.execute(Q.read_header).fetchone()
        except sqlite3.DatabaseError as exc:
            raise CorruptShard(
                f"{self.name} is not a readable SQLite database ({exc}); it was left untouched"
            ) from exc
        return int(app_id), int(version), int(objects)

    def _check_header(self, conn: sqlite3.Connection) -> None:
        app_id, version, objects = self._read_header(conn)
        if app_id == 0 and version == 0 and objects == 0:
            self._initialize()
            return
        if app_id == 0 and version == 0 and _legacy.looks_like_legacy(conn):
            _legacy.migrate(self)  # to schema 1; later versions migrate below
            app_id, version, objects = self._read_header(conn)
        if app_id != APPLICATION_ID:
            raise ForeignDatabase(
                f"{self.name} is an SQLite database of another application "
                f"(application_id {app_id:#x}, {objects} schema objects); queue-max will not "
                "touch it: point data_dir at an empty or queue-max directory"
            )
        if version > SCHEMA_VERSION:
            raise IncompatibleSchema(
                f"{self.name} has schema version {version}, written by a newer queue-max; "
                f"this version understands up to {SCHEMA_VERSION}. Upgrade queue-max; "
                "the file was left untouched"
            )
        if version < SCHEMA_VERSION:
            self._migrate()

    def _initialize(self) -> None:
        try:
            self.conn().execute(f"PRAGMA page_size = {int(self.options.page_size)}")
        except sqlite3.Error as exc:
            raise translate(exc, self.name) from exc
        with self.write() as conn:
            _, version, objects = conn.execute(Q.read_header).fetchone()
            if version == 0 and objects == 0:
                for statement in SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                for key, value in (
                    ("version", SCHEMA_VERSION),
                    ("shard_id", self.shard_id),
                    ("created_at", _now()),
                    ("total_jobs_processed", 0),
                    ("total_jobs_failed", 0),
                    ("last_vacuum", None),
                ):
                    conn.execute(Q.set_meta, (key, value))

    def _migrate(self) -> None:
        with self.write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            while version < SCHEMA_VERSION:
                steps = MIGRATIONS.get(version)
                if steps is None:
                    raise IncompatibleSchema(
                        f"{self.name} has schema version {version} and no migration exists "
                        f"from it to {SCHEMA_VERSION}; the file was left untouched"
                    )
                for statement in steps:
                    conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
                conn.execute(Q.set_meta, ("version", version))
                log.info("migrated %s to schema version %d", self.name, version)

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.Error as exc:
            raise translate(exc, self.name) from exc
        if str(mode).lower() != "wal":
            raise StorageError(f"{self.name}: could not switch to WAL mode (got {mode!r})")

    def metadata(self) -> dict[str, Any]:
        return dict(self.read(Q.all_meta))

    def checkpoint(self) -> None:
        """Fold the WAL back into the database file (cheap when it is small)."""
        try:
            self.conn().execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise translate(exc, self.name) from exc


def _create_private(path: Path) -> None:
    """Create the shard file with mode 0600 unless it exists (SQLite copies the mode to -wal/-shm)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except PermissionError as exc:
        raise StorageReadOnly(f"cannot create {path}: {exc.strerror}") from exc
    except OSError as exc:
        raise StorageError(f"cannot create {path}: {exc.strerror}") from exc
    os.close(fd)


def _now() -> float:
    return time.time()
