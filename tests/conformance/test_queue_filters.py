"""Reading and housekeeping narrowed to one named queue (`queue_name=`): every backend the same.

A dead letter belongs to the named queue of its job. Each test stores jobs in two queues and
checks that the filtered verb sees, counts or changes only the jobs of the one it names.
"""

from __future__ import annotations

import json

from queue_max.models import ErrorInfo, JobStatus, NewJob
from queue_max.storage.base import Backend

NOW = 1_800_000_000.0
LEASE = 30.0
BOOM = ErrorInfo("RuntimeError", "boom")


def named(queue_name: str, n: int, **options: object) -> list[NewJob]:
    return [NewJob(json.dumps({"q": queue_name, "i": i}), queue_name=queue_name, **options)  # type: ignore[arg-type]
            for i in range(n)]


def bury_all(backend: Backend, queue_name: str, failed_at: float = NOW, error: ErrorInfo = BOOM) -> list[int]:
    """Claim every ready job of `queue_name` and dead-letter it; returns the job ids."""
    ids = []
    for job in backend.claim("w", 100, LEASE, failed_at, queue=queue_name):
        backend.bury(job.lease, error, failed_at)
        ids.append(job.id)
    return ids


def test_dead_letters_are_listed_and_counted_per_queue(backend: Backend):
    # Given dead letters in two queues
    backend.enqueue_many(named("mail", 2) + named("reports", 3), NOW)
    mail = bury_all(backend, "mail")
    bury_all(backend, "reports")
    # Then a queue filter keeps the dead letters of that queue's jobs only
    assert sorted(e.original_job_id for e in backend.dlq_list(10, queue_name="mail")) == sorted(mail)
    assert backend.dlq_count(queue_name="mail") == 2
    assert backend.dlq_count(queue_name="reports") == 3
    assert backend.dlq_count() == 5
    # And a queue with no jobs has no dead letters (names are implicit, so it is no error)
    assert backend.dlq_list(10, queue_name="nothing-here") == []
    assert backend.dlq_count(queue_name="nothing-here") == 0


def test_each_dead_letter_carries_the_queue_name_of_its_job(backend: Backend):
    # Given a job of "mail" buried by its worker, and one of "reports" buried when its lease ran out
    backend.enqueue_many(named("mail", 1) + named("reports", 1, max_attempts=1), NOW)
    (mail,) = bury_all(backend, "mail")
    (report,) = backend.claim("w", 1, LEASE, NOW, queue="reports")
    assert backend.requeue_expired(NOW + LEASE + 1, BOOM).buried == 1
    # When the dead letters are listed, unfiltered and filtered
    listed = {e.original_job_id: e.queue_name for e in backend.dlq_list(10)}
    (only_mail,) = backend.dlq_list(10, queue_name="mail")
    # Then each names its job's queue, in the entry and in its dict
    assert listed == {mail: "mail", report.id: "reports"}
    assert (only_mail.queue_name, only_mail.as_dict()["queue_name"]) == ("mail", "mail")


def test_a_queue_filter_combines_with_the_error_type_filter(backend: Backend):
    backend.enqueue_many(named("mail", 2) + named("reports", 2), NOW)
    bury_all(backend, "mail", error=ErrorInfo("KeyError", "k"))
    bury_all(backend, "reports", error=ErrorInfo("KeyError", "k"))
    assert backend.dlq_count(error_type="KeyError", queue_name="mail") == 2
    assert backend.dlq_count(error_type="RuntimeError", queue_name="mail") == 0


def test_requeueing_by_queue_moves_only_that_queues_dead_letters(backend: Backend):
    backend.enqueue_many(named("mail", 2) + named("reports", 3), NOW)
    bury_all(backend, "mail")
    reports = bury_all(backend, "reports")
    # When the reports queue's dead letters are requeued
    assert backend.dlq_requeue(NOW, queue_name="reports") == 3
    # Then those jobs are pending again, and the mail queue's dead letters stay
    assert all(backend.get(job_id).status is JobStatus.PENDING for job_id in reports)  # type: ignore[union-attr]
    assert {e.payload["q"] for e in backend.dlq_list(10)} == {"mail"}
    # And an id of another queue is not requeued through a queue filter
    (mail_entry, *_) = backend.dlq_list(10)
    assert backend.dlq_requeue(NOW, job_ids=[mail_entry.original_job_id], queue_name="reports") == 0
    assert backend.dlq_count() == 2


