"""Leases and time limits of thread workers: heartbeats, lost leases, recovery, job timeouts."""

from __future__ import annotations

import threading
import time

from queue_max import JobStatus
from queue_max.workers import JobTimeout, Worker, current_job
from _helpers import wait_until, worker_running


def test_heartbeats_keep_a_long_job_from_being_recovered(short_leases):
    # Given a job that runs for three lease lengths, and a second, idle worker on the same queue
    queue = short_leases()
    job_id = queue.enqueue({"n": 1})["id"]
    runs: list[str] = []
    started = threading.Event()

    def long_job(payload: dict) -> str:
        runs.append(current_job().worker_id)
        started.set()
        time.sleep(3.0)
        return "done"

    workers = [Worker(f"w{k}", long_job, queue, poll_interval=0.05) for k in range(2)]
    for worker in workers:
        worker.start()
    try:
        assert started.wait(5)
        # When recovery sweeps run all through the job
        recovered = 0
        while len(runs) == 1 and queue.get_job(job_id).status is JobStatus.PROCESSING:
            recovered += queue.recover_orphans()
            time.sleep(0.1)
        assert wait_until(lambda: queue.get_job(job_id).is_completed)
    finally:
        for worker in workers:
            worker.stop(5)
    # Then nothing was recovered: the job ran once, on one worker, in one attempt
    assert recovered == 0 and len(runs) == 1
    job = queue.get_job(job_id)
    assert (job.status, job.tentativas, job.result) == (JobStatus.COMPLETED, 1, "done")


def test_a_worker_that_lost_its_lease_cannot_complete_the_job(short_leases):
    # Given a worker running a job that waits until the worker asks it to stop
    queue = short_leases()
    job_id = queue.enqueue({"n": 1})["id"]
    told_to_stop: list[bool] = []

    def handler(payload: dict) -> str:
        told_to_stop.append(current_job().wait(10))
        return "stale result"

    stale = Worker("stale", handler, queue, poll_interval=0.05)
    with worker_running(stale):
        assert wait_until(lambda: stale.get_current_job() is not None)
        # When the job changes hands behind its back (a new claim fences the old lease out)
        queue.backend.release([queue.get_job(job_id).lease], queue.clock.time())
        fresh = queue.claim_jobs("fresh", 1)[0]
        queue.complete_job(fresh, result="fresh result")
        # Then its next heartbeat notices, the handler is asked to stop, and its result is refused
        assert wait_until(lambda: stale.get_stats()["lost"] == 1)
    assert told_to_stop == [True]
    assert queue.get_job(job_id).result == "fresh result"
    assert stale.get_stats()["processed"] == 0


def test_expired_leases_are_recovered_by_a_running_worker_with_the_attempt_counted(short_leases):
    # Given a job claimed by a worker that then vanished without a trace
    queue = short_leases(max_retries=2)
    job_id = queue.enqueue({"n": 1})["id"]
    assert queue.claim_jobs("vanished", 1)[0].id == job_id
    done = threading.Event()
    # When an ordinary worker runs on the queue
    worker = Worker("w", lambda payload: done.set(), queue, poll_interval=0.05)
    with worker_running(worker):
        assert done.wait(10)
        assert wait_until(lambda: queue.get_job(job_id).is_completed)
    # Then it recovered the job after the lease expired, and the lost attempt counts
    job = queue.get_job(job_id)
    assert job.tentativas == 2 and job.errors[0].type == "LeaseExpired"


def test_a_job_over_its_time_limit_is_asked_to_stop_and_recorded_as_a_timeout(short_leases):
    # Given a cooperative handler that waits until it is told to stop, and one retry
    queue = short_leases(max_retries=1)
    job_id = queue.enqueue({"n": 1})["id"]
    remaining: list[float] = []

    def handler(payload: dict) -> None:
        ctx = current_job()
        remaining.append(ctx.remaining())
        while not ctx.wait(0.05):
            pass

    worker = Worker("w", handler, queue, poll_interval=0.05, job_timeout=0.3)
    with worker_running(worker):
        assert wait_until(lambda: queue.get_job(job_id).is_failed)
    # Then both attempts timed out and were recorded as such: retried once, then dead-lettered
    job = queue.get_job(job_id)
    assert job.tentativas == 2 and all(0 < left <= 0.3 for left in remaining)
    assert [e.type.rsplit(".", 1)[-1] for e in job.errors] == ["JobTimeout", "JobTimeout"]
    stats = worker.get_stats()
    assert (stats["timed_out"], stats["retried"], stats["failed"]) == (2, 1, 1)


def test_a_handler_that_ignores_its_time_limit_is_abandoned_and_its_thread_replaced(short_leases):
    # Given a one-thread worker and a job that blocks far past its limit, ignoring every request
    queue = short_leases(max_retries=0)
    stuck_id = queue.enqueue({"stuck": True}, priority=2)["id"]
    others = queue.enqueue_batch([{"payload": {"n": n}} for n in range(5)])["ids"]
    unblock = threading.Event()
    worker = Worker("w", lambda payload: unblock.wait(30) if payload.get("stuck") else payload["n"],
                    queue, poll_interval=0.05, job_timeout=0.2, timeout_grace=0.2)
    worker.start()
    try:
        # Then the stuck job fails with a timeout, and the other jobs still run
        assert wait_until(lambda: queue.get_job(stuck_id).is_failed)
        assert wait_until(lambda: all(queue.get_job(job_id).is_completed for job_id in others))
        assert "abandoned" in queue.get_job(stuck_id).last_error
        assert worker.get_stats()["timed_out"] == 1
    finally:
        unblock.set()
        worker.stop(5)


def test_the_timeout_error_is_retryable_and_names_the_job():
    error = JobTimeout(1024, 2.5, "it finished late")
    assert isinstance(error, TimeoutError) and "1024" in str(error) and "2.5s" in str(error)


def test_a_failure_that_storage_cannot_record_does_not_stop_the_worker(short_leases):
    # Given a one-thread worker, and a job whose error text SQLite refuses (a lone surrogate,
    # as os.fsdecode gives for a file name that is not UTF-8)
    queue = short_leases(max_retries=0)
    bad_name = "report-\udcff.csv"

    def handler(payload: dict) -> None:
        if payload["n"] == 1:
            raise FileNotFoundError("cannot open " + bad_name)

    first = queue.enqueue({"n": 1})["id"]
    second = queue.enqueue({"n": 2})["id"]
    worker = Worker("w", handler, queue, poll_interval=0.05)
    with worker_running(worker):
        # Then the worker carries on with the next job, and the first one, whose lease it let
        # go, is recovered like a job whose worker died: attempt counted, dead-lettered
        assert wait_until(lambda: queue.get_job(second).is_completed)
        assert worker.is_running
        assert wait_until(lambda: queue.get_job(first).is_failed)
