"""Connections to PostgreSQL: options, URL redaction, driver-error translation, migrations."""

from __future__ import annotations

import contextlib
import logging
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.errors
import psycopg_pool

from ...errors import (
    ConfigError,
    IncompatibleSchema,
    QueueMaxError,
    QueueClosed,
    StorageBusy,
    StorageError,
    StorageFull,
    StorageReadOnly,
    StorageUnavailable,
)
from .._url import redact_url
from ._sql import MIGRATIONS, SCHEMA_VERSION, Statements

__all__ = ["PostgresOptions", "connect_kwargs", "is_postgres_url", "migrate", "redact_url", "translating"]

log = logging.getLogger("queue_max.storage")

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")
_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True, slots=True)
class PostgresOptions:
    """How the backend connects; every duration is float seconds."""

    schema: str = "queue_max"
    # Connections per process: the pool (claims, acks, enqueues) plus one LISTEN connection.
    pool_min: int = 1
    pool_max: int = 4
    listen: bool = True
    connect_timeout: float = 10.0
    statement_timeout: float = 30.0
    idle_in_transaction_timeout: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.schema, str) or not _SCHEMA_NAME.match(self.schema):
            raise ConfigError(
                f"schema must be a lower-case identifier (letters, digits, _; at most 48 "
                f"characters, not starting with a digit), got {self.schema!r}")
        if type(self.pool_min) is not int or type(self.pool_max) is not int or not 1 <= self.pool_min <= self.pool_max <= 100:
            raise ConfigError(
                f"pool sizes must be ints with 1 <= pool_min <= pool_max <= 100, got "
                f"pool_min={self.pool_min!r}, pool_max={self.pool_max!r}")
        for name in ("connect_timeout", "statement_timeout", "idle_in_transaction_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
                raise ConfigError(f"{name} must be seconds between 0 and 86400, got {value!r}")


def is_postgres_url(url: object) -> bool:
    """Whether `url` names a PostgreSQL server (postgresql:// or postgres://)."""
    return isinstance(url, str) and url.startswith(_SCHEMES)


def _password(url: str) -> str | None:
    with contextlib.suppress(ValueError):
        parts = urllib.parse.urlsplit(url)
        if parts.password:
            return urllib.parse.unquote(parts.password)
        for key, value in urllib.parse.parse_qsl(parts.query):
            if key.lower() == "password" and value:
                return value
    return None


def scrub(text: str, url: str) -> str:
    """`text` with the URL and its password taken out (driver messages may quote either)."""
    text = text.replace(url, redact_url(url))
    secret = _password(url)
    if secret:
        text = text.replace(secret, "***")
    return text


def connect_kwargs(options: PostgresOptions) -> dict[str, Any]:
    """Connection settings every connection of the backend gets (TLS ones come from the URL)."""
    return {
        "connect_timeout": max(1, round(options.connect_timeout)),
        "application_name": "queue-max",
        # a link that dies silently is noticed in seconds, not after the kernel's two hours
        "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
    }


def session_settings(options: PostgresOptions) -> tuple[str, str]:
    """Parameters of `Q.configure` for each pooled connection: the two timeouts, in ms."""
    return (str(int(options.statement_timeout * 1000)), str(int(options.idle_in_transaction_timeout * 1000)))


def translate(exc: BaseException, url: str) -> QueueMaxError:
    """Map a driver error to the typed error tree (callers `raise ... from exc`)."""
    where = "PostgreSQL " + redact_url(url).split("?", 1)[0]
    message = scrub(str(exc).strip().replace("\n", " "), url)
    if isinstance(exc, psycopg_pool.PoolClosed):
        return QueueClosed(f"{where}: the backend is closed")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return StorageBusy(f"{where}: a statement ran past its timeout and was cancelled ({message}); "
                           "nothing was changed, retry shortly")
    if isinstance(exc, (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected,
                        psycopg.errors.SerializationFailure)):
        return StorageBusy(f"{where}: {message}; nothing was changed, retry shortly")
    if isinstance(exc, psycopg.errors.DiskFull):
        return StorageFull(f"{where}: the server's disk is full ({message}); the operation was rolled back")
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return StorageReadOnly(f"{where} is read-only ({message}); the operation was rolled back")
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout)):
        return StorageUnavailable(f"{where} is unavailable: {message}")
    return StorageError(f"{where}: {message}")


@contextlib.contextmanager
def translating(url: str) -> Iterator[None]:
    """Translate driver errors raised inside the block."""
    try:
        yield
    except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
        raise translate(exc, url) from exc


def migrate(conn: psycopg.Connection[Any], schema: str, q: Statements, where: str) -> int:
    """Create or upgrade the schema under an advisory lock; a newer schema is refused untouched."""
    with conn.transaction():
        # one migrator at a time per schema, across every host
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"queue_max:migrate:{schema}",))
        conn.execute(q.create_schema)
        conn.execute(q.create_meta)
        row = conn.execute(q.get_version).fetchone()
        version = 0 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise IncompatibleSchema(
                f"{where} schema {schema!r} has version {version}, written by a newer queue-max; this "
                f"version understands up to {SCHEMA_VERSION}. Upgrade queue-max; the schema was left untouched")
        while version < SCHEMA_VERSION:
            version += 1
            for statement in MIGRATIONS[version]:
                conn.execute(statement.format(s=q.schema_ident))
            conn.execute(q.set_version, (str(version),))
            log.info("migrated PostgreSQL schema %s to version %d", schema, version)
    return version
