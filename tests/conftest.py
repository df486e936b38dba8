"""Shared fixtures: real SQLite data directories under tmp_path, a fake clock, backends."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from queue_max import Queue  # noqa: E402
from queue_max._clock import FakeClock  # noqa: E402
from queue_max.config import Settings  # noqa: E402
from queue_max.storage.base import Backend  # noqa: E402
from queue_max.storage.sqlite import ShardManager  # noqa: E402

from _pg import PG_URL, drop_schema, fresh_schema, require_pg  # noqa: E402


def _postgres(path: Path) -> Backend:
    require_pg()
    from queue_max.storage.postgres import PostgresBackend, PostgresOptions

    return PostgresBackend(PG_URL, options=PostgresOptions(schema=fresh_schema()))


# Every backend the conformance suite runs against: name -> factory(tmp_path) -> Backend.
BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "sqlite-1-shard": lambda path: ShardManager(path / "data", 1),
    "sqlite-4-shards": lambda path: ShardManager(path / "data", 4),
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    store = BACKENDS[request.param](tmp_path)
    yield store
    store.close()
    schema = getattr(getattr(store, "options", None), "schema", None)
    if request.param == "postgres" and schema:
        drop_schema(schema)  # each PostgreSQL test has its own schema


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped after it (skips without PostgreSQL)."""
    require_pg()
    name = fresh_schema()
    yield name
    drop_schema(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    """Defaults untouched by the developer's environment variables."""
    return Settings()


@pytest.fixture
def make_queue(tmp_path: Path, settings: Settings) -> Iterator[Callable[..., Queue]]:
    opened: list[Queue] = []

    def make(**kwargs: object) -> Queue:
        kwargs.setdefault("data_dir", tmp_path / "data")
        kwargs.setdefault("rate_limit", 0)
        kwargs.setdefault("settings", settings)
        queue = Queue(**kwargs)  # type: ignore[arg-type]
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        queue.close()


@pytest.fixture
def queue(make_queue: Callable[..., Queue], clock: FakeClock) -> Queue:
    return make_queue(shards=3, clock=clock)


@pytest.fixture
def short_leases(make_queue: Callable[..., Queue]) -> Callable[..., Queue]:
    """Queues whose leases last 1 s, with heartbeats and recovery sweeps every 0.2 s and retries
    without delay: worker tests see expiry and recovery within a second."""

    def make(**kwargs: object) -> Queue:
        options = {"shards": 2, "lease_timeout": 1.0, "heartbeat_interval": 0.2, "recovery_interval": 0.2,
                   "retry_backoff": 0.0, "retry_backoff_max": 0.0}
        return make_queue(**{**options, **kwargs})

    return make


@pytest.fixture
def spans() -> Iterator[Any]:
    """An in-memory OpenTelemetry exporter installed as queue-max's tracer provider for one test."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from queue_max import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    yield exporter
    tracing.use_tracer_provider(None)
    tracing.set_consumer_as_child(False)
