"""Dead letters per queue: every backend counts them from its tallies, and the counts agree with
the entries listed, after every verb that adds or removes one.

A dead letter keeps the queue name of its job from its burial on, so it stays in its queue even
when its job row is gone (which no verb does: the job row of a dead letter is deleted with it or
after it, but an operator's own SQL can).
"""

from __future__ import annotations

import json
import sqlite3

from queue_max.models import ErrorInfo, JobStatus, NewJob
from queue_max.storage.base import Backend
from queue_max.storage.sqlite import ShardManager
from queue_max.storage.sqlite._ids import rowid_of, shard_of_id

NOW = 1_800_000_000.0
LEASE = 30.0
BOOM = ErrorInfo("RuntimeError", "boom")
BAD = ErrorInfo("myapp.errors.BadInput", "bad")
QUEUES = ("default", "mail", "reports")


def named(queue_name: str, n: int, **options: object) -> list[NewJob]:
    return [NewJob(json.dumps({"q": queue_name, "i": i}), queue_name=queue_name, **options)  # type: ignore[arg-type]
            for i in range(n)]


def bury(backend: Backend, queue_name: str, n: int, error: ErrorInfo = BOOM) -> list[int]:
    """Claim `n` ready jobs of `queue_name` and dead-letter them; returns the job ids."""
    jobs = backend.claim("w", n, LEASE, NOW, queue=queue_name)
    for job in jobs:
        backend.bury(job.lease, error, NOW)
    return [job.id for job in jobs]


def assert_dead_letters(backend: Backend, expected: dict[str, int]) -> None:
    """Per queue: the count of `counts`, of `dlq_count` and the entries listed all say `expected`."""
    listed = [entry.queue_name for entry in backend.dlq_list(1000)]
    assert backend.counts(NOW)["dead_letter"] == backend.dlq_count() == len(listed) == sum(expected.values())
    for name in (*QUEUES, "nothing-here"):
        want = expected.get(name, 0)
        assert backend.counts(NOW, queue_name=name)["dead_letter"] == want, name
        assert backend.dlq_count(queue_name=name) == want, name
        assert len(backend.dlq_list(1000, queue_name=name)) == listed.count(name) == want, name


def delete_job_row_by_hand(backend: Backend, job_id: int) -> None:
    """What an operator does with the sqlite3 shell or psql: delete a job's row, nothing else."""
    if isinstance(backend, ShardManager):
        conn = sqlite3.connect(backend.shards[shard_of_id(job_id)].path, isolation_level=None)
        assert conn.execute("DELETE FROM fila WHERE id = ?", (rowid_of(job_id),)).rowcount == 1
        conn.close()
        return
    from _pg import PG_URL
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        sql = f'DELETE FROM "{backend.options.schema}".jobs WHERE id = %s'  # type: ignore[attr-defined]
        assert conn.execute(sql, (rowid_of(job_id),)).rowcount == 1


def test_dead_letters_are_counted_per_queue_after_every_verb_that_adds_or_removes_one(backend: Backend):
    # Given dead letters in three queues, buried by workers and by lease recovery, two error types
    backend.enqueue_many(named("default", 3) + named("mail", 6) + named("reports", 4, max_attempts=1), NOW)
    bury(backend, "default", 2)
    mail = bury(backend, "mail", 3) + bury(backend, "mail", 2, BAD)
    backend.claim("w", 4, LEASE, NOW, queue="reports")
    assert backend.requeue_expired(NOW + LEASE + 1, BOOM).buried == 4
    # Then each queue counts its own
    assert_dead_letters(backend, {"default": 2, "mail": 5, "reports": 4})
    assert backend.dlq_count(queue_name="mail", error_type="BadInput") == 2
    assert backend.dlq_count(error_type="RuntimeError") == 9
    # When dead letters are requeued, pruned and purged through the verbs, each with a filter
    assert backend.dlq_requeue(NOW, job_ids=mail[:1]) == 1
    assert_dead_letters(backend, {"default": 2, "mail": 4, "reports": 4})
    assert backend.dlq_prune(queue_name="mail", error_type="BadInput") == 2
    assert_dead_letters(backend, {"default": 2, "mail": 2, "reports": 4})
    assert backend.purge(JobStatus.FAILED, queue_name="reports") == 4
    assert_dead_letters(backend, {"default": 2, "mail": 2})
    assert backend.dlq_requeue(NOW, queue_name="default") == 2
    assert_dead_letters(backend, {"mail": 2})
    # And the requeued job, dead again, is counted again in its queue
    bury(backend, "mail", 10)
    assert_dead_letters(backend, {"mail": 2 + 2})  # the first requeued and the one never claimed
    assert backend.dlq_prune() == 4
    assert_dead_letters(backend, {})


def test_no_verb_leaves_a_dead_letter_without_its_job_row(backend: Backend):
    # Given dead letters in two queues beside completed, cancelled and waiting jobs
    backend.enqueue_many(named("mail", 4) + named("reports", 4), NOW)
    dead = bury(backend, "mail", 2) + bury(backend, "reports", 2)
    done = backend.claim("w", 1, LEASE, NOW, queue="mail")
    backend.complete_many([(job.lease, None) for job in done], NOW, 0.5)
    backend.cancel(backend.list_jobs(JobStatus.PENDING, 1, queue_name="reports")[0].id, NOW)
    # When every housekeeping verb that deletes job rows runs, but for the dead-letter ones
    backend.cleanup(NOW + 3600, NOW + 3600)
    for status in (JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.PENDING, JobStatus.PROCESSING):
        backend.purge(status)
        backend.purge(status, queue_name="mail")
    assert backend.dlq_prune(older_than=NOW) == 0  # none is older
    # Then every dead letter still has its job row, failed, in its queue
    for entry in backend.dlq_list(100):
        job = backend.get(entry.original_job_id)
        assert job is not None and job.status is JobStatus.FAILED and job.queue_name == entry.queue_name
    assert sorted(entry.original_job_id for entry in backend.dlq_list(100)) == sorted(dead)
    assert_dead_letters(backend, {"mail": 2, "reports": 2})


def test_a_dead_letter_stays_in_its_queue_when_its_job_row_is_deleted_by_hand(backend: Backend):
    # Given two dead letters of "mail"
    backend.enqueue_many(named("mail", 2), NOW)
    first, second = bury(backend, "mail", 2)
    # When an operator deletes the first one's job row with their own SQL
    delete_job_row_by_hand(backend, first)
    # Then the dead letter is still of "mail" (not of the default queue), listed and counted there
    assert backend.get(first) is None
    (entry,) = [e for e in backend.dlq_list(10, queue_name="mail") if e.original_job_id == first]
    assert entry.queue_name == "mail"
    assert_dead_letters(backend, {"mail": 2})
    # And it goes with the queue's dead letters
    assert backend.purge(JobStatus.FAILED, queue_name="mail") == 1  # the job row left
    assert_dead_letters(backend, {})
    assert backend.get(second) is None
