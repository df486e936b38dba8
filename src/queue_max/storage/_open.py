"""Choosing and opening the storage backend a `Queue` uses: SQLite shards, or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

from .._clock import Clock
from ..config import Settings
from ..errors import ConfigError
from ._url import check_database_url, redact_url
from .base import Backend
from .sqlite import ShardManager, ShardOptions

__all__ = ["check_database_url", "open_backend", "open_postgres", "open_sqlite", "redact_url"]


def open_backend(url: str | None, settings: Settings, *, data_dir: Path, shards: int | None, durable: bool,
                 clock: Clock) -> Backend:
    """PostgreSQL when `url` names a database, else SQLite shards in `data_dir`; tuned by `settings`."""
    s = settings
    if url:
        return open_postgres(url, schema=s.database_schema, listen=s.database_listen,
                             pool_size=s.database_pool_size, clock=clock)
    return open_sqlite(data_dir, shards, busy_timeout=s.busy_timeout, cache_size=s.cache_size,
                       mmap_size=s.mmap_size, durable=durable, default_shards=s.num_shards)


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
