"""Typed events with bubus: QueueEventBus over a real queue and real workers."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("bubus")

from queue_max import ConfigError, Permanent, Queue, QueueClosed  # noqa: E402
from queue_max._clock import FakeClock  # noqa: E402
from queue_max._events import EVENTS  # noqa: E402
from queue_max.contrib.events import (  # noqa: E402
    EVENT_TYPES,
    Alert,
    EventTimeout,
    JobCancelled,
    JobCompleted,
    JobEnqueued,
    JobFailed,
    JobReleased,
    JobRetried,
    JobsRecovered,
    JobStarted,
    QueueEvent,
    QueueEventBus,
)
from queue_max.workers import Worker  # noqa: E402
from _helpers import assert_public_names_sorted_and_complete, run_guide  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def queue(make_queue: Callable[..., Queue]) -> Queue:
    # one retry, after ~10 ms: a failing job reaches the dead letters quickly
    return make_queue(shards=2, max_retries=1, retry_backoff=0.01, retry_backoff_max=0.02)


@pytest.fixture
def events(queue: Queue) -> Iterator[QueueEventBus]:
    with QueueEventBus(queue) as bus:
        yield bus


@pytest.fixture
def run_worker(queue: Queue) -> Iterator[Callable[[Callable[[dict[str, Any]], Any]], Worker]]:
    started: list[Worker] = []

    def run(handler: Callable[[dict[str, Any]], Any], *, burst: bool = False) -> Worker:
        worker = Worker("events-test", handler, queue, poll_interval=0.05, burst=burst)
        worker.start()
        started.append(worker)
        return worker

    yield run
    for worker in started:
        worker.stop(timeout=5)


def echo(payload: dict[str, Any]) -> Any:
    if payload.get("fail") == "permanent":
        raise Permanent("bad input")
    if payload.get("fail"):
        raise ValueError("boom")
    return payload


def test_every_event_of_the_queue_has_a_typed_event_with_matching_fields() -> None:
    # Given the built-in emitter's events and their positional arguments
    # Then each has a typed event whose fields take those arguments in order
    assert set(EVENT_TYPES) == set(EVENTS)
    for name, args in EVENTS.items():
        cls = EVENT_TYPES[name]
        assert cls.queue_event == name
        assert len(cls.arg_fields) == len(args)
        assert set(cls.arg_fields) <= set(cls.model_fields)


def test_a_typed_sync_handler_receives_the_completed_job_from_a_worker(
        queue: Queue, events: QueueEventBus, run_worker: Callable[..., Worker]) -> None:
    # Given a handler for JobCompleted
    received: list[tuple[JobCompleted, str]] = []

    @events.on(JobCompleted)
    def handle(event: JobCompleted) -> None:
        received.append((event, threading.current_thread().name))

    # When a worker runs a job
    ref = queue.enqueue({"n": 1})
    assert run_worker(echo, burst=True).wait(10)

    # Then the handler got a typed event for it, on the events thread, not the worker's
    assert events.flush(5)
    [(event, thread)] = received
    assert (event.job_id, event.shard_id) == (ref["id"], ref["shard_id"])
    assert isinstance(event, QueueEvent)
    assert thread == "queue-max events"


def test_async_handlers_are_awaited(queue: Queue, events: QueueEventBus) -> None:
    # Given an async handler for enqueued jobs
    seen: list[int] = []

    @events.on("job_enqueued")
    async def handle(event: JobEnqueued) -> None:
        await asyncio.sleep(0)
        seen.append(event.job_id)

    # When two jobs are enqueued
    ids = [queue.enqueue({"n": n})["id"] for n in range(2)]

    # Then it ran for both, in order
    assert events.flush(5)
    assert seen == ids


def test_the_wildcard_job_star_receives_every_job_event_and_nothing_else(
        queue: Queue, events: QueueEventBus, run_worker: Callable[..., Worker]) -> None:
    # Given handlers for "job_*" (snake names) and "Job*" (class names)
    snake: list[str] = []
    camel: list[str] = []
    events.on("job_*", lambda event: snake.append(event.event_type))
    events.on("Job*", lambda event: camel.append(event.event_type))

    # When a job runs
    queue.enqueue({"n": 1})
    assert run_worker(echo, burst=True).wait(10)
    assert events.flush(5)

    # Then both saw the job's whole life
    assert snake == ["JobEnqueued", "JobStarted", "JobCompleted"]
    assert camel == snake


def test_a_glob_does_not_match_other_events(make_queue: Callable[..., Queue]) -> None:
    # Given a queue that alerts past one pending job (checked at most once a second), and a
    # "job_*" handler
    clock = FakeClock()
    queue = make_queue(alert_threshold=1, clock=clock)
    with QueueEventBus(queue) as events:
        names: list[str] = []
        alerts: list[Alert] = []
        events.on("job_*", lambda event: names.append(event.event_type))
        events.on(Alert, alerts.append)

        # When the backlog alert fires
        queue.enqueue({"n": 1})
        clock.advance(1.5)
        queue.enqueue({"n": 2})

        # Then "job_*" only saw the enqueues
        assert events.flush(5)
        [alert] = alerts
        assert (alert.alert_type, alert.pending, alert.threshold) == ("QUEUE_SIZE", 2, 1)
        assert names == ["JobEnqueued", "JobEnqueued"]


def test_an_unknown_lowercase_event_name_is_refused(events: QueueEventBus) -> None:
    with pytest.raises(ConfigError, match="unknown event 'job_complete'"):
        events.on("job_complete", lambda event: None)
    with pytest.raises(ConfigError, match="event pattern"):
        events.on(42, lambda event: None)  # type: ignore[call-overload]


def test_expect_returns_the_first_event_that_matches_include(queue: Queue, events: QueueEventBus) -> None:
    # Given three pending jobs that another thread cancels in a moment
    ids = [queue.enqueue({"n": n})["id"] for n in range(3)]
    threading.Timer(0.1, lambda: [queue.cancel(job_id) for job_id in ids]).start()

    # When we wait for the cancellation of the second one
    event = events.expect(JobCancelled, timeout=10, include=lambda e: e.job_id == ids[1])

    # Then that is the event returned
    assert isinstance(event, JobCancelled) and event.job_id == ids[1]


def test_expect_only_sees_events_emitted_after_the_call_and_times_out(
        queue: Queue, events: QueueEventBus) -> None:
    # Given a job cancelled (and its event dispatched) before the call
    assert queue.cancel(queue.enqueue({"n": 1})["id"])
    assert events.flush(5)

    # When we expect a cancellation, then none comes within the timeout
    with pytest.raises(EventTimeout, match="no JobCancelled event within 0.05s") as caught:
        events.expect(JobCancelled, timeout=0.05)
    assert isinstance(caught.value, TimeoutError)


def test_expect_takes_names_and_globs_too(queue: Queue, events: QueueEventBus) -> None:
    ids = [queue.enqueue({"n": n})["id"] for n in range(2)]
    threading.Timer(0.1, queue.cancel, [ids[0]]).start()
    first = events.expect("job_cancelled", timeout=10)
    threading.Timer(0.1, queue.cancel, [ids[1]]).start()
    second = events.expect("job_c*", timeout=10)
    assert [type(first), type(second)] == [JobCancelled, JobCancelled]
    assert [first.job_id, second.job_id] == ids


def test_the_final_failure_is_a_job_failed_and_the_job_is_in_the_dead_letters(
        queue: Queue, events: QueueEventBus, run_worker: Callable[..., Worker]) -> None:
    # Given a job that always fails and may be retried once
    kinds: list[str] = []
    dead: list[JobFailed] = []
    gave_up = threading.Event()
    events.on("job_*", lambda event: kinds.append(event.event_type))
    events.on(JobFailed, lambda event: (dead.append(event), gave_up.set()))
    ref = queue.enqueue({"fail": True})

    # When a worker runs it until it gives up
    run_worker(echo)
    assert gave_up.wait(10)

    # Then the first failure was a JobRetried, the last a JobFailed, and the job is dead-lettered
    assert events.flush(5)
    [failed] = dead
    assert (failed.job_id, failed.error) == (ref["id"], "boom")
    assert [k for k in kinds if k in ("JobRetried", "JobFailed")] == ["JobRetried", "JobFailed"]
    assert [d.original_job_id for d in queue.dlq_list()] == [ref["id"]]


def test_a_permanent_error_is_a_job_failed_without_retry(
        queue: Queue, events: QueueEventBus, run_worker: Callable[..., Worker]) -> None:
    retried: list[JobRetried] = []
    dead: list[JobFailed] = []
    events.on(JobRetried, retried.append)
    events.on(JobFailed, dead.append)
    ref = queue.enqueue({"fail": "permanent"})
    assert run_worker(echo, burst=True).wait(10)
    assert events.flush(5)
    assert [e.job_id for e in dead] == [ref["id"]] and retried == []


def test_release_and_recovery_are_events_too(tmp_path: Any, settings: Any) -> None:
    # Given a queue on a fake clock with two claimed jobs
    clock = FakeClock()
    with Queue(shards=1, data_dir=tmp_path / "q", rate_limit=0, settings=settings, clock=clock) as queue, \
            QueueEventBus(queue) as events:
        got: list[QueueEvent] = []
        events.on(JobReleased, got.append)
        events.on(JobsRecovered, got.append)
        queue.enqueue({"n": 1})
        queue.enqueue({"n": 2})
        first, second = queue.pop_job("w1"), queue.pop_job("w2")
        assert first is not None and second is not None

        # When one is released and the other's lease runs out
        queue.release_job(first)
        clock.advance(queue.options.lease_timeout + 1)
        queue.recover_orphans()

        # Then both changes were dispatched
        assert events.flush(5)
        released, recovered = got
        assert isinstance(released, JobReleased) and released.job_id == first.id
        assert isinstance(recovered, JobsRecovered) and (recovered.requeued, recovered.buried) == (1, 0)


def test_metrics_count_events_and_handler_errors_and_a_failing_handler_harms_nobody(
        queue: Queue, events: QueueEventBus, run_worker: Callable[..., Worker]) -> None:
    # Given a handler that always raises and one that works
    completed: list[int] = []

    @events.on(JobStarted)
    def broken(event: JobStarted) -> None:
        raise RuntimeError("handler bug")

    events.on(JobCompleted, lambda event: completed.append(event.job_id))

    # When a worker runs three jobs until the queue is empty
    ids = {queue.enqueue({"n": n})["id"] for n in range(3)}
    worker = run_worker(echo, burst=True)
    assert worker.wait(10)
    assert events.flush(5)

    # Then the jobs completed, the other handler ran, and the metrics tell what happened
    assert set(completed) == ids
    assert worker.get_stats()["processed"] == 3
    metrics = events.get_metrics()
    assert metrics["received"]["job_enqueued"] == 3
    assert metrics["received"]["job_completed"] == 3
    assert metrics["received_total"] == metrics["dispatched"] == 9
    assert (metrics["handlers"], metrics["handler_calls"], metrics["handler_errors"]) == (2, 6, 3)
    assert (metrics["pending"], metrics["dropped"], metrics["closed"]) == (0, 0, False)


def test_a_slow_handler_never_blocks_the_queue_and_excess_events_are_dropped(
        make_queue: Callable[..., Queue]) -> None:
    # Given a bus that holds at most 5 waiting events, and a handler stuck until released
    queue = make_queue()
    gate = threading.Event()
    with QueueEventBus(queue, max_pending=5) as events:
        events.on(JobEnqueued, lambda event: gate.wait(10))

        # When 20 jobs are enqueued
        for n in range(20):
            queue.enqueue({"n": n})

        # Then enqueueing went on; the events past the limit were dropped and counted
        metrics = events.get_metrics()
        assert metrics["dropped"] == 15
        assert metrics["received_total"] == 5
        gate.set()
        assert events.flush(5)
        assert events.get_metrics()["dispatched"] == 5


def test_events_limits_what_is_bridged(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue()
    with QueueEventBus(queue, events=[JobCompleted, "job_failed"]) as events:
        assert not queue.events.has("job_enqueued")
        assert queue.events.has("job_completed") and queue.events.has("job_failed")
        queue.enqueue({"n": 1})
        assert events.get_metrics()["received_total"] == 0
    with pytest.raises(ConfigError, match="'job_done' is not one of the queue's events"):
        QueueEventBus(queue, events=["job_done"])


def test_log_tree_shows_the_dispatched_events_and_their_handlers(queue: Queue, events: QueueEventBus) -> None:
    @events.on(JobEnqueued)
    def audit(event: JobEnqueued) -> None: ...

    queue.enqueue({"n": 1})
    tree = events.log_tree()
    assert "JobEnqueued#" in tree
    assert "audit" in tree


def test_leaving_the_context_detaches_from_the_queue_and_stops_the_bus(queue: Queue) -> None:
    # Given a bus used in a with block
    with QueueEventBus(queue) as events:
        events.on(JobEnqueued, lambda event: None)
        assert queue.events.has("job_enqueued")

    # Then after it the queue has no listener left, and the bus refuses new work
    assert not any(queue.events.has(name) for name in EVENTS)
    assert events.get_metrics()["closed"]
    queue.enqueue({"n": 1})
    with pytest.raises(QueueClosed):
        events.on(JobEnqueued, lambda event: None)
    with pytest.raises(QueueClosed):
        events.expect(JobEnqueued, timeout=1)
    events.close()  # idempotent


def test_blocking_calls_from_a_handler_are_refused_instead_of_deadlocking(
        queue: Queue, events: QueueEventBus) -> None:
    errors: list[BaseException] = []

    @events.on(JobEnqueued)
    def waits(event: JobEnqueued) -> None:
        try:
            events.expect(JobCompleted, timeout=1)
        except RuntimeError as exc:
            errors.append(exc)

    queue.enqueue({"n": 1})
    assert events.flush(5)
    assert "cannot be called from an event handler" in str(errors[0])


def test_expect_times_out_on_time_even_behind_a_stuck_handler(queue: Queue, events: QueueEventBus) -> None:
    # Given a handler stuck on an event, so that nothing behind it in the stream is handled
    gate = threading.Event()
    events.on(JobEnqueued, lambda event: gate.wait(10))
    queue.enqueue({"n": 1})

    # When we expect something with a short timeout
    started = time.monotonic()
    with pytest.raises(EventTimeout):
        events.expect(JobCompleted, timeout=0.1)

    # Then the timeout counted from the call, not from when the stream got to it
    assert time.monotonic() - started < 2
    gate.set()
    assert events.flush(5)


def test_the_events_thread_stops_when_the_last_bus_closes(make_queue: Callable[..., Queue]) -> None:
    def events_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "queue-max events"]

    queue = make_queue()
    first, second = QueueEventBus(queue), QueueEventBus(queue)
    assert len(events_threads()) == 1  # one loop for every bus of the process
    first.close()
    assert len(events_threads()) == 1
    second.close()
    assert events_threads() == []


def test_the_public_names_are_sorted_and_complete() -> None:
    assert_public_names_sorted_and_complete("queue_max.contrib.events")


def test_every_python_block_of_the_events_guide_runs(tmp_path: Path) -> None:
    # Given docs/events.md's Python blocks, run in order as one script
    done = run_guide("events.md", tmp_path)
    # Then nothing fails, and the guide's waits saw their events
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"Job \d+ failed: cannot process this one", done.stdout)
    assert re.search(r"job \d+ was cancelled", done.stdout)
    assert "no job_c* event within 0.05s" in done.stdout


def test_the_core_never_imports_contrib_or_its_dependencies() -> None:
    code = ("import sys, queue_max, queue_max.tasks, queue_max.workers, queue_max.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bubus', 'fastapi', 'starlette') "
            "or m.startswith('queue_max.contrib')))")
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
