"""The storage contract for event metrics: the per-minute rollup written with the acks."""

from __future__ import annotations

import json

import pytest

from queue_max._json import dumps
from queue_max.models import ErrorInfo, NewJob
from queue_max.storage.base import Backend
from queue_max.storage.sqlite import ShardManager

NOW = 1_800_000_000.0  # a minute boundary
LEASE = 30.0


def task_jobs(name: str, n: int) -> list[NewJob]:
    return [NewJob(json.dumps({"__task__": name, "args": [i], "kwargs": {}})) for i in range(n)]


def figures(backend: Backend, since: float | None = None) -> dict[tuple[str, str, str], float]:
    out: dict[tuple[str, str, str], float] = {}
    for row in backend.event_metrics(since):
        key = (row.task, row.name, row.label)
        out[key] = out.get(key, 0.0) + row.value
    return out


def test_enqueues_are_counted_per_task_on_every_path(backend):
    backend.enqueue_many(task_jobs("mail", 3) + task_jobs("pdf", 2), NOW)
    backend.enqueue_many(task_jobs("mail", 1), NOW)  # the single-job path
    backend.enqueue_payloads([{"plain": i} for i in range(4)], 3, NOW, 10_000)
    got = figures(backend)
    assert got[("mail", "enqueued", "")] == 4 and got[("pdf", "enqueued", "")] == 2
    assert got[("", "enqueued", "")] == 4


def test_a_bulk_batch_counts_each_task_and_any_other_payload_as_no_task(backend):
    # Given a batch of bare payloads: task envelopes, plain ones, and `__task__` values that are
    # not task names (a number, a list)
    payloads = [{"__task__": "mail", "args": [i]} for i in range(3)] + [{"__task__": "pdf"}]
    payloads += [{"plain": 1}, {"__task__": 7}, {"__task__": ["not", "a", "name"]}, {"__task__": None}]
    # When it is enqueued in bulk
    backend.enqueue_payloads(payloads, 3, NOW, 10_000)
    # Then each task counts its jobs, and the rest count under no task
    got = figures(backend)
    assert got[("mail", "enqueued", "")] == 3 and got[("pdf", "enqueued", "")] == 1
    assert got[("", "enqueued", "")] == 4


def test_lone_enqueues_count_each_jobs_own_minute_queue_and_task(backend):
    # Given lone enqueues whose minute, queue or task changes from one job to the next (the
    # clock going back a minute too), with task names spelled with escapes, a name that starts
    # like the one before, `__task__` values that are not names and a task key not first
    def text(payload: dict[str, object]) -> str:
        return dumps(payload)  # the compact text `Queue.enqueue` stores

    mail, mailer = text({"__task__": "mail", "args": [1], "kwargs": {}}), text({"__task__": "mailer"})
    accented, not_a_name = text({"__task__": "caf\u00e9", "args": []}), text({"__task__": 7})
    later_key, plain = text({"x": 1, "__task__": "pdf"}), text({"i": 1})
    lone = [(0, "default", plain), (0, "default", plain), (0, "default", mail), (0, "default", mail),
            (0, "emails", mail), (0, "default", plain), (60, "default", plain), (30, "default", plain),
            (60, "default", accented), (60, "default", accented), (60, "default", mail), (60, "default", mailer),
            (60, "default", not_a_name), (60, "default", plain), (60, "emails", later_key), (120, "emails", later_key)]
    # When each is enqueued alone
    for offset, queue, payload_json in lone:
        backend.enqueue_many([NewJob(payload_json, queue_name=queue)], NOW + offset)
    # Then every (minute, queue, task) counts its own jobs, no more, no fewer
    got = {(row.minute - int(NOW), row.queue, row.task): row.value
           for row in backend.event_metrics(since=0, name="enqueued")}
    assert got == {(0, "default", ""): 4, (0, "default", "mail"): 2, (0, "emails", "mail"): 1,
                   (60, "default", ""): 3, (60, "default", "caf\u00e9"): 2, (60, "default", "mail"): 1,
                   (60, "default", "mailer"): 1, (60, "emails", "pdf"): 1, (120, "emails", "pdf"): 1}


def test_acks_count_completed_attempts_with_duration_and_wait_histograms(backend):
    backend.enqueue_many(task_jobs("mail", 5), NOW)
    jobs = backend.claim("w", 5, LEASE, NOW + 2)  # each waited 2 s
    # When four are acked as a group, 0.3 s after the claim, and one alone
    backend.complete_many([(job.lease, None) for job in jobs[:4]], NOW + 2.3, 3600)
    backend.complete_many([(jobs[4].lease, None)], NOW + 2.3, 3600)
    got = figures(backend)
    assert got[("mail", "attempt", "completed")] == 5
    assert got[("mail", "duration", "0.5")] == 5 and got[("mail", "duration", "sum")] == pytest.approx(1.5)
    assert got[("mail", "wait", "2.5")] == 5 and got[("mail", "wait", "sum")] == pytest.approx(10.0)