def test_pruning_by_queue_deletes_only_that_queues_dead_letters_and_jobs(backend: Backend):
    backend.enqueue_many(named("mail", 2) + named("reports", 2), NOW)
    mail = bury_all(backend, "mail", failed_at=NOW)
    reports = bury_all(backend, "reports", failed_at=NOW)
    # An age limit still applies within the queue
    assert backend.dlq_prune(older_than=NOW, queue_name="mail") == 0
    # When the mail queue's dead letters are pruned
    assert backend.dlq_prune(older_than=NOW + 1, queue_name="mail") == 2
    # Then its jobs are gone, and the reports queue's jobs and entries are untouched
    assert all(backend.get(job_id) is None for job_id in mail)
    assert all(backend.get(job_id) is not None for job_id in reports)
    assert backend.dlq_count() == 2
    assert backend.dlq_prune(queue_name="reports") == 2
    assert backend.dlq_count() == 0


def test_counts_and_the_oldest_ready_job_per_queue(backend: Backend):
    # Given a mail backlog due long ago, a newer reports backlog, and a scheduled report
    backend.enqueue_many(named("mail", 2, run_at=NOW - 50), NOW - 100)
    backend.enqueue_many(named("reports", 3, run_at=NOW - 10) + named("reports", 1, run_at=NOW + 60), NOW - 100)
    bury_all(backend, "reports")
    backend.enqueue_many(named("reports", 1, run_at=NOW - 5), NOW - 100)
    # Then each queue's counts hold only its jobs, dead letters included
    mail = backend.counts(NOW, queue_name="mail")
    assert (mail["pending"], mail["scheduled"], mail["failed"], mail["dead_letter"]) == (2, 0, 0, 0)
    reports = backend.counts(NOW, queue_name="reports")
    assert (reports["pending"], reports["scheduled"], reports["failed"], reports["dead_letter"]) == (2, 1, 3, 3)
    assert backend.counts(NOW, queue_name="nothing-here")["pending"] == 0
    # And the backlog's age is read per queue
    assert backend.oldest_ready(NOW, queue_name="mail") == NOW - 50
    assert backend.oldest_ready(NOW, queue_name="reports") == NOW - 5
    assert backend.oldest_ready(NOW, queue_name="nothing-here") is None
    assert backend.oldest_ready(NOW) == NOW - 50


def test_purging_a_status_by_queue_leaves_other_queues_alone(backend: Backend):
    backend.enqueue_many(named("mail", 2) + named("reports", 3), NOW)
    assert backend.purge(JobStatus.PENDING, queue_name="mail") == 2
    assert backend.counts(NOW, queue_name="mail")["pending"] == 0
    assert backend.counts(NOW, queue_name="reports")["pending"] == 3


def test_purging_failed_jobs_by_queue_takes_their_dead_letters_only(backend: Backend):
    backend.enqueue_many(named("mail", 2) + named("reports", 2), NOW)
    bury_all(backend, "mail")
    reports = bury_all(backend, "reports")
    assert backend.purge(JobStatus.FAILED, queue_name="mail") == 2
    assert backend.dlq_count(queue_name="mail") == 0
    assert sorted(e.original_job_id for e in backend.dlq_list(10)) == sorted(reports)


def test_purging_a_whole_queue_deletes_its_jobs_of_every_status_and_nothing_else(backend: Backend):
    backend.enqueue_many(named("mail", 3) + named("reports", 2), NOW)
    (done, dead, _running) = backend.claim("w", 3, LEASE, NOW, queue="mail")
    backend.complete_many([(done.lease, None)], NOW, 3600)
    backend.bury(dead.lease, BOOM, NOW)
    assert backend.purge(None, queue_name="mail") == 3
    assert backend.list_jobs(None, 10, queue_name="mail") == []
    assert backend.dlq_count() == 0
    assert len(backend.list_jobs(None, 10, queue_name="reports")) == 2


def test_cleanup_by_queue_deletes_only_that_queues_finished_jobs(backend: Backend):
    backend.enqueue_many(named("mail", 2) + named("reports", 2), NOW)
    for name in ("mail", "reports"):
        claimed = backend.claim("w", 2, LEASE, NOW, queue=name)
        backend.complete_many([(job.lease, None) for job in claimed], NOW, 3600)
    assert backend.cleanup(NOW + 10, NOW + 5, queue_name="mail") == 2
    assert backend.list_jobs(JobStatus.COMPLETED, 10, queue_name="mail") == []
    assert len(backend.list_jobs(JobStatus.COMPLETED, 10, queue_name="reports")) == 2
