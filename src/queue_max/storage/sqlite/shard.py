"""One shard: a single SQLite file with its per-thread connections, pragmas, schema and errors."""

from __future__ import annotations

import contextlib
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
from typing import Any, Callable, Iterator

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

_ALL, _ONE = sqlite3.Cursor.fetchall, sqlite3.Cursor.fetchone

# How long `Shard.close()` waits, in all, for other threads to finish the statements or
# transactions they are running, so that it can close their connections too.
CLOSE_WAIT = 1.0

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

    __slots__ = ("_shard", "_holder")

    def __init__(self, shard: Shard) -> None:
        self._shard = shard
        self._holder: _Holder | None = None

    def __enter__(self) -> sqlite3.Connection:
        holder = self._shard._take()
        try:
            holder.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._shard._give(holder)
            raise translate(exc, self._shard.name) from exc
        self._holder = holder
        return holder.conn

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        holder = self._holder
        assert holder is not None
        conn = holder.conn
        try:
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
        finally:
            self._shard._give(holder)


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
    finalizer holds the connection, so it is never part of such a cycle, and runs before it.

    `use` is held while the thread runs a statement or a transaction on the connection (see
    `Shard._take`), so that `Shard.close()` in another thread can close it when it is idle:
    sqlite3 frees a connection's statements on close, and a statement running meanwhile in
    another thread crashes the interpreter. `depth` (touched by the owning thread only) lets a
    use nest inside another one on the same shard."""

    __slots__ = ("conn", "thread", "use", "depth", "closed", "raw", "_closer", "__weakref__")

    def __init__(self, conn: sqlite3.Connection, census: _Census) -> None:
        self.conn = conn
        self.thread = threading.current_thread()
        self.use = threading.Lock()
        self.depth = 0
        self.closed = False
        self.raw = False  # handed out by `Shard.conn()`, used without `use`: only its thread closes it
        census.opened(conn)
        self._closer = weakref.finalize(self, _close_quietly, conn, census)
        self._closer.atexit = False  # at exit a daemon thread may still run a statement on it

    def close(self) -> None:
        self.closed = True
        self._closer()


class _Census:
    """The shard's open connections, whoever closes them. A thread that ends closes its own as
    its local storage goes, which can be while `Shard.close()` runs in another thread: close()
    waits for those closes to finish, so that every file is released when it returns."""

    __slots__ = ("open", "changed")

    def __init__(self) -> None:
        self.open: set[int] = set()  # id() of each open connection
        self.changed = threading.Condition(threading.Lock())

    def opened(self, conn: sqlite3.Connection) -> None:
        with self.changed:
            self.open.add(id(conn))

    def closed(self, conn: sqlite3.Connection) -> None:
        with self.changed:
            self.open.discard(id(conn))
            self.changed.notify_all()

    def wait_for_all_but(self, left: set[int], timeout: float) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.open <= left, timeout)


def _close_quietly(conn: sqlite3.Connection, census: _Census) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        log.debug("close failed", exc_info=True)
    finally:
        census.closed(conn)


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
        self._census = _Census()
        self._closed = False
        self._open_and_check()

    # ── connections ──
    def conn(self) -> sqlite3.Connection:
        """This thread's connection to the shard (opened on first use), for direct use.

        The package itself takes the connection for each use (`read`, `run`, `write`, `using`),
        which lets `close()` in another thread close it while it is idle. A connection handed out
        here is used without that, so another thread's `close()` leaves it to this thread, which
        closes it at its next use (QueueClosed) or when it ends."""
        holder = self._holder()
        if self._closed:  # closed by another thread: close ours here, where nothing runs on it
            self._local.holder = None
            holder.close()
            raise QueueClosed(f"{self.name} is closed")
        holder.raw = True
        return holder.conn

    def _holder(self) -> _Holder:
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is None:
            holder = _Holder(self._connect(), self._census)
            self._local.holder = holder
            with self._lock:
                self._all.add(holder)
        return holder

    def _take(self) -> _Holder:
        """This thread's connection, taken for one use (a statement, a transaction) until
        `_give`: meanwhile `close()` in another thread waits for it instead of closing it."""
        holder = self._holder()
        if not holder.depth:
            holder.use.acquire()
        holder.depth += 1
        if self._closed:  # (a holder is only ever closed once its shard is)
            self._give(holder)
            raise QueueClosed(f"{self.name} is closed")
        return holder

    def _give(self, holder: _Holder) -> None:
        holder.depth -= 1
        if not holder.depth:
            if self._closed and not holder.closed:  # closed while this thread used it: close it now
                holder.close()  # before the release: a close() waiting for it returns after this
            holder.use.release()

    @contextlib.contextmanager
    def using(self) -> Iterator[sqlite3.Connection]:
        """`with shard.using() as conn:` this thread's connection for several statements (no
        transaction of its own: see `write()`); `close()` in another thread waits for the block."""
        holder = self._take()
        try:
            yield holder.conn
        finally:
            self._give(holder)

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
        """Every row of one statement (a read, or a write with RETURNING: its own transaction)."""
        rows: list[Any] = self._statement(sql, params, _ALL)
        return rows

    def read_one(self, sql: str, params: Any = ()) -> Any:
        """The first row of one statement (None if it has none)."""
        return self._statement(sql, params, _ONE)

    def run(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """One statement that returns no rows, in its own transaction; the cursor tells its
        `rowcount` and `lastrowid`."""
        cursor: sqlite3.Cursor = self._statement(sql, params, None)
        return cursor

    def _statement(self, sql: str, params: Any, fetch: Callable[[sqlite3.Cursor], Any] | None) -> Any:
        """One statement on this thread's connection, taken for it as `_take` / `_give` do, here
        inline: with the two calls a lone statement cost 2.1k instructions more than before
        connections were taken, inline 1.3-1.5k (callgrind, a loop of `read_one("SELECT 1")`:
        11.0k a statement before)."""
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is None:
            holder = self._holder()
        if holder.depth:  # inside another use of this thread's connection: already taken
            return self._nested(holder, sql, params, fetch)
        use = holder.use
        use.acquire()
        try:
            if self._closed:
                raise QueueClosed(f"{self.name} is closed")
            holder.depth = 1
            try:
                cursor = holder.conn.execute(sql, params)
                return cursor if fetch is None else fetch(cursor)
            except sqlite3.Error as exc:
                raise translate(exc, self.name) from exc
        finally:
            holder.depth = 0
            if self._closed and not holder.closed:  # closed while this thread used it: close it now
                holder.close()  # before the release: a close() waiting for it returns after this
            use.release()

    def _nested(self, holder: _Holder, sql: str, params: Any, fetch: Callable[[sqlite3.Cursor], Any] | None) -> Any:
        try:
            cursor = holder.conn.execute(sql, params)
            return cursor if fetch is None else fetch(cursor)
        except sqlite3.Error as exc:
            raise translate(exc, self.name) from exc

    def data_version(self) -> int:
        return int(self.read_one("PRAGMA data_version")[0])

    def close(self) -> None:
        """Close every connection to the shard: this thread's, those of ended threads, and those
        of live threads that are not using theirs. A thread inside a statement or transaction is
        waited for (`CLOSE_WAIT` seconds at most, for all of them); one still busy after that
        closes its own as its use ends. A connection handed out by `conn()` is closed by its own
        thread, at its next use or when the thread ends. Every later use raises QueueClosed."""
        me = threading.current_thread()
        with self._lock:
            self._closed = True
            holders = list(self._all)
        deadline = time.monotonic() + CLOSE_WAIT
        left: set[int] = set()  # connections left to their threads
        for holder in holders:
            if holder.closed:
                continue
            if holder.thread is me or not holder.thread.is_alive():
                holder.close()
            elif not holder.raw and holder.use.acquire(timeout=max(0.0, deadline - time.monotonic())):
                try:
                    holder.close()
                finally:
                    holder.use.release()
            else:
                left.add(id(holder.conn))
        # threads that were ending as this ran close their connections themselves
        self._census.wait_for_all_but(left, max(0.0, deadline - time.monotonic()))

    # ── opening, checks, schema ──
    def _open_and_check(self) -> None:
        """Create or validate the file; a foreign, corrupt or newer file is never modified."""
        if self.options.read_only:
            self._open_read_only()
            return
        _create_private(self.path)
        try:
            with self.using() as conn:
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
            with self.using() as conn:
                app_id, version, _objects = self._read_header(conn)
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
        self.run(f"PRAGMA page_size = {int(self.options.page_size)}")
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
        self.read("PRAGMA wal_checkpoint(PASSIVE)")


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
