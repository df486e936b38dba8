"""Upgrading shard files written by queue-max 0.1.1 (schema "version 0") in place."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..._json import dumps
from ...errors import MigrationFailed, StorageError
from ._errors import translate
from ._ids import MAX_SHARDS, job_id_of
from ._sql import APPLICATION_ID, SCHEMA, SCHEMA_VERSION, Q

if TYPE_CHECKING:
    from .shard import Shard

__all__ = ["LegacyMigrationError", "looks_like_legacy", "migrate"]

log = logging.getLogger("queue_max.storage")

# The exact column sets 0.1.1 created: a file matching them by name only is another application's.
_LAYOUT: dict[str, frozenset[str]] = {
    "fila": frozenset({
        "id", "pagina_id", "payload", "status", "priority", "tentativas", "max_tentativas",
        "retry_delay", "last_error", "error_type", "error_stack", "worker_id", "heartbeat",
        "created_at", "started_at", "completed_at", "next_retry_at",
    }),
    "shard_metadata": frozenset({
        "shard_id", "version", "created_at", "last_vacuum", "total_jobs_processed",
        "total_jobs_failed",
    }),
    "dead_letter_queue": frozenset({
        "id", "original_job_id", "payload", "error", "error_type", "failed_at", "shard_id",
    }),
}
_FINISHED = frozenset({"completed", "failed", "cancelled"})
# 0.1.1's own column default, for a row that was written with an explicit NULL
_LEGACY_MAX_ATTEMPTS = 3
_SHOWN = 10  # how many row ids a warning lists


class _L:
    """Named statements of the migration (they read the renamed 0.1.1 tables)."""

    objects = "SELECT type, name FROM sqlite_master"
    columns = "SELECT name FROM pragma_table_info(?)"
    rename = "ALTER TABLE {0} RENAME TO legacy_{0}"
    drop = "DROP TABLE legacy_{0}"
    jobs = (
        "SELECT id, pagina_id, payload, status, coalesce(priority, 0), coalesce(tentativas, 0), "
        f"coalesce(max_tentativas, {_LEGACY_MAX_ATTEMPTS}), last_error, error_type, error_stack, "
        "worker_id, heartbeat, created_at, started_at, completed_at, next_retry_at "
        "FROM legacy_fila ORDER BY id"
    )
    insert_job = (
        "INSERT INTO fila(id, pagina_id, payload, status, priority, tentativas, max_tentativas, "
        "last_error, error_type, error_stack, worker_id, heartbeat, created_at, started_at, "
        "completed_at, run_at, ready, lease_token, lease_expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    # one history entry per job that had failed, so `Job.errors` is not empty for them
    error_history = (
        "INSERT INTO job_errors(job_rowid, attempt, worker_id, error_type, error, error_stack, "
        "failed_at) SELECT id, tentativas, worker_id, error_type, last_error, error_stack, "
        "coalesce(completed_at, heartbeat, started_at, created_at) FROM fila "
        "WHERE last_error IS NOT NULL"
    )
    dead_letters = (
        "SELECT d.id, d.original_job_id, d.payload, d.error, d.error_type, d.failed_at, "
        "f.id IS NOT NULL, coalesce(f.tentativas, 0), f.error_stack "
        "FROM legacy_dead_letter_queue d LEFT JOIN legacy_fila f ON f.id = d.original_job_id "
        "ORDER BY d.id"
    )
    insert_dead_letter = (
        "INSERT INTO dead_letter_queue(id, original_job_id, job_rowid, payload, error, "
        "error_type, error_stack, failed_at, shard_id, attempts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    # renaming a table renames its sqlite_sequence row too
    job_sequence = "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'legacy_fila'"
    dead_sequence = (
        "SELECT coalesce(max(seq), 0) FROM sqlite_sequence "
        "WHERE name IN ('legacy_dead_letter_queue', 'dead_letter_queue')"
    )
    forget_sequence = "DELETE FROM sqlite_sequence WHERE name = 'dead_letter_queue'"
    set_sequence = "INSERT INTO sqlite_sequence(name, seq) VALUES ('dead_letter_queue', ?)"
    metadata = (
        "SELECT shard_id, created_at, last_vacuum, total_jobs_processed, total_jobs_failed "
        "FROM legacy_shard_metadata"
    )


LegacyMigrationError = MigrationFailed  # the name this module raised before the error went public


@dataclass
class _Report:
    """What a migration converted, for the log."""

    statuses: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    wrapped: list[str] = field(default_factory=list)
    undated: list[str] = field(default_factory=list)


def looks_like_legacy(conn: sqlite3.Connection) -> bool:
    """Whether the file has exactly the table layout queue-max 0.1.1 created, and nothing else."""
    try:
        objects = conn.execute(_L.objects).fetchall()
        if any(kind in ("view", "trigger") for kind, _name in objects):
            return False
        tables = {name for kind, name in objects if kind == "table" and not name.startswith("sqlite_")}
        if tables != set(_LAYOUT):
            return False
        return all(
            {row[0] for row in conn.execute(_L.columns, (table,))} == columns
            for table, columns in _LAYOUT.items()
        )
    except sqlite3.Error as exc:

        raise translate(exc, "a shard file") from exc


def migrate(shard: Shard, *, now: float | None = None) -> None:
    """Rewrite a 0.1.1 shard into the current schema in one transaction, keeping every job.

    Row ids are kept, so a job's new id is `rowid * MAX_SHARDS + shard_id` (see `_ids`). On any failure the
    transaction rolls back, the shard is closed and a `StorageError` is raised.
    """
    moment = time.time() if now is None else now
    report = _Report()
    try:
        with shard.write() as conn:
            if not _still_legacy(conn):
                log.info("%s was upgraded by another process meanwhile", shard.name)
                return
            _convert(conn, shard.shard_id, moment, report)
    except Exception as exc:
        shard.close()  # the caller cannot: the Shard under construction is never returned
        if isinstance(exc, StorageError) and type(exc) not in (StorageError, LegacyMigrationError):
            raise  # busy, full, read-only...: typed already, and they say it was rolled back
        reason = str(exc) if isinstance(exc, StorageError) else f"{type(exc).__name__}: {exc}"
        raise LegacyMigrationError(
            f"{shard.name}: upgrading the queue-max 0.1.1 file failed ({reason}); "
            "it was rolled back and left untouched"
        ) from exc
    _log_report(shard.name, report)


def _still_legacy(conn: sqlite3.Connection) -> bool:
    """Re-check under the write lock: another process may have upgraded the file first."""
    app_id, version, _objects = conn.execute(Q.read_header).fetchone()
    if app_id == APPLICATION_ID:
        return False
    if app_id == 0 and version == 0 and looks_like_legacy(conn):
        return True
    raise LegacyMigrationError(
        f"the file changed while it was being opened (application_id {app_id:#x}, "
        f"user_version {version}) and is no longer a queue-max 0.1.1 file"
    )


def _convert(conn: sqlite3.Connection, shard_id: int, now: float, report: _Report) -> None:
    """Every step of the upgrade, inside the caller's transaction."""
    for table in _LAYOUT:
        conn.execute(_L.rename.format(table))
    for statement in SCHEMA:
        conn.execute(statement)
    _copy_metadata(conn, shard_id, now)
    _copy_jobs(conn, now, report)
    _copy_dead_letters(conn, shard_id, now, report)
    for table in _LAYOUT:
        conn.execute(_L.drop.format(table))
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _copy_metadata(conn: sqlite3.Connection, shard_id: int, now: float) -> None:
    rows = conn.execute(_L.metadata).fetchall()
    mine = [row for row in rows if row[0] == shard_id]
    if rows and not mine:
        recorded = sorted(row[0] for row in rows)
        raise LegacyMigrationError(
            f"the file records shard id(s) {recorded}, not {shard_id}; shard files were renamed "
            "or mixed between directories"
        )
    _sid, created, vacuum, processed, failed = mine[0] if mine else (shard_id, None, None, 0, 0)
    # 0.1.1 never reuses a row id (AUTOINCREMENT); new ids must stay above every one it gave out
    floor = conn.execute(_L.job_sequence).fetchone()[0]
    for key, value in (
        ("version", SCHEMA_VERSION),
        ("shard_id", shard_id),
        ("created_at", _epoch(created) or now),
        ("total_jobs_processed", int(processed or 0)),
        ("total_jobs_failed", int(failed or 0)),
        ("last_vacuum", _epoch(vacuum)),
        ("id_floor", int(floor)),
    ):
        conn.execute(Q.set_meta, (key, value))


