"""The PostgreSQL backend: one schema used as one queue by many processes on many hosts.

Needs the `postgres` extra (`pip install "queue-max[postgres]"`: psycopg 3 and psycopg_pool).
"""

from ._conn import PostgresOptions, is_postgres_url, redact_url
from ._sql import SCHEMA_VERSION
from .backend import PostgresBackend

__all__ = ["SCHEMA_VERSION", "PostgresBackend", "PostgresOptions", "is_postgres_url", "redact_url"]
