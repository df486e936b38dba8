"""Choosing and opening the storage backend a `Queue` uses: SQLite shards, or PostgreSQL by URL."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from .._clock import Clock
from ..errors import ConfigError
from .base import Backend
from .sqlite import ShardManager, ShardOptions

__all__ = ["check_database_url", "open_postgres", "open_sqlite", "redact_url"]

_SCHEMES = ("postgresql://", "postgres://")


def check_database_url(url: object, where: str = "database_url") -> str:
    """`url` if it names a PostgreSQL server; otherwise a `ConfigError` that never shows a password."""
    if isinstance(url, str) and url.startswith(_SCHEMES):
        return url
    if isinstance(url, str):
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise ConfigError(f"{where} must be a postgresql:// or postgres:// URL, got one starting "
                          f"with {scheme!r}; leave it empty to use SQLite shards in DATA_DIR")
    raise ConfigError(f"{where} must be a str URL (postgresql://...), got {type(url).__name__}")


def redact_url(url: str) -> str:
    """The URL with its password replaced by *** (works without the postgres extra)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hostinfo}"
    query = "&".join(
        f"{key}=***" if key.lower() == "password" else f"{key}={urllib.parse.quote(value, safe='')}"
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def open_sqlite(data_dir: Path, shards: int | None, *, busy_timeout: float, cache_size: int,
                mmap_size: int, durable: bool, default_shards: int) -> Backend:
    return ShardManager(
        data_dir, shards,
        options=ShardOptions(busy_timeout=busy_timeout, cache_size=cache_size, mmap_size=mmap_size,
                             durable=durable),
        default_shards=default_shards)


def open_postgres(url: str, *, schema: str, listen: bool, pool_size: int, clock: Clock) -> Backend:
    """A `PostgresBackend`; a `ConfigError` saying which extra to install when psycopg is missing."""
    try:
        from .postgres import PostgresBackend, PostgresOptions
    except ImportError as exc:
        raise ConfigError(
            f"a PostgreSQL database_url needs the postgres extra ({exc.name} is missing): "
            "pip install 'queue-max[postgres]'") from exc
    options = PostgresOptions(schema=schema, listen=listen, pool_max=pool_size,
                              pool_min=min(1, pool_size))
    return PostgresBackend(url, options=options, clock=clock)
