"""The storage contract for the dashboard's verbs: job search, oldest ready, DLQ count and prune."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from _pg import PG_URL

from queue_max.errors import SearchTimeout
from queue_max.models import ErrorInfo, JobQuery, JobStatus, NewJob
from queue_max.storage.base import Backend

NOW = 1_800_000_000.0
LEASE = 30.0


def task_job(name: str, **payload: object) -> NewJob:
    return NewJob(json.dumps({"__task__": name, "args": [], "kwargs": payload}))


def bury_all(backend: Backend, error: ErrorInfo, now: float = NOW) -> None:
    for job in backend.claim("w", 100, LEASE, now):
        backend.bury(job.lease, error, now)


def test_find_jobs_pages_newest_first_with_a_keyset_cursor_that_visits_every_job_once(backend):
    # Given 23 jobs
    refs = backend.enqueue_many([task_job("t", i=i) for i in range(23)], NOW)
    # When they are read 10 at a time, each page starting below the last id seen
    seen, before = [], None
    while page := backend.find_jobs(JobQuery(before_id=before), 10):
        seen.extend(job.id for job in page)
        before = page[-1].id
    # Then every job came once, in descending id order
    assert seen == sorted((ref.id for ref in refs), reverse=True)


def test_find_jobs_narrows_by_status_task_error_type_and_time(backend):
    backend.enqueue_many([task_job("mail.send"), task_job("mail.send"), task_job("pdf.render")], NOW)
    later = backend.enqueue_many([task_job("pdf.render")], NOW + 100)[0]
    bury_all(backend, ErrorInfo("ValueError", "bad"), NOW + 200)  # every job is dead now
    backend.enqueue_many([task_job("mail.send")], NOW + 300)
    assert len(backend.find_jobs(JobQuery(task="mail.send"), 50)) == 3
    assert len(backend.find_jobs(JobQuery(status=JobStatus.FAILED, task="mail.send"), 50)) == 2
    assert len(backend.find_jobs(JobQuery(status=JobStatus.PENDING), 50)) == 1
    assert len(backend.find_jobs(JobQuery(error_type="ValueError"), 50)) == 4
    assert backend.find_jobs(JobQuery(error_type="KeyError"), 50) == []
    window = JobQuery(created_since=NOW + 50, created_until=NOW + 150)
    assert [job.id for job in backend.find_jobs(window, 50)] == [later.id]


def test_find_jobs_searches_inside_payloads(backend):
    backend.enqueue_many([task_job("t", email="ann@example.com"), task_job("t", email="bob@example.com")], NOW)
    (found,) = backend.find_jobs(JobQuery(payload_contains="bob@"), 50)
    assert found.payload["kwargs"]["email"] == "bob@example.com"


@contextlib.contextmanager
def scans_outlast_any_budget(backend: Backend) -> Iterator[None]:
    """Make sure a scan takes longer than the smallest budget, whatever the machine's speed.

    SQLite checks the budget every 1,000 virtual-machine steps, so a scan of thousands of rows
    always meets a check past a 1 ns deadline. PostgreSQL enforces it as a statement timeout of
    at least 1 ms, which a fast scan of a few thousand cached rows can beat: another session
    holds the jobs table locked, so the scan waits until its timeout cancels it."""
    schema = getattr(getattr(backend, "options", None), "schema", None)
    if schema is None:
        yield
        return
    import psycopg

    with psycopg.connect(PG_URL) as other:
        other.execute(f'LOCK TABLE "{schema}".jobs IN ACCESS EXCLUSIVE MODE')
        yield
        other.rollback()


def test_find_jobs_stops_a_scan_that_outlasts_its_time_budget(backend):
    # Given 3000 jobs, none of which matches, and a scan that cannot end within its budget
    backend.enqueue_many([task_job("t", i=i) for i in range(3000)], NOW)
    with scans_outlast_any_budget(backend):
        # Then the search is stopped, with the error that says to narrow it
        with pytest.raises(SearchTimeout, match="time budget"):
            backend.find_jobs(JobQuery(payload_contains="never there", time_budget=1e-9), 50)


def test_oldest_ready_is_the_earliest_due_run_at_among_claimable_jobs(backend):
    assert backend.oldest_ready(NOW) is None
    backend.enqueue_many([NewJob("{}", run_at=NOW - 30), NewJob("{}", run_at=NOW - 5),
                          NewJob("{}", run_at=NOW + 60)], NOW - 40)
    backend.claim("w", 1, LEASE, NOW)  # the oldest is now running, no longer waiting
    assert backend.oldest_ready(NOW) == NOW - 5


def test_dlq_count_and_a_filtered_prune_touch_only_matching_dead_letters(backend):
    backend.enqueue_many([task_job("t") for _ in range(3)], NOW)
    bury_all(backend, ErrorInfo("ValueError", "bad"))
    backend.enqueue_many([task_job("t") for _ in range(2)], NOW)
    bury_all(backend, ErrorInfo("KeyError", "missing"))
    assert backend.dlq_count() == 5 and backend.dlq_count(error_type="KeyError") == 2
    # When the KeyError letters are pruned
    assert backend.dlq_prune(error_type="KeyError") == 2
    # Then only they (and their jobs) are gone
    assert backend.dlq_count() == 3 and backend.dlq_count(error_type="KeyError") == 0
    assert len(backend.find_jobs(JobQuery(status=JobStatus.FAILED), 50)) == 3


def test_dlq_prune_of_a_selection_deletes_exactly_the_selected_jobs(backend):
    backend.enqueue_many([task_job("t") for _ in range(4)], NOW)
    bury_all(backend, ErrorInfo("ValueError", "bad"))
    chosen = [entry.original_job_id for entry in backend.dlq_list(10)][:2]
    assert backend.dlq_prune(job_ids=chosen) == 2
    assert {entry.original_job_id for entry in backend.dlq_list(10)}.isdisjoint(chosen)
    assert all(backend.get(job_id) is None for job_id in chosen)
    assert backend.dlq_count() == 2


def test_hostile_filter_values_are_data_never_sql(backend):
    backend.enqueue_many([task_job("t")], NOW)
    hostile = "x'); DROP TABLE fila; -- \" ` [ ] ; \\ %s {0} :id ?"
    query = JobQuery(task=hostile, error_type=hostile, payload_contains=hostile)
    assert backend.find_jobs(query, 10) == []
    assert backend.dlq_count(error_type=hostile) == 0
    assert len(backend.find_jobs(JobQuery(), 10)) == 1


def test_find_jobs_narrows_by_named_queue(backend):
    backend.enqueue_many([NewJob('{"n": 1}', queue_name="mail"), NewJob('{"n": 2}')], NOW)
    (found,) = backend.find_jobs(JobQuery(queue_name="mail"), 10)
    assert found.payload == {"n": 1}
    assert len(backend.find_jobs(JobQuery(queue_name="default"), 10)) == 1
