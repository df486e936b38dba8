"""Settings: the one place that reads environment variables and turns them into typed defaults."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

__all__ = ["ENV_VARS", "Settings", "child_environment", "load_settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Every tunable default, in the units the library uses (seconds, bytes, counts)."""

    num_shards: int = 6
    rate_limit: int = 0
    max_retries: int = 3
    circuit_failure_threshold: int = 5
    circuit_timeout: float = 60.0
    busy_timeout: float = 30.0
    data_dir: Path = Path("./data")
    # see ShardOptions.cache_size: 2,000 pages, not 10,000 (a commit walks the cache's hash table)
    cache_size: int = 2000
    mmap_size: int = 268435456
    heartbeat_interval: float = 5.0
    lease_timeout: float = 30.0
    recovery_interval: float = 10.0
    cleanup_days: float = 7.0
    alert_threshold: int = 1000
    log_level: str = "WARNING"
    durable: bool = False
    result_ttl: float = 86400.0
    max_payload_bytes: int = 1048576
    retry_backoff: float = 120.0
    retry_backoff_max: float = 3600.0
    # never in repr: the URL may carry a password
    database_url: str | None = field(default=None, repr=False)
    database_schema: str = "queue_max"
    database_listen: bool = True
    database_pool_size: int = 4
    shards_explicit: bool = False

    def with_(self, **changes: Any) -> Settings:
        """A copy with some settings changed."""
        return replace(self, **changes)


N = TypeVar("N", int, float)


