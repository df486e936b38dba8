"""A task's own host-wide circuit breaker (`@task(circuit_breaker_threshold=...)`), on every
backend: it opens on the task's consecutive failures, holds back only that task's jobs (given
back, never failed or charged), lets one trial through after its timeout, and shows in stats."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from task_modules.fixtures import drain, isolated_tasks  # noqa: F401

from queue_max import ConfigError, Queue, Settings
from queue_max._clock import FakeClock
from queue_max.models import Job
from queue_max.storage.base import Backend
from queue_max.tasks import process_task_job, set_default_queue, task


@pytest.fixture
def bq(backend: Backend, clock: FakeClock) -> Iterator[Queue]:
    """A queue over each conformance backend, on a fake clock, made the tasks' default."""
    queue = Queue(backend=backend, clock=clock, settings=Settings(), rate_limit=0)
    set_default_queue(queue)
    yield queue


def one_by_one(queue: Queue) -> list[Job]:
    """Run ready task jobs one claim at a time (so an outcome is recorded before the next claim)."""
    ran: list[Job] = []
    while jobs := queue.claim_jobs("test-worker", 1):
        process_task_job(queue, jobs[0])
        ran.append(jobs[0])
    return ran


def define_tasks(threshold: int = 2, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    @task(name="t.flaky", circuit_breaker_threshold=threshold, circuit_breaker_timeout=timeout, max_retries=0)
    def flaky(n: int) -> int:
        if n >= 0:
            raise RuntimeError("the downstream service is down")
        return n

    @task(name="t.steady")
    def steady(n: int) -> int:
        return n

    return flaky, steady


def test_a_tasks_failures_open_its_own_breaker_and_hold_back_only_its_jobs(bq, clock, caplog):
    # Given a flaky task with its own breaker (2 failures) beside a steady task in the same queue
    flaky, steady = define_tasks()
    changes: list[tuple[str, str, str]] = []
    bq.events.on("task_circuit_changed", lambda *args: changes.append(args))
    flaky.delay(1)
    flaky.delay(2)
    # When its first two jobs fail
    with caplog.at_level(logging.WARNING, logger="queue_max.flow"):
        assert len(drain(bq)) == 2
    # Then its breaker is open (an event and a log line say so), the queue's stays closed
    assert changes == [("t.flaky", "closed", "open")]
    assert "task 't.flaky': circuit closed -> open" in caplog.text
    stats = bq.get_stats()
    assert stats["task_circuits"]["t.flaky"] == {"circuit_state": "open", "circuit_failures": 2, "threshold": 2}
    assert stats["circuit_state"] == "closed"
    assert "task:t.flaky" not in stats["queues"]
    # And when more jobs of both tasks wait, only the steady ones are run
    held = [flaky.delay(n) for n in range(3, 6)]
    done = [steady.delay(n) for n in range(4)]
    ran = drain(bq)
    assert sorted(job.id for job in ran) == sorted(h.id for h in done)
    # And the held jobs are waiting, not failed, with no attempt counted
    for handle in held:
        job = bq.get_job(handle.id)
        assert job.status.value in ("pending", "scheduled") and job.tentativas == 0


def test_after_its_timeout_one_trial_runs_and_a_success_closes_the_breaker(bq, clock):
    flaky, _steady = define_tasks(threshold=1, timeout=30.0)
    flaky.delay(1)
    one_by_one(bq)
    for n in range(-6, 0):  # jobs that would succeed
        flaky.delay(n)
    assert one_by_one(bq) == []
    # When the timeout has passed, many claims see exactly one trial between them
    clock.advance(31)
    claimed = bq.claim_jobs("a", 10) + bq.claim_jobs("b", 10) + bq.claim_jobs("c", 10)
    assert len(claimed) == 1
    assert bq.get_stats()["task_circuits"]["t.flaky"]["circuit_state"] == "half_open"
    # Then its success closes the breaker, and the held jobs run once their wait is over
    bq.complete_job(claimed[0])
    assert bq.get_stats()["task_circuits"]["t.flaky"]["circuit_state"] == "closed"
    clock.advance(31)
    assert len(one_by_one(bq)) == 5


def test_a_failed_trial_reopens_the_breaker_for_another_timeout(bq, clock):
    flaky, _steady = define_tasks(threshold=1, timeout=30.0)
    for n in range(4):
        flaky.delay(n)
    assert len(one_by_one(bq)) == 1
    clock.advance(31)
    assert len(one_by_one(bq)) == 1  # the trial, which fails
    assert bq.get_stats()["task_circuits"]["t.flaky"]["circuit_state"] == "open"
    clock.advance(29)
    assert one_by_one(bq) == []


def test_a_success_of_another_task_does_not_break_the_run_of_failures(bq, clock):
    flaky, steady = define_tasks(threshold=2)
    flaky.delay(1)
    one_by_one(bq)
    steady.delay(1)
    one_by_one(bq)
    flaky.delay(2)
    one_by_one(bq)
    assert bq.get_stats()["task_circuits"]["t.flaky"]["circuit_state"] == "open"


@pytest.mark.parametrize("options, message", [
    ({"circuit_breaker_threshold": 0}, "circuit_breaker_threshold must be an int >= 1"),
    ({"circuit_breaker_threshold": "3"}, "circuit_breaker_threshold must be an int >= 1"),
    ({"circuit_breaker_threshold": True}, "circuit_breaker_threshold must be an int >= 1"),
    ({"circuit_breaker_threshold": 3, "circuit_breaker_timeout": 0}, "circuit_breaker_timeout"),
    ({"circuit_breaker_threshold": 3, "circuit_breaker_timeout": -1.5}, "circuit_breaker_timeout"),
    ({"circuit_breaker_threshold": 3, "circuit_breaker_timeout": "60"}, "circuit_breaker_timeout"),
    ({"circuit_breaker_timeout": 60}, "give circuit_breaker_threshold too"),
])
def test_bad_breaker_options_are_refused_and_register_nothing(options, message):
    from queue_max._flow_limits import task_breakers
    from queue_max.tasks import registry

    with pytest.raises(ConfigError, match=message):
        task(name="t.bad", **options)(lambda: None)
    assert "t.bad" not in registry and "t.bad" not in task_breakers()
