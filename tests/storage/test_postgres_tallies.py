"""PostgreSQL's job tallies: after every kind of write, under concurrent claims and after the
migration of a populated schema, they equal the rows counted per queue and status."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from _pg import PG_URL, require_pg
from _helpers import run_threads
from queue_max.models import ErrorInfo, JobStatus, NewJob
from test_postgres_backend import admin, drop_v6_tallies, drop_v7_dead_tally, drop_v8_dead_queue, open_backend

NOW = 1_800_000_000.0
BAD = ErrorInfo("ValueError", "bad")
CLAIMER = str(Path(__file__).resolve().parent.parent / "procs" / "pg_tally_claimer.py")


@pytest.fixture(autouse=True)
def _need_pg() -> None:
    require_pg()


def tallied(schema: str) -> Counter[tuple[str, str]]:
    rows = admin(f'SELECT queue_name, status, sum(n)::bigint FROM "{schema}".tallies GROUP BY 1, 2')
    return Counter({(name, status): int(n) for name, status, n in rows if n})


def counted(schema: str) -> Counter[tuple[str, str]]:
    """The jobs per queue and status, and the dead letters per queue as status 'dead_letter'."""
    rows = admin(f'SELECT queue_name, status, count(*) FROM "{schema}".jobs GROUP BY 1, 2 UNION ALL '
                 f"SELECT queue_name, 'dead_letter', count(*) FROM \"{schema}\".dead_letters GROUP BY 1")
    return Counter({(name, status): int(n) for name, status, n in rows if n})


def assert_exact(schema: str, backend: Any, now: float = NOW) -> None:
    """The tallies equal the rows, and so do `counts` and `queue_counts` (due scheduled jobs as pending)."""
    rows = counted(schema)
    assert tallied(schema) == rows
    dead_in = {name: rows.pop((name, status)) for name, status in list(rows) if status == "dead_letter"}
    dead = sum(dead_in.values())
    due = dict(admin(f'SELECT queue_name, count(*) FROM "{schema}".jobs WHERE status = %s AND run_at <= %s '
                     "GROUP BY 1", ("scheduled", now)))
    per_queue = backend.queue_counts(now)
    assert sorted(per_queue) == sorted({name for name, _ in rows})
    for name, per in per_queue.items():
        assert per == {**{s.value: rows[name, s.value] for s in JobStatus},
                       "pending": rows[name, "pending"] + rows[name, "scheduled"],
                       "scheduled": rows[name, "scheduled"] - due.get(name, 0)}
    totals = backend.counts(now)
    assert totals["dead_letter"] == backend.dlq_count() == dead
    for key in ("pending", "processing", "completed", "failed", "cancelled", "scheduled"):
        assert totals[key] == sum(per[key] for per in per_queue.values())
    for name in per_queue:
        assert {k: v for k, v in backend.counts(now, queue_name=name).items() if k != "dead_letter"} == per_queue[name]
    for name in {*per_queue, *dead_in}:
        assert backend.counts(now, queue_name=name)["dead_letter"] == backend.dlq_count(queue_name=name) \
            == dead_in.get(name, 0)
    assert backend.count_live() == sum(rows[key] for key in rows if key[1] in ("pending", "scheduled", "processing"))


def test_the_tallies_follow_every_kind_of_write(schema):
    backend = open_backend(schema)
    try:
        # Given jobs enqueued one at a time, in a batch (due, scheduled, keyed, named) and as payloads
        backend.enqueue_many([NewJob('{"n": 1}')], NOW)
        backend.enqueue_many([NewJob('{"n": 2}', queue_name="mail"), NewJob('{"n": 3}', run_at=NOW + 60),
                              NewJob('{"n": 4}', dedupe_key="k"), NewJob('{"n": 5}', dedupe_key="k"),
                              NewJob('{"n": 6}', run_at=NOW + 5, queue_name="mail")] +
                             [NewJob(f'{{"m": {i}}}', queue_name="bulk") for i in range(20)], NOW)
        backend.enqueue_payloads([{"p": i} for i in range(5)], 3, NOW, 1 << 20)
        assert_exact(schema, backend)
        # When a scheduled job falls due (counted as pending before any claim promotes it)
        assert_exact(schema, backend, NOW + 10)
        # and claims promote and lease, acks complete (kept and deleted), retries, burials, releases
        jobs = backend.claim("w", 6, 30.0, NOW + 10, queue="mail")
        jobs += backend.claim("w", 12, 30.0, NOW + 10)
        assert_exact(schema, backend, NOW + 10)
        backend.complete_many([(jobs[0].lease, None)], NOW + 11, 3600.0)
        backend.complete_many([(jobs[1].lease, None), (jobs[2].lease, None)], NOW + 11, 0.0)
        backend.retry(jobs[3].lease, NOW + 11, BAD, NOW + 11)
        backend.retry(jobs[4].lease, NOW + 500, BAD, NOW + 11)
        backend.bury(jobs[5].lease, BAD, NOW + 11)
        backend.release([jobs[6].lease], NOW + 11)
        backend.release([jobs[7].lease], NOW + 11, run_at=NOW + 900)
        backend.cancel_running(jobs[8].lease, NOW + 11)
        backend.heartbeat("w", NOW + 100)
        backend.extend([jobs[9].lease], NOW + 100)
        backend.set_progress(jobs[9].lease, 0.5, None)
        assert_exact(schema, backend, NOW + 11)
        # and cancels, expired leases recovered (requeued and buried), dead letters requeued and pruned
        pending = backend.list_jobs(JobStatus.PENDING, 100, queue_name="bulk")
        assert backend.cancel(pending[0].id, NOW + 12)
        backend.expire_leases("w", NOW + 12)
        backend.requeue_expired(NOW + 13, BAD)
        dead = backend.claim("w", 1, 30.0, NOW + 14, queue="default")
        backend.bury(dead[0].lease, BAD, NOW + 14)
        assert_exact(schema, backend, NOW + 14)
        assert backend.dlq_requeue(NOW + 15, job_ids=[dead[0].id]) == 1
        (again,) = [j for j in backend.claim("w", 50, 30.0, NOW + 15) if j.id == dead[0].id] or [None]
        if again is not None:
            backend.bury(again.lease, BAD, NOW + 15)
        backend.dlq_prune(None)
        assert_exact(schema, backend, NOW + 15)
        # and the housekeeping: cleanup of finished jobs, purges by status, queue and all
        backend.cleanup(NOW + 16, NOW + 16)
        assert_exact(schema, backend, NOW + 16)
        backend.purge(JobStatus.FAILED)
        backend.purge(JobStatus.PENDING, queue_name="bulk")
        assert_exact(schema, backend, NOW + 16)
        backend.fold_tallies()
        assert_exact(schema, backend, NOW + 16)
        backend.purge(None)
        # Then after each step the tallies equalled the rows; after the folds, only slot 0 is left
        assert_exact(schema, backend, NOW + 16)
        backend.fold_tallies()
        assert admin(f'SELECT count(*) FROM "{schema}".tallies') == [(0,)]
    finally:
        backend.close()


def test_a_callers_transaction_counts_its_jobs_only_if_it_commits(schema):
    import psycopg

    backend = open_backend(schema)
    try:
        # Given a caller's transaction that enqueues and rolls back, and one that commits
        with psycopg.connect(PG_URL) as conn:
            backend.enqueue_in(conn, [NewJob("{}")], NOW)
            conn.rollback()
            backend.enqueue_in(conn, [NewJob("{}"), NewJob("{}", queue_name="x")], NOW)
            conn.commit()
        # and SQL of its own: a delete and truncates
        admin(f"DELETE FROM \"{schema}\".jobs WHERE queue_name = 'x'")
        assert_exact(schema, backend)
        (job,) = backend.claim("w", 1, 30.0, NOW)
        backend.bury(job.lease, BAD, NOW)
        assert_exact(schema, backend)
        admin(f'TRUNCATE "{schema}".jobs, "{schema}".dead_letters')
        # Then the tallies counted exactly what was committed
        assert_exact(schema, backend)
        assert backend.counts(NOW)["pending"] == 0
    finally:
        backend.close()


def test_concurrent_claims_acks_retries_and_folds_from_threads_stay_exact(schema):
    # Given 2,000 jobs in two queues and six backends (their own connections) released together
    backends = [open_backend(schema, pool_max=2) for _ in range(6)]
    try:
        backends[0].enqueue_many([NewJob(f'{{"i": {i}}}', queue_name="ab"[i % 2]) for i in range(2000)], NOW)
        start, turn, errors = threading.Barrier(6), iter(range(6)), []

        def drain() -> None:
            try:
                work(next(turn))
            except Exception as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)

        def work(me: int) -> None:
            backend = backends[me]
            start.wait()
            while jobs := backend.claim(f"w{me}", 7, 30.0, NOW):
                backend.complete_many([(j.lease, None) for j in jobs[:4]], NOW, 0.0 if me % 2 else 60.0)
                for job in jobs[4:6]:
                    if job.attempts < 3:
                        backend.retry(job.lease, NOW, BAD, NOW)
                    else:
                        backend.bury(job.lease, BAD, NOW)
                backend.release([j.lease for j in jobs[6:]], NOW)
                if me == 0:
                    backend.fold_tallies()  # folding while the others write

        # When they drain the queues, completing, retrying, burying and releasing
        run_threads(6, drain)
        # Then the tallies equal the rows
        assert errors == []
        assert_exact(schema, backends[0])
        assert backends[0].counts(NOW)["pending"] == 0
    finally:
        for backend in backends:
            backend.close()


def test_concurrent_claims_from_processes_stay_exact(schema):
    # Given 3,000 jobs and four worker processes waiting for the word
    backend = open_backend(schema)
    try:
        backend.enqueue_many([NewJob(f'{{"i": {i}}}', queue_name="ab"[i % 2]) for i in range(3000)], NOW)
        procs = [subprocess.Popen([sys.executable, CLAIMER, PG_URL, schema, str(n)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for n in range(4)]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        # When they all drain at once (claim 16, complete most, retry and release a few, fold now and then)
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.close()
        outputs = [proc.stdout.read() for proc in procs if proc.stdout is not None]
        assert [proc.wait(timeout=300) for proc in procs] == [0, 0, 0, 0], outputs
        # Then every job was handled and the tallies equal the rows
        assert_exact(schema, backend)
        assert backend.counts(NOW)["pending"] == backend.counts(NOW)["processing"] == 0
    finally:
        backend.close()


def test_a_populated_version_5_schema_gains_exact_tallies(schema):
    from queue_max.storage.postgres import SCHEMA_VERSION

    # Given a schema of version 5 (before the tallies) holding jobs in every status and two queues
    backend = open_backend(schema)
    backend.enqueue_many([NewJob(f'{{"i": {i}}}', queue_name="ab"[i % 2]) for i in range(40)] +
                         [NewJob("{}", run_at=NOW + 60)], NOW)
    jobs = backend.claim("w", 12, 30.0, NOW)
    backend.complete_many([(j.lease, None) for j in jobs[:4]], NOW, 60.0)
    backend.bury(jobs[4].lease, BAD, NOW)
    backend.cancel(backend.list_jobs(JobStatus.PENDING, 1)[0].id, NOW)
    backend.close()
    drop_v6_tallies(schema)
    admin(f"UPDATE \"{schema}\".meta SET value = '5' WHERE key = 'schema_version'")
    # When this version opens it
    backend = open_backend(schema)
    try:
        # Then the tallies were counted from the rows, in slot 0, and keep counting from there
        assert backend.version == SCHEMA_VERSION
        assert admin(f'SELECT DISTINCT slot FROM "{schema}".tallies') == [(0,)]
        assert_exact(schema, backend)
        assert sum(tallied(schema).values()) == 41 + 1  # the jobs, and the dead letter
        (job,) = backend.claim("w", 1, 30.0, NOW)
        backend.complete_many([(job.lease, None)], NOW, 0.0)
        assert_exact(schema, backend)
    finally:
        backend.close()


def test_a_populated_version_6_schema_gains_exact_dead_letter_tallies(schema):
    from queue_max.storage.postgres import SCHEMA_VERSION

    # Given a schema of version 6 (jobs tallied, dead letters not) holding three dead letters
    backend = open_backend(schema)
    backend.enqueue_many([NewJob(f'{{"i": {i}}}') for i in range(5)], NOW)
    for job in backend.claim("w", 3, 30.0, NOW):
        backend.bury(job.lease, BAD, NOW)
    backend.close()
    drop_v7_dead_tally(schema)
    admin(f"UPDATE \"{schema}\".meta SET value = '6' WHERE key = 'schema_version'")
    # When this version opens it
    backend = open_backend(schema)
    try:
        # Then the dead letters were counted, and are counted from then on
        assert backend.version == SCHEMA_VERSION
        assert backend.counts(NOW)["dead_letter"] == 3
        assert_exact(schema, backend)
        backend.dlq_prune(None)
        assert backend.counts(NOW)["dead_letter"] == 0
        assert_exact(schema, backend)
    finally:
        backend.close()


def test_a_populated_version_7_schema_keeps_each_dead_letters_queue_and_counts_them_per_queue(schema):
    from queue_max.storage.postgres import SCHEMA_VERSION

    # Given a schema of version 7 (dead letters counted as one number) holding dead letters of
    # three queues, buried by workers and by lease recovery, and one whose job row is gone
    backend = open_backend(schema)
    backend.enqueue_many([NewJob(f'{{"i": {i}}}', queue_name=name, max_attempts=1 if name == "reports" else 3)
                          for name, n in (("default", 4), ("mail", 9), ("reports", 5)) for i in range(n)], NOW)
    for name, n in (("default", 2), ("mail", 7)):
        for job in backend.claim("w", n, 30.0, NOW, queue=name):
            backend.bury(job.lease, BAD, NOW)
    backend.claim("w", 5, 30.0, NOW, queue="reports")
    assert backend.requeue_expired(NOW + 31, BAD).buried == 5
    backend.close()
    orphan = admin(f"SELECT min(job_rowid) FROM \"{schema}\".dead_letters WHERE queue_name = 'mail'")[0][0]
    admin(f'DELETE FROM "{schema}".jobs WHERE id = %s', (orphan,))
    drop_v8_dead_queue(schema)
    admin(f"UPDATE \"{schema}\".meta SET value = '7' WHERE key = 'schema_version'")
    assert tallied(schema)["", "dead_letter"] == 14  # schema 7's one number
    # When this version opens it
    backend = open_backend(schema)
    try:
        # Then each dead letter is in its job's queue (the orphan in the default queue, the one
        # 0.1.1 had) and the counts per queue are exact, and stay so
        assert backend.version == SCHEMA_VERSION
        assert_exact(schema, backend)
        assert {name: backend.dlq_count(queue_name=name) for name in ("default", "mail", "reports")} == \
            {"default": 3, "mail": 6, "reports": 5}
        assert backend.dlq_requeue(NOW, queue_name="reports") == 5
        assert backend.dlq_prune(queue_name="default") == 3
        assert_exact(schema, backend)
        assert backend.counts(NOW, queue_name="mail")["dead_letter"] == backend.counts(NOW)["dead_letter"] == 6
    finally:
        backend.close()


def test_an_import_and_a_fired_schedule_are_tallied_and_a_lost_firing_is_not(schema):
    from _pg import drop_schema, fresh_schema

    # Given a queue holding waiting, scheduled, finished and dead-lettered jobs
    source, other = open_backend(schema), fresh_schema()
    try:
        source.enqueue_many([NewJob(f'{{"i": {i}}}', queue_name="ab"[i % 2]) for i in range(10)] +
                            [NewJob("{}", run_at=NOW + 60)], NOW)
        jobs = source.claim("w", 3, 30.0, NOW)
        source.complete_many([(jobs[0].lease, None)], NOW, 3600.0)
        source.bury(jobs[1].lease, BAD, NOW)
        # When it is imported into an empty schema (COPY), and a schedule fires a job there
        target = open_backend(other)
        try:
            target.import_snapshot(source.list_jobs(None, 100), source.dlq_list(100), [], NOW, 3600.0)
            fired = NewJob('{"tick": 1}', queue_name="cron")
            target.schedule_state("tick", NOW)
            assert target.fire_schedule("tick", NOW, NOW + 60, fired, NOW) is not None
            assert target.fire_schedule("tick", NOW, NOW + 60, fired, NOW) is None  # lost: rolled back
            # Then the tallies of the new schema equal its rows, the rolled-back insert not counted
            assert_exact(other, target)
            assert target.counts(NOW)["dead_letter"] == 1
        finally:
            target.close()
    finally:
        source.close()
        drop_schema(other)