def test_lone_acks_in_different_minutes_keep_their_durations_and_waits_apart(backend):
    backend.enqueue_many(task_jobs("mail", 3), NOW)
    first, second, third = backend.claim("w", 3, LEASE, NOW + 1)  # each waited 1 s
    # When two are acked alone in the first minute and one in the third
    backend.complete_many([(first.lease, None)], NOW + 1.2, 3600)
    backend.complete_many([(second.lease, None)], NOW + 3, 3600)
    backend.complete_many([(third.lease, None)], NOW + 121, 3600)
    # Then each minute holds its own attempts, duration sums and buckets, and the totals all three
    rows = {(row.minute, row.name, row.label): row.value for row in backend.event_metrics(since=0)}
    first_minute, third_minute = int(NOW), int(NOW) + 120
    assert rows[(first_minute, "attempt", "completed")] == 2 and rows[(third_minute, "attempt", "completed")] == 1
    assert rows[(first_minute, "duration", "sum")] == pytest.approx(2.2)
    assert rows[(first_minute, "duration", "0.25")] == 1 and rows[(first_minute, "duration", "2.5")] == 1
    assert rows[(third_minute, "duration", "300.0")] == 1 and rows[(third_minute, "wait", "1.0")] == 1
    got = figures(backend)
    assert got[("mail", "wait", "sum")] == pytest.approx(3.0) and got[("mail", "duration", "sum")] == pytest.approx(122.2)


def test_a_stale_ack_counts_nothing(backend):
    backend.enqueue_many(task_jobs("mail", 1), NOW)
    (job,) = backend.claim("w", 1, LEASE, NOW)
    backend.complete_many([(job.lease, None)], NOW + 1, 3600)
    assert backend.complete_many([(job.lease, None)], NOW + 2, 3600) == [job.lease]
    assert figures(backend)[("mail", "attempt", "completed")] == 1


def test_failures_count_their_outcome_and_error_type(backend):
    backend.enqueue_many(task_jobs("mail", 3), NOW)
    first, second, third = backend.claim("w", 3, LEASE, NOW)
    backend.retry(first.lease, NOW + 10, ErrorInfo("ConnectionError", "down"), NOW + 1)
    backend.bury(second.lease, ErrorInfo("ValueError", "bad"), NOW + 1)
    backend.bury(third.lease, ErrorInfo("JobTimeout", "too slow"), NOW + 1)
    got = figures(backend)
    assert got[("mail", "attempt", "retry")] == 1 and got[("mail", "attempt", "dead_letter")] == 1
    assert got[("mail", "attempt", "timeout")] == 1
    assert got[("mail", "failure", "ConnectionError")] == got[("mail", "failure", "ValueError")] == 1


def test_recovered_leases_count_as_lease_lost(backend):
    backend.enqueue_many(task_jobs("mail", 2), NOW)
    backend.claim("dead-worker", 2, LEASE, NOW)
    backend.requeue_expired(NOW + LEASE + 1, ErrorInfo("LeaseExpired", "worker died"))
    got = figures(backend)
    assert got[("mail", "attempt", "lease_lost")] == 2 and got[("mail", "failure", "LeaseExpired")] == 2


def test_minutes_are_kept_apart_and_since_selects_recent_ones(backend):
    backend.enqueue_many(task_jobs("mail", 1), NOW)
    backend.enqueue_many(task_jobs("mail", 2), NOW + 120)
    minutes = {row.minute: row.value for row in backend.event_metrics(since=0) if row.name == "enqueued"}
    assert minutes == {int(NOW): 1, int(NOW) + 120: 2}
    assert figures(backend, since=NOW + 60)[("mail", "enqueued", "")] == 2
    assert [row.name for row in backend.event_metrics(since=0, name="enqueued")] == ["enqueued", "enqueued"]
    assert figures(backend)[("mail", "enqueued", "")] == 3  # the all-time totals


def test_old_minutes_go_but_the_all_time_totals_never_go_down(backend):
    backend.enqueue_many(task_jobs("mail", 3), NOW)
    backend.claim("dead-worker", 1, LEASE, NOW)
    backend.requeue_expired(NOW + LEASE + 1, ErrorInfo("LeaseExpired", "worker died"))
    # When housekeeping runs nine days later
    backend.cleanup(NOW + 9 * 86400, NOW)
    # Then the old minutes are gone but their counts survive in the all-time rows
    assert backend.event_metrics(since=0) == []
    got = {(row.minute, row.name, row.label): row.value for row in backend.event_metrics()}
    assert got[(0, "enqueued", "")] == 3 and got[(0, "attempt", "lease_lost")] == 1


