"""The PostgreSQL backend beyond the shared contract: faults, clocks, wake-ups, schema versions."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from _pg import PG_URL, AheadClock, drop_schema, fresh_schema, require_pg
from queue_max.errors import ConfigError, IncompatibleSchema, StorageBusy, StorageUnavailable
from queue_max.models import NewJob, WorkerPresence
from queue_max.storage.postgres import SCHEMA_VERSION
from _helpers import run_threads

pytestmark = pytest.mark.usefixtures("_need_pg")

NOW = 1_800_000_000.0


@pytest.fixture
def _need_pg() -> None:
    require_pg()


def open_backend(schema: str, **options: object):
    from queue_max.storage.postgres import PostgresBackend, PostgresOptions

    clock = options.pop("clock", None)
    kwargs = {"clock": clock} if clock is not None else {}
    return PostgresBackend(PG_URL, options=PostgresOptions(schema=schema, **options), **kwargs)  # type: ignore[arg-type]


def admin(sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def until(condition, timeout: float = 10.0) -> bool:
    """Wait for `condition` (never asserts a duration: a deadline only stops a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_a_host_whose_clock_runs_ahead_cannot_recover_a_live_lease(schema):
    # Given a worker on a host with a true clock holding a 2 s lease
    honest = open_backend(schema)
    ahead = open_backend(schema, clock=AheadClock(3.0))
    try:
        honest.enqueue_many([NewJob("{}")], time.time())
        (job,) = honest.claim("honest", 1, 2.0, time.time())
        # When a host whose clock is 3 s ahead sweeps for expired leases at once
        report = ahead.requeue_expired(AheadClock(3.0).time(), _boom())
        # Then the live lease is left alone, and the honest worker's ack is accepted
        assert report.total == 0
        assert honest.complete_many([(job.lease, None)], time.time(), 60) == []
    finally:
        honest.close()
        ahead.close()


def test_recovery_of_an_expired_lease_counts_the_attempt_on_the_servers_clock(schema):
    # Given a job whose lease was ended by its (dead) worker
    backend = open_backend(schema, clock=AheadClock(-5.0))
    try:
        backend.enqueue_many([NewJob("{}", max_attempts=3)], NOW)
        (job,) = backend.claim("w", 1, 30, NOW)
        backend.expire_leases("w", NOW)
        # When any host recovers it
        assert backend.requeue_expired(NOW, _boom()).requeued == 1
        # Then the job is back with one attempt used
        (again,) = backend.claim("x", 1, 30, NOW)
        assert again.id == job.id and again.attempts == 2
    finally:
        backend.close()


def test_a_schema_written_by_a_newer_version_is_refused_and_left_untouched(schema):
    # Given a schema whose recorded version is ahead of this code
    open_backend(schema).close()
    admin(f"UPDATE \"{schema}\".meta SET value = '99' WHERE key = 'schema_version'")
    # When it is opened, Then it is refused with a typed error, and nothing changed
    with pytest.raises(IncompatibleSchema, match="version 99"):
        open_backend(schema)
    assert admin(f"SELECT value FROM \"{schema}\".meta WHERE key = 'schema_version'") == [("99",)]


def test_a_schema_of_version_2_gains_the_metrics_and_trace_tables_in_place(schema):
    from queue_max.models import ErrorInfo

    # Given a version-2 schema (before the rollup) that holds a job
    backend = open_backend(schema)
    (ref,) = backend.enqueue_many([NewJob('{"__task__": "mail"}')], NOW)
    backend.close()
    admin(f'DROP TABLE "{schema}".metrics, "{schema}".job_traces')
    drop_v4_columns(schema)  # the later schemas 4 and 5 undone too
    admin(f"UPDATE \"{schema}\".meta SET value = '2' WHERE key = 'schema_version'")
    # When this version opens it
    backend = open_backend(schema)
    try:
        # Then it is migrated to the current version, the job is still there, and its attempts are counted
        assert backend.version == SCHEMA_VERSION
        (job,) = backend.claim("w", 1, 30.0, NOW)
        assert job.id == ref.id
        backend.bury(job.lease, ErrorInfo("ValueError", "bad"), NOW + 1)
        totals = {(row.task, row.name, row.label): row.value for row in backend.event_metrics()}
        assert totals == {**totals, ("mail", "attempt", "dead_letter"): 1, ("mail", "failure", "ValueError"): 1}
    finally:
        backend.close()
    assert admin(f"SELECT value FROM \"{schema}\".meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def drop_v4_columns(schema: str) -> None:
    """Undo schema 4 (and schemas 5 and 6, which come after it)."""
    drop_v6_tallies(schema)
    admin(f'ALTER TABLE "{schema}".jobs DROP COLUMN progress, DROP COLUMN progress_message, '
          "DROP COLUMN cancel_requested")
    admin(f'DROP TABLE "{schema}".workers')


def drop_v6_tallies(schema: str) -> None:
    """Undo schemas 6 and 7: the tallies, their trigger functions and (with them) the triggers."""
    drop_v7_dead_tally(schema)
    admin(f'DROP TABLE "{schema}".tallies')
    for event in ("insert", "update", "delete", "truncate"):
        admin(f'DROP FUNCTION "{schema}".tally_{event}() CASCADE')


def drop_v7_dead_tally(schema: str) -> None:
    """Undo schemas 7 and 8: the dead letters' queue names, tally rows and triggers."""
    admin(f"DELETE FROM \"{schema}\".tallies WHERE status = 'dead_letter'")
    for event in ("insert", "delete", "update", "truncate"):
        admin(f'DROP FUNCTION IF EXISTS "{schema}".tally_dead_{event}() CASCADE')
    admin(f'ALTER TABLE "{schema}".dead_letters DROP COLUMN IF EXISTS queue_name')  # its index goes too


def drop_v8_dead_queue(schema: str) -> None:
    """Undo schema 8: dead letters without a queue name, counted as schema 7 did (queue '')."""
    import psycopg

    from queue_max.storage.postgres._tallies_sql import DEAD_TALLY_SCHEMA

    drop_v7_dead_tally(schema)
    with psycopg.connect(PG_URL) as conn:  # one transaction: the schema's LOCK needs one
        for statement in DEAD_TALLY_SCHEMA:
            conn.execute(statement.format(s=f'"{schema}"'))


def test_a_schema_of_version_3_gains_progress_and_cancel_requests_in_place(schema):
    # Given a version-3 schema (before progress) that holds a job
    backend = open_backend(schema)
    (ref,) = backend.enqueue_many([NewJob('{"n": 1}')], NOW)
    backend.close()
    drop_v4_columns(schema)
    admin(f"UPDATE \"{schema}\".meta SET value = '3' WHERE key = 'schema_version'")
    # When this version opens it
    backend = open_backend(schema)
    try:
        # Then it is at the current version and its job can report progress and be asked to stop
        assert backend.version == SCHEMA_VERSION
        (job,) = backend.claim("w", 1, 30.0, NOW)
        assert job.id == ref.id
        backend.set_progress(job.lease, 0.5, "half")
        assert backend.request_cancel(job.id, NOW) and backend.cancel_requested(job.id)
        assert backend.progress(job.id).message == "half"
    finally:
        backend.close()


def test_a_schema_of_version_4_gains_the_worker_registry_in_place(schema):
    # Given a version-4 schema (before the worker registry) that holds a job
    backend = open_backend(schema)
    (ref,) = backend.enqueue_many([NewJob('{"n": 1}')], NOW)
    backend.close()
    drop_v6_tallies(schema)
    admin(f'DROP TABLE "{schema}".workers')
    admin(f"UPDATE \"{schema}\".meta SET value = '4' WHERE key = 'schema_version'")
    # When this version opens it
    backend = open_backend(schema)
    try:
        # Then it is at the current version, the job is still there, and workers can report in
        assert backend.version == SCHEMA_VERSION
        assert backend.get(ref.id) is not None
        worker = WorkerPresence("w", "host-a", 7, "Worker", None, 1, 0, NOW, NOW)
        backend.put_workers([worker])
        assert backend.list_workers(NOW) == [worker]
    finally:
        backend.close()


def test_many_first_openers_of_one_schema_migrate_it_once(schema):
    # Given six threads opening the same fresh schema at the same instant
    start, opened, errors = threading.Barrier(6), [], []

    def open_one() -> None:
        start.wait()
        try:
            opened.append(open_backend(schema, listen=False))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    run_threads(6, open_one)
    # Then every opener got a working backend on one schema
    assert errors == [] and len(opened) == 6
    opened[0].enqueue_many([NewJob("{}")], NOW)
    assert all(backend.count_live() == 1 for backend in opened)
    for backend in opened:
        backend.close()


@pytest.mark.parametrize("url, shown", [
    ("postgresql://postgres:s3cret-pw@127.0.0.1:1/test", "127.0.0.1:1"),
    ("postgresql://postgres:s3cret-pw@127.0.0.1:5432/no_such_db_qm", "no_such_db_qm"),
    ("postgresql://no_such_role_qm:s3cret-pw@127.0.0.1:5432/test", "no_such_role_qm"),
])
def test_an_unreachable_server_a_missing_database_or_role_is_a_typed_error_without_the_password(url, shown):
    from queue_max.storage.postgres import PostgresBackend, PostgresOptions

    with pytest.raises(StorageUnavailable) as caught:
        PostgresBackend(url, options=PostgresOptions(connect_timeout=2))
    assert shown in str(caught.value)
    assert "s3cret-pw" not in str(caught.value) and "s3cret-pw" not in repr(caught.value)


@pytest.mark.parametrize("url", ["mysql://u:pw@h/db", "sqlite:///x.db", "", 42])
def test_a_url_that_is_not_postgresql_is_refused(url):
    from queue_max.storage.postgres import PostgresBackend

    with pytest.raises(ConfigError) as caught:
        PostgresBackend(url)  # type: ignore[arg-type]
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize("options", [{"schema": "Bad-Name"}, {"schema": "1x"}, {"pool_max": 0},
                                     {"pool_min": 3, "pool_max": 2}, {"statement_timeout": 0}])
def test_bad_options_are_refused_naming_the_value(options):
    from queue_max.storage.postgres import PostgresOptions

    with pytest.raises(ConfigError, match=repr(next(iter(options.values())))):
        PostgresOptions(**options)  # type: ignore[arg-type]


def test_the_password_is_redacted_from_urls_shown_to_people():
    from queue_max.storage.postgres import redact_url

    assert redact_url("postgresql://u:p%40ss@h:5/db?sslmode=require") == "postgresql://u:***@h:5/db?sslmode=require"
    assert redact_url("postgresql://h/db?password=pw&sslmode=verify-full") == \
        "postgresql://h/db?password=***&sslmode=verify-full"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_a_statement_timeout_is_a_busy_error_and_nothing_is_written(schema):
    import psycopg

    # Given a backend with a short statement timeout and its table locked by someone else
    backend = open_backend(schema, statement_timeout=0.3)
    try:
        with psycopg.connect(PG_URL) as locker:
            locker.execute(f'LOCK TABLE "{schema}".jobs IN ACCESS EXCLUSIVE MODE')
            # When it enqueues, Then the statement is cancelled with a typed, retryable error
            with pytest.raises(StorageBusy, match="timeout"):
                backend.enqueue_many([NewJob("{}"), NewJob("{}")], NOW)
            locker.rollback()
        # And nothing was half-written; the backend works on
        assert backend.count_live() == 0
        backend.enqueue_many([NewJob("{}")], NOW)
        assert backend.count_live() == 1
    finally:
        backend.close()


def _blocked_pid(schema: str) -> int | None:
    rows = admin("SELECT pid FROM pg_stat_activity WHERE application_name = 'queue-max' "
                 "AND wait_event_type = 'Lock' AND query LIKE %s", (f'%"{schema}"%',))
    return int(rows[0][0]) if rows else None  # type: ignore[arg-type]


@pytest.mark.parametrize("verb", ["claim", "ack"])
def test_a_connection_killed_mid_claim_or_mid_ack_changes_nothing(schema, verb):
    import psycopg

    # Given a job (claimed, for the ack), and another session holding its row (or, since a claim
    # skips locked rows, the whole table)
    backend = open_backend(schema)
    try:
        (ref,) = backend.enqueue_many([NewJob('{"n": 1}')], NOW)
        job = backend.claim("w", 1, 30, NOW)[0] if verb == "ack" else None
        outcome: list[object] = []
        with psycopg.connect(PG_URL) as locker:
            if job is None:
                locker.execute(f'LOCK TABLE "{schema}".jobs IN EXCLUSIVE MODE')
            else:
                locker.execute(f'SELECT 1 FROM "{schema}".jobs FOR UPDATE')

            def call() -> None:
                try:
                    if job is None:
                        outcome.append(backend.claim("w", 1, 30, NOW))
                    else:
                        outcome.append(backend.complete_many([(job.lease, '"ok"')], NOW, 60))
                except Exception as exc:  # noqa: BLE001 - inspected below
                    outcome.append(exc)

            thread = threading.Thread(target=call)
            thread.start()
            # When the server terminates the blocked connection mid-statement
            assert until(lambda: _blocked_pid(schema) is not None)
            admin("SELECT pg_terminate_backend(%s)", (_blocked_pid(schema),))
            thread.join(10)
            locker.rollback()
        # Then the caller gets a typed error, and the job is as it was before the call
        assert isinstance(outcome[0], StorageUnavailable)
        stored = backend.get(ref.id)
        assert stored is not None
        assert stored.status.value == ("processing" if job else "pending")
        # And the next call, on a fresh pooled connection, works
        if job is None:
            assert [j.id for j in backend.claim("w", 1, 30, NOW)] == [ref.id]
        else:
            assert backend.complete_many([(job.lease, '"ok"')], NOW, 60) == []
    finally:
        backend.close()


def test_another_hosts_enqueue_moves_the_change_token_through_notify(schema):
    # Given a listening backend, and another one (another host) that enqueues
    listener, writer = open_backend(schema), open_backend(schema, listen=False)
    try:
        assert until(lambda: listener.listener.up)
        before = listener.change_token()
        writer.enqueue_many([NewJob("{}")], NOW)
        # Then the NOTIFY reaches the listener
        assert until(lambda: listener.change_token() != before)
    finally:
        listener.close()
        writer.close()


def test_idle_waiters_are_woken_by_another_hosts_enqueue(schema):
    # Given a listening backend with a wake-up callback, and another host's backend
    listener, writer = open_backend(schema), open_backend(schema, listen=False)
    woken = threading.Event()
    try:
        assert until(lambda: listener.listener.up)
        listener.on_change(woken.set)
        # When the other host enqueues, Then the callback runs (no polling involved)
        writer.enqueue_many([NewJob("{}")], NOW)
        assert woken.wait(10)
    finally:
        listener.close()
        writer.close()


def test_a_dropped_listen_connection_is_logged_and_re_established(schema, caplog):
    backend = open_backend(schema)
    try:
        assert until(lambda: backend.listener.up)
        caplog.set_level(logging.INFO, logger="queue_max.storage")
        # When the server kills the LISTEN connection
        admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
              "'queue-max-listen' AND query LIKE %s", (f"%{backend.channel}%",))
        # Then the drop is logged, polling covers the gap, and the listener comes back
        assert until(lambda: "dropped" in caplog.text)
        assert until(lambda: backend.listener.up and "is back" in caplog.text)
        before = backend.change_token()
        open_backend(schema, listen=False).enqueue_many([NewJob("{}")], NOW)
        assert until(lambda: backend.change_token() != before)
    finally:
        backend.close()


def test_without_listen_the_change_token_still_moves_by_polling(schema):
    backend = open_backend(schema, listen=False)
    try:
        before = backend.change_token()
        assert until(lambda: backend.change_token() != before)
    finally:
        backend.close()


def test_cleanup_deletes_finished_jobs_in_bounded_batches(schema):
    from queue_max.storage.postgres._inspection import CLEANUP_BATCH

    # Given more finished jobs than one cleanup batch
    backend = open_backend(schema, listen=False)
    try:
        count = CLEANUP_BATCH * 2 + 17
        backend.enqueue_payloads([{"i": i} for i in range(count)], 3, NOW, 1000)
        while batch := backend.claim("w", 500, 30, NOW):
            assert backend.complete_many([(job.lease, None) for job in batch], NOW, 10) == []
        # When cleanup runs after their results expired
        removed = backend.cleanup(NOW + 11, NOW - 1)
        # Then every one is gone, and counted as processed
        assert removed == count and backend.counts(NOW + 11)["completed"] == 0
        assert backend.shard_stats(0, NOW)["total_jobs_processed"] == count
    finally:
        backend.close()


def test_the_queue_table_is_tuned_for_churn():
    require_pg()
    name = fresh_schema()
    backend = open_backend(name, listen=False)
    try:
        (options,) = admin("SELECT reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = %s AND c.relname = 'jobs'", (name,))
        assert "fillfactor=70" in options[0]  # type: ignore[operator]
        indexes = dict(admin("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s", (name,)))
        assert "(queue_name, priority DESC, run_at, id) WHERE (status = 'pending'" in str(indexes["jobs_ready"])
        assert "WHERE ((dedupe_key IS NOT NULL) AND (completed_at IS NULL))" in str(indexes["jobs_dedupe"])
    finally:
        backend.close()
        drop_schema(name)


def _boom():
    from queue_max.models import ErrorInfo

    return ErrorInfo("LeaseExpired", json.dumps("lease expired"))


def test_a_job_deleted_at_completion_takes_its_error_history_and_is_counted(schema):
    # Given a job that failed once, then succeeded with results not kept
    backend = open_backend(schema, listen=False)
    try:
        backend.enqueue_many([NewJob("{}", max_attempts=3)], NOW)
        (job,) = backend.claim("w", 1, 30, NOW)
        backend.retry(job.lease, NOW, _boom(), NOW)
        (again,) = backend.claim("w", 1, 30, NOW)
        assert backend.complete_many([(again.lease, None)], NOW, 0) == []
        # Then nothing of it is left, and it counts as processed
        assert admin(f'SELECT count(*) FROM "{schema}".job_errors') == [(0,)]
        assert backend.shard_stats(0, NOW)["total_jobs_processed"] == 1
    finally:
        backend.close()


def test_acks_and_failures_of_jobs_claimed_by_another_process_read_their_figures_from_the_rows(schema):
    from queue_max.models import ErrorInfo

    # Given jobs claimed through one backend (one process), 2 s after they were due
    claimer, acker = open_backend(schema), open_backend(schema)
    try:
        claimer.enqueue_many([NewJob('{"__task__": "mail", "n": %d}' % n) for n in range(4)], NOW)
        first, second, third, fourth = claimer.claim("w", 4, 30.0, NOW + 2)
        # When another backend acks them, keeping a result, deleting one at once, and fails one
        assert acker.complete_many([(first.lease, None), (second.lease, '"ok"')], NOW + 2.3, 3600) == []
        assert acker.complete_many([(third.lease, None)], NOW + 2.3, 0) == []
        acker.retry(fourth.lease, NOW + 10, ErrorInfo("ConnectionError", "down"), NOW + 3)
        # Then each attempt is counted with its task, duration and wait
        totals = {(row.task, row.name, row.label): row.value for row in acker.event_metrics()}
        assert totals[("mail", "attempt", "completed")] == 3 and totals[("mail", "attempt", "retry")] == 1
        assert totals[("mail", "failure", "ConnectionError")] == 1
        assert totals[("mail", "duration", "sum")] == pytest.approx(0.9 + 1.0)
        assert totals[("mail", "wait", "sum")] == pytest.approx(8.0)
        # And a stale ack from the claimer counts nothing more
        assert claimer.complete_many([(first.lease, None)], NOW + 4, 3600) == [first.lease]
        again = {(row.task, row.name, row.label): row.value for row in claimer.event_metrics()}
        assert again[("mail", "attempt", "completed")] == 3
    finally:
        claimer.close()
        acker.close()