def _number(name: str, raw: str, low: N, high: N, kind: Callable[[str], N], what: str) -> N:
    try:
        value = kind(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _int(name: str, raw: str, low: int, high: int) -> int:
    return _number(name, raw, low, high, int, "an integer")


def _float(name: str, raw: str, low: float, high: float) -> float:
    return _number(name, raw, low, high, float, "a number")


def _ms(name: str, raw: str, low_ms: int, high_ms: int) -> float:
    return _int(name, raw, low_ms, high_ms) / 1000.0


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true/false (1/0, yes/no, on/off), got {raw!r}")


def _database_url(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        scheme = value.split("://", 1)[0] if "://" in value else value[:12]
        raise ConfigError(f"{name} must be a postgresql:// or postgres:// URL (or empty for SQLite), "
                          f"got one starting with {scheme!r}")
    return value


def _schema(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or len(value) > 48 or not value.replace("_", "a").isalnum() or not value.isascii() \
            or value != value.lower() or value[0].isdigit():
        raise ConfigError(f"{name} must be a lower-case identifier (letters, digits, _), got {raw!r}")
    return value


def _level(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"{name} must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {raw!r}")
    return value


# variable -> (settings field, parser, default as written in .env.example, meaning)
ENV_VARS: dict[str, tuple[str, Any, str, str]] = {
    "NUM_SHARDS": ("num_shards", lambda n, r: _int(n, r, 1, 1024), "6", "Number of shard databases (1-1024)"),
    "RATE_LIMIT_MAX": ("rate_limit", lambda n, r: _int(n, r, 0, 10**9), "0", "Max jobs started per minute in each named queue, host-wide; 0 (the default) = no limit"),
    "QUEUE_MAX_RETRIES": ("max_retries", lambda n, r: _int(n, r, 0, 1000), "3", "Max retry attempts after the first failure (0 = never retry)"),
    "CIRCUIT_FAILURE_THRESHOLD": ("circuit_failure_threshold", lambda n, r: _int(n, r, 1, 10**6), "5", "Consecutive failures before the circuit opens"),
    "CIRCUIT_TIMEOUT": ("circuit_timeout", lambda n, r: _float(n, r, 0, 86400 * 7), "60", "Seconds before an open circuit lets one trial job through"),
    "DB_BUSY_TIMEOUT": ("busy_timeout", lambda n, r: _ms(n, r, 0, 3_600_000), "30000", "SQLite busy timeout (ms)"),
    "DATA_DIR": ("data_dir", lambda n, r: Path(r), "./data", "Directory for the shard databases"),
    "CACHE_SIZE": ("cache_size", lambda n, r: _int(n, r, 0, 10**9), "2000", "SQLite page cache size per connection (pages)"),
    "MMAP_SIZE": ("mmap_size", lambda n, r: _int(n, r, 0, 2**40), "268435456", "SQLite memory-mapped I/O size (bytes)"),
    "HEARTBEAT_INTERVAL": ("heartbeat_interval", lambda n, r: _ms(n, r, 10, 3_600_000), "5000", "How often workers extend the leases of running jobs (ms)"),
    "STUCK_TIMEOUT": ("lease_timeout", lambda n, r: _ms(n, r, 100, 86_400_000), "30000", "Lease length: a job whose worker stops heartbeating for this long is recovered (ms)"),
    "RECOVERY_INTERVAL": ("recovery_interval", lambda n, r: _ms(n, r, 10, 86_400_000), "10000", "How often each worker process sweeps expired leases (ms)"),
    "CLEANUP_DAYS": ("cleanup_days", lambda n, r: _float(n, r, 0, 36500), "7", "Age (days) past which cleanup_old_jobs() deletes finished jobs"),
    "QUEUE_ALERT_THRESHOLD": ("alert_threshold", lambda n, r: _int(n, r, 0, 10**12), "1000", "Pending jobs above which the 'alert' event fires (0 = never)"),
    "QUEUE_MAX_LOG_LEVEL": ("log_level", _level, "WARNING", "Log level of the queue_max loggers"),
    "QUEUE_MAX_DURABLE": ("durable", _bool, "false", "true = synchronous=FULL: committed jobs survive power loss, not only process crashes"),
    "QUEUE_MAX_RESULT_TTL": ("result_ttl", lambda n, r: _float(n, r, 0, 86400 * 3650), "86400", "Seconds a completed job and its result are kept (0 = delete at completion)"),
    "QUEUE_MAX_MAX_PAYLOAD_BYTES": ("max_payload_bytes", lambda n, r: _int(n, r, 64, 256 * 1024 * 1024), "1048576", "Largest payload accepted, as JSON bytes"),
    "QUEUE_MAX_RETRY_BACKOFF": ("retry_backoff", lambda n, r: _float(n, r, 0, 86400), "120", "Base of the exponential retry backoff (s): base * 2^(retry-1), +/-20% jitter"),
    "QUEUE_MAX_RETRY_BACKOFF_MAX": ("retry_backoff_max", lambda n, r: _float(n, r, 0, 86400 * 7), "3600", "Cap of the retry backoff (s)"),
    "QUEUE_MAX_DATABASE_URL": ("database_url", _database_url, "", "PostgreSQL URL (postgresql://user:pass@host/db?sslmode=...); empty = SQLite shards in DATA_DIR"),
    "QUEUE_MAX_DATABASE_SCHEMA": ("database_schema", _schema, "queue_max", "PostgreSQL schema that holds the queue's tables"),
    "QUEUE_MAX_DATABASE_LISTEN": ("database_listen", _bool, "true", "PostgreSQL: wake idle workers with LISTEN/NOTIFY (false behind pgbouncer in transaction mode: poll instead)"),
    "QUEUE_MAX_DATABASE_POOL_SIZE": ("database_pool_size", lambda n, r: _int(n, r, 1, 100), "4", "PostgreSQL: most pooled connections per process (plus one LISTEN connection)"),
}

_FIELDS = {f.name for f in fields(Settings)}
assert all(spec[0] in _FIELDS for spec in ENV_VARS.values())


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: `os.environ`); unset variables keep their defaults."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, (field_name, parse, _default, _meaning) in ENV_VARS.items():
        raw = env.get(name)
        if raw is None:
            continue
        values[field_name] = parse(name, raw)
    if "num_shards" in values:
        values["shards_explicit"] = True
    return Settings(**values)


def child_environment() -> dict[str, str]:
    """A copy of this process's environment, for the worker processes it starts."""
    return dict(os.environ)
