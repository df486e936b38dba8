"""Test support for the PostgreSQL backend: where the server is, and one fresh schema per test.

The server is `QUEUE_MAX_TEST_DATABASE_URL` (default postgresql://postgres@127.0.0.1:5432/test).
Without one the PostgreSQL tests are skipped, except where `QUEUE_MAX_REQUIRE_POSTGRES=1`
(CI sets it), where they fail instead.
"""

from __future__ import annotations

import os
import time
import uuid
from functools import cache

import pytest

__all__ = ["PG_URL", "AheadClock", "drop_schema", "fresh_schema", "pg_available", "require_pg"]

PG_URL = os.environ.get("QUEUE_MAX_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
HOW = ("PostgreSQL tests need a server: set QUEUE_MAX_TEST_DATABASE_URL=postgresql://user:pass@host/db "
       "(default postgresql://postgres@127.0.0.1:5432/test)")


@cache
def pg_available() -> str | None:
    """None if the server answers, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'queue-max[postgres]')"
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect ({str(exc).strip()})"
    return None


def require_pg() -> None:
    """Skip (or, in CI, fail) the calling test when no server answers."""
    problem = pg_available()
    if problem is None:
        return
    if os.environ.get("QUEUE_MAX_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here but {problem}")
    pytest.skip(f"{HOW}; {problem}")


def fresh_schema() -> str:
    return f"qm_test_{uuid.uuid4().hex[:16]}"


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class AheadClock:
    """A host's clock that runs `ahead` seconds off the real one (and so off the server's)."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def time(self) -> float:
        return time.time() + self.ahead

    def monotonic(self) -> float:
        return time.monotonic()