def test_a_trace_context_is_stored_beside_its_job_and_outlives_retries(backend):
    (ref,) = backend.enqueue_many([NewJob('{"n": 1}', trace='{"traceparent": "00-ab-cd-01"}')], NOW)
    (plain,) = backend.enqueue_many([NewJob('{"n": 2}')], NOW)
    (job,) = [j for j in backend.claim("w", 2, LEASE, NOW) if j.id == ref.id]
    backend.retry(job.lease, NOW, ErrorInfo("E", "x"), NOW)
    assert backend.trace_contexts([ref.id, plain.id]) == {ref.id: '{"traceparent": "00-ab-cd-01"}'}
    assert backend.get(ref.id).payload == {"n": 1}


def another_process(backend: Backend) -> Backend:
    """A second handle on the same storage, as another process opens it (its own rollup)."""
    if isinstance(backend, ShardManager):
        return ShardManager(backend.data_dir, len(backend.shards))
    from queue_max.storage.postgres import PostgresBackend

    return PostgresBackend(backend.url, options=backend.options)  # type: ignore[attr-defined]


def per_queue(backend: Backend) -> dict[tuple[str, str, str, str], float]:
    out: dict[tuple[str, str, str, str], float] = {}
    for row in backend.event_metrics():
        key = (row.queue, row.task, row.name, row.label)
        out[key] = out.get(key, 0.0) + row.value
    return out


def on_queue(queue: str, jobs: list[NewJob]) -> list[NewJob]:
    return [job._replace(queue_name=queue) for job in jobs]


def test_every_figure_carries_its_jobs_queue_on_every_path(backend):
    # Given mail jobs on the "emails" queue and pdf jobs on "reports", enqueued as a batch and alone
    backend.enqueue_many(on_queue("emails", task_jobs("mail", 4)) + on_queue("reports", task_jobs("pdf", 3)), NOW)
    backend.enqueue_many(on_queue("emails", task_jobs("mail", 1)), NOW)
    # When this process acks some in a group and one alone, another process acks others it did
    # not claim, some fail and some leases expire
    emails = backend.claim("w", 5, LEASE, NOW, queue="emails")
    reports = backend.claim("w", 3, LEASE, NOW, queue="reports")
    backend.complete_many([(job.lease, None) for job in emails[:2]], NOW + 1, 3600)
    backend.complete_many([(emails[2].lease, None)], NOW + 1, 3600)
    other = another_process(backend)
    try:
        other.complete_many([(job.lease, None) for job in reports[:2]], NOW + 1, 3600)
        other.complete_many([(emails[3].lease, None)], NOW + 1, 3600)
        other.flush_metrics()
    finally:
        other.close()
    backend.bury(emails[4].lease, ErrorInfo("ValueError", "bad"), NOW + 1)
    backend.requeue_expired(NOW + LEASE + 1, ErrorInfo("LeaseExpired", "worker died"))  # reports[2]
    # Then each series is labelled with the job's own queue, never "default"
    got = per_queue(backend)
    assert got[("emails", "mail", "enqueued", "")] == 5 and got[("reports", "pdf", "enqueued", "")] == 3
    assert got[("emails", "mail", "attempt", "completed")] == 4
    assert got[("reports", "pdf", "attempt", "completed")] == 2
    assert got[("emails", "mail", "duration", "sum")] == pytest.approx(5.0)  # five attempts of 1 s
    assert got[("emails", "mail", "attempt", "dead_letter")] == got[("emails", "mail", "failure", "ValueError")] == 1
    assert got[("reports", "pdf", "attempt", "lease_lost")] == got[("reports", "pdf", "failure", "LeaseExpired")] == 1
    assert not [key for key in got if key[0] == "default"]


def test_one_grouped_ack_of_interleaved_tasks_and_queues_counts_each_pair_apart(backend):
    # Given jobs of two tasks on two queues, claimed together
    backend.enqueue_many(on_queue("emails", task_jobs("mail", 3)) + on_queue("reports", task_jobs("mail", 2))
                         + on_queue("emails", task_jobs("pdf", 2)), NOW)
    jobs = backend.claim("w", 7, LEASE, NOW)
    assert len(jobs) == 7
    # When they are acked in one group whose queues and tasks alternate
    mails = sorted((job for job in jobs if job.payload["__task__"] == "mail"), key=lambda job: job.queue_name)
    pdfs = [job for job in jobs if job.payload["__task__"] == "pdf"]
    order = [mails[0], pdfs[0], mails[4], mails[1], pdfs[1], mails[3], mails[2]]  # emails, reports mixed
    backend.complete_many([(job.lease, None) for job in order], NOW + 1, 3600)
    # Then each queue and task pair counts its own attempts, whatever their order in the group
    got = per_queue(backend)
    assert got[("emails", "mail", "attempt", "completed")] == 3
    assert got[("reports", "mail", "attempt", "completed")] == 2
    assert got[("emails", "pdf", "attempt", "completed")] == 2
    assert got[("emails", "mail", "duration", "sum")] == pytest.approx(3.0)
