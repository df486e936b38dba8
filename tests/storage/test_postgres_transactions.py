"""Transactional enqueue on PostgreSQL: a job exists if and only if the caller's transaction commits."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from _pg import PG_URL
from queue_max import ConfigError, Queue, task
from queue_max.config import Settings

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def queue(schema: str) -> Iterator[Queue]:
    opened = Queue(database_url=PG_URL, rate_limit=0, settings=Settings().with_(database_schema=schema))
    yield opened
    opened.close()


@pytest.fixture
def conn(schema: str):
    import psycopg

    with psycopg.connect(PG_URL) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        connection.execute(f'CREATE TABLE "{schema}".orders (id int PRIMARY KEY)')
        connection.commit()
        yield connection


class Boom(Exception):
    pass


def test_a_job_enqueued_with_the_callers_connection_exists_only_once_the_caller_commits(queue, conn):
    # Given a job written in the caller's open transaction
    job_id = queue.enqueue({"order": 1}, connection=conn)["id"]
    # Then other connections do not see it yet
    assert queue.get_job(job_id) is None and queue.get_stats()["pending"] == 0
    # When the caller commits, Then it is there and can be claimed
    conn.commit()
    assert [job.id for job in queue.claim_jobs("w", 5)] == [job_id]


def test_a_rolled_back_transaction_leaves_no_job(queue, conn):
    queue.enqueue({"order": 2}, connection=conn)
    conn.rollback()
    assert queue.get_stats()["pending"] == 0


def test_delay_inside_queue_transaction_commits_and_rolls_back_with_the_callers_data(queue, conn, schema):
    @task(queue=queue, name="tests.ship")
    def ship(order_id: int) -> None: ...

    # When one block commits and another raises after both wrote an order and a job
    with queue.transaction(conn):
        conn.execute(f'INSERT INTO "{schema}".orders VALUES (1)')
        ship.delay(1)
    with pytest.raises(Boom), queue.transaction(conn):
        conn.execute(f'INSERT INTO "{schema}".orders VALUES (2)')
        ship.delay(2)
        queue.enqueue_batch([{"payload": {"also": "gone"}}])
        raise Boom
    conn.commit()
    # Then the committed order has its job and the rolled-back one has none
    orders = [row[0] for row in conn.execute(f'SELECT id FROM "{schema}".orders ORDER BY id')]
    jobs = queue.claim_jobs("w", 10)
    assert orders == [1]
    assert [job.payload["args"] for job in jobs] == [[1]]


def test_outside_the_block_enqueues_use_the_queues_own_connections(queue, conn):
    with queue.transaction(conn):
        pass
    queue.enqueue({"plain": True})
    assert queue.get_stats()["pending"] == 1


def test_transactions_need_the_postgresql_backend(tmp_path, conn):
    sqlite = Queue(data_dir=tmp_path / "data", rate_limit=0, settings=Settings())
    try:
        with pytest.raises(ConfigError, match="needs the PostgreSQL backend"):
            sqlite.transaction(conn)
        with pytest.raises(ConfigError, match="needs the PostgreSQL backend"):
            sqlite.enqueue({"x": 1}, connection=conn)
        assert sqlite.get_stats()["pending"] == 0
    finally:
        sqlite.close()


@pytest.mark.parametrize("bad", [object(), "postgresql://x", 3])
def test_a_connection_that_is_not_psycopg_is_refused_and_nothing_is_written(queue, bad):
    with pytest.raises(ConfigError, match="psycopg"):
        queue.enqueue({"x": 1}, connection=bad)
    assert queue.get_stats()["pending"] == 0


DJANGO_SCRIPT = textwrap.dedent("""
    import sys
    import django
    from django.conf import settings

    url, schema = sys.argv[1], sys.argv[2]
    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "test",
                               "USER": "postgres", "HOST": "127.0.0.1", "PORT": "5432"}},
        INSTALLED_APPS=["queue_max.contrib.django"],
        QUEUE_MAX={"DATABASE_URL": url, "RATE_LIMIT": 0},
    )
    django.setup()
    from django.db import connection, transaction
    from queue_max.contrib.django import get_queue, task

    @task(name="tests.notify")
    def notify(order_id):
        pass

    get_queue()  # opens (and creates) the queue's schema
    connection.cursor().execute(f'CREATE TABLE "{schema}".orders (id int)')
    with transaction.atomic():
        connection.cursor().execute(f'INSERT INTO "{schema}".orders VALUES (1)')
        notify.delay(1)
    try:
        with transaction.atomic():
            connection.cursor().execute(f'INSERT INTO "{schema}".orders VALUES (2)')
            notify.delay(2)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    notify.delay(3)  # outside atomic(): the queue's own connection, committed at once
    jobs = get_queue().claim_jobs("w", 10)
    print(sorted(job.payload["args"][0] for job in jobs))
""")


def test_django_delay_inside_atomic_joins_the_transaction_of_the_same_database(schema):
    pytest.importorskip("django")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": SRC, "QUEUE_MAX_DATABASE_SCHEMA": schema}
    done = subprocess.run([sys.executable, "-c", DJANGO_SCRIPT, PG_URL, schema], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[1, 3]"