def _copy_jobs(conn: sqlite3.Connection, now: float, report: _Report) -> None:
    rows = (_job_values(row, now, report) for row in conn.execute(_L.jobs))
    conn.executemany(_L.insert_job, rows)
    conn.execute(_L.error_history)


def _job_values(row: Any, now: float, report: _Report) -> tuple[Any, ...]:
    """One 0.1.1 `fila` row as the values of `_L.insert_job`."""
    (rowid, pagina_id, payload, status, priority, attempts, max_attempts, error, error_type,
     stack, worker, beat, created, started, completed, retry) = row
    created_at = _epoch(created)
    if created_at is None:
        report.undated.append(f"job {rowid}")
        created_at = now
    retry_at, started_at, heartbeat = _epoch(retry), _epoch(started), _epoch(beat)
    run_at = created_at if retry_at is None else retry_at
    lease_token, lease_expires_at, completed_at = 0, None, None
    if status in ("pending", "scheduled"):
        ready = None if status == "scheduled" or run_at > now else 1
        status = "pending" if ready else "scheduled"
    elif status == "processing":
        # its 0.1.1 worker is gone: an already expired lease lets lease recovery requeue it,
        # and 0.1.1 counted the attempt when it handed the job out, as queue-max does
        ready, lease_token = 1, 1
        lease_expires_at = heartbeat or started_at or now
    elif status in _FINISHED:
        ready = None
        completed_at = _epoch(completed) or started_at or created_at
    else:
        raise LegacyMigrationError(f"job {rowid} has status {status!r}, which 0.1.1 never wrote")
    report.statuses[status] += 1
    return (
        rowid, pagina_id, _payload(payload, f"job {rowid}", report), status, priority, attempts,
        max_attempts, error, error_type, stack, worker, heartbeat, created_at, started_at,
        completed_at, run_at, ready, lease_token, lease_expires_at,
    )


