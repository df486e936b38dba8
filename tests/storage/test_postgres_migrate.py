"""`queue-max migrate --to postgresql://...`: a data directory's queue moves into PostgreSQL, all or nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cli_fixtures.helpers import cli, data_dir, make_cli_queue  # noqa: F401 - fixtures

from _pg import PG_URL, drop_schema, fresh_schema, require_pg
from queue_max import JobStatus, Permanent, Queue
from queue_max.config import Settings

SECRET_URL = PG_URL.replace("postgres@", "postgres:s3cret-m@", 1)


@pytest.fixture
def schema(monkeypatch: pytest.MonkeyPatch, data_dir) -> Iterator[str]:
    require_pg()
    name = fresh_schema()
    monkeypatch.setenv("QUEUE_MAX_DATABASE_SCHEMA", name)
    yield name
    drop_schema(name)


def target(schema: str) -> Queue:
    return Queue(database_url=PG_URL, rate_limit=0, settings=Settings().with_(database_schema=schema))


def test_migrate_copies_waiting_dead_and_finished_jobs_and_schedules_and_says_what(cli, make_cli_queue, schema):
    # Given a SQLite queue with pending, scheduled, dead-lettered and completed jobs, and a schedule
    source = make_cli_queue(shards=3)
    for n in range(5):
        source.enqueue({"n": n}, priority=n % 2)
    source.enqueue({"later": 1}, delay=3600)
    dead_id = source.enqueue({"dead": 1})["id"]
    done_id = source.enqueue({"done": 1})["id"]
    for job in source.claim_jobs("w", 20):
        if job.id == dead_id:
            source.fail_job(job, error=Permanent("gone"))
        elif job.id == done_id:
            source.complete_job(job, result={"ok": True})
        else:
            source.release_job(job)
    source.schedule_state("nightly", 2_000_000_000.0)
    # When it is migrated
    result = cli("migrate", "--to", SECRET_URL, "--json")
    # Then the report counts each kind, the password is not shown, and PostgreSQL holds them all
    assert result.code == 0, result.err
    report = result.json()
    assert (report["pending"], report["scheduled"], report["dead_letter"], report["completed"],
            report["schedules"]) == (5, 1, 1, 1, 1)
    assert "s3cret-m" not in result.out + result.err
    moved = target(schema)
    try:
        stats = moved.get_stats()
        assert (stats["pending"], stats["scheduled"], stats["failed"], stats["completed"]) == (6, 1, 1, 1)
        (entry,) = moved.dlq_list()
        assert entry.payload == {"dead": 1} and "gone" in entry.error
        assert moved.dlq_requeue(job_ids=[entry.original_job_id]) == 1
        completed = moved.list_jobs(JobStatus.COMPLETED)
        assert [job.result for job in completed] == [{"ok": True}]
        assert [s["name"] for s in moved.backend.list_schedules()] == ["nightly"]
        claimed = [job.payload for job in moved.claim_jobs("w", 3)]
        assert claimed[0]["n"] % 2 == 1  # priority survives
    finally:
        moved.close()


def test_migrate_keeps_each_jobs_named_queue_and_concurrency_key(cli, make_cli_queue, schema):
    # Given jobs in two named queues, one of them with a concurrency key
    source = make_cli_queue(shards=2)
    source.enqueue({"mail": 1}, queue_name="emails", concurrency_key="customer-7")
    source.enqueue({"report": 1}, queue_name="reports")
    # When the directory is migrated
    result = cli("migrate", "--to", PG_URL, "--json")
    assert result.code == 0, result.err
    # Then each job is still in its own queue, with its key, and a worker of one queue sees only it
    moved = target(schema)
    try:
        (mail,) = moved.claim_jobs("w", 5, queues=["emails"])
        assert (mail.payload, mail.queue_name, mail.concurrency_key) == ({"mail": 1}, "emails", "customer-7")
        (report,) = moved.claim_jobs("w", 5, queues=["reports"])
        assert (report.queue_name, report.concurrency_key) == ("reports", None)
    finally:
        moved.close()


def test_migrate_is_refused_while_workers_hold_leases_and_writes_nothing(cli, make_cli_queue, schema):
    source = make_cli_queue(shards=2)
    source.enqueue({"n": 1})
    source.claim_jobs("w", 1)
    result = cli("migrate", "--to", PG_URL)
    assert result.code == 1 and "leased by running workers" in result.err
    moved = target(schema)
    try:
        assert moved.get_stats()["pending"] == 0
    finally:
        moved.close()


def test_migrate_into_a_schema_that_holds_jobs_is_refused_all_or_nothing(cli, make_cli_queue, schema):
    make_cli_queue(shards=2).enqueue_batch([{"payload": {"n": n}} for n in range(3)])
    existing = target(schema)
    existing.enqueue({"already": "here"})
    result = cli("migrate", "--to", PG_URL)
    assert result.code != 0 and "already holds jobs" in result.err
    assert existing.get_stats()["pending"] == 1
    existing.close()


@pytest.mark.parametrize("url", ["mysql://u:pw@h/db", "nope"])
def test_migrate_to_a_url_that_is_not_postgresql_is_a_usage_error(cli, make_cli_queue, url):
    make_cli_queue(shards=2)
    result = cli("migrate", "--to", url)
    assert result.code == 2 and "postgresql://" in result.err and "pw" not in result.err


def test_a_dry_run_counts_and_writes_nothing(cli, make_cli_queue, schema):
    make_cli_queue(shards=2).enqueue({"n": 1})
    result = cli("migrate", "--to", PG_URL, "--dry-run", "--json")
    assert result.code == 0 and result.json()["pending"] == 1 and result.json()["dry_run"] is True
    moved = target(schema)
    try:
        assert moved.get_stats()["pending"] == 0
    finally:
        moved.close()