def _copy_dead_letters(conn: sqlite3.Connection, shard_id: int, now: float, report: _Report) -> None:
    rows = (_dead_letter_values(row, shard_id, now, report) for row in conn.execute(_L.dead_letters))
    conn.executemany(_L.insert_dead_letter, rows)
    # keep AUTOINCREMENT past every entry id 0.1.1 gave out, even deleted ones
    old = conn.execute(_L.dead_sequence).fetchone()[0]
    conn.execute(_L.forget_sequence)
    conn.execute(_L.set_sequence, (old,))


def _dead_letter_values(row: Any, shard_id: int, now: float, report: _Report) -> tuple[Any, ...]:
    """One 0.1.1 dead letter (joined with its job row, if any) as `_L.insert_dead_letter` values."""
    entry_id, job_rowid, payload, error, error_type, failed, has_job, attempts, stack = row
    failed_at = _epoch(failed)
    if failed_at is None:
        report.undated.append(f"dead letter {entry_id}")
        failed_at = now
    rowid = int(job_rowid or 0)
    report.dead_letters += 1
    return (
        entry_id, job_id_of(rowid, shard_id), rowid,
        _payload(payload, f"dead letter {entry_id}", report), error, error_type,
        stack if has_job else None, failed_at, shard_id, attempts if has_job else 0,
    )


def _payload(text: object, where: str, report: _Report) -> str:
    """The stored JSON text, kept as is when it is a JSON object; otherwise wrapped, never lost."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text)
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return text
    report.wrapped.append(where)
    return dumps({"legacy_payload": text})


def _epoch(value: object) -> float | None:
    """A 0.1.1 timestamp (UTC text, ISO-8601 or SQLite's `datetime('now')`) as epoch seconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _log_report(name: str, report: _Report) -> None:
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(report.statuses.items()))
    log.info(
        "upgraded %s from queue-max 0.1.1 to schema version %d: %d jobs (%s), %d dead letters; "
        "job ids are now rowid * %d + shard id",
        name, SCHEMA_VERSION, report.statuses.total(), statuses or "none", report.dead_letters,
        MAX_SHARDS,
    )
    for where, what in (
        (report.wrapped, 'payloads were not JSON objects and were kept as {"legacy_payload": text}'),
        (report.undated, "rows had a missing or unreadable timestamp and were dated at the upgrade"),
    ):
        if where:
            log.warning("%s: %d %s: %s", name, len(where), what, ", ".join(where[:_SHOWN]))
