"""Thread workers: running and acknowledging jobs, failures, callbacks, dispatch, wake-ups, stop."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from queue_max import InvalidPayload, JobStatus, Permanent, Queue
from queue_max.workers import Worker, WorkerState, current_job
from queue_max.workers._signals import ShutdownSignals
from _helpers import wait_until

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def running() -> object:
    """Start workers through this; they are stopped at the end of the test whatever happens."""
    started: list[Worker] = []

    def start(*workers: Worker) -> None:
        for worker in workers:
            started.append(worker)
            worker.start()

    yield start
    for worker in started:
        worker.stop(5)


def test_a_worker_runs_every_job_once_and_keeps_its_result(make_queue, running):
    # Given 300 jobs
    queue = make_queue(shards=3)
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(300)])["ids"]
    seen: list[int] = []
    # When one worker drains them
    worker = Worker("w1", lambda payload: seen.append(payload["n"]) or payload["n"] * 2, queue, poll_interval=0.05)
    running(worker)
    assert queue.wait_until_empty(timeout=20)
    # Then each ran once and its result is stored
    assert sorted(seen) == list(range(300))
    assert [queue.get_job(job_id).result for job_id in ids] == [n * 2 for n in range(300)]
    assert worker.get_stats()["processed"] == 300


def test_stats_have_every_reference_field_with_real_values(make_queue, running):
    queue = make_queue(shards=2)
    release = threading.Event()
    worker = Worker("stats-1", lambda payload: release.wait(10), queue, poll_interval=0.05)
    assert worker.get_stats()["state"] == "created" and not worker.is_running
    queue.enqueue({"n": 1})
    running(worker)
    assert wait_until(lambda: worker.get_current_job() is not None)
    stats = worker.get_stats()
    job = worker.get_current_job()
    assert stats["worker_id"] == "stats-1" and stats["state"] == "running" and stats["is_running"] is True
    assert stats["current_job_id"] == job.id and stats["uptime_seconds"] > 0
    release.set()
    assert wait_until(lambda: worker.get_stats()["processed"] == 1)
    worker.stop()
    stats = worker.get_stats()
    assert (stats["processed"], stats["failed"], stats["retried"]) == (1, 0, 0)
    assert stats["state"] == "stopped" and stats["is_running"] is False and stats["current_job_id"] is None
    assert stats["throughput_jobs_per_hour"] == pytest.approx(3600 / stats["uptime_seconds"])
    assert worker.state is WorkerState.STOPPED
    # and the 0.1.1 fields beside ours
    assert stats["started_at"] is not None and 0 < stats["total_runtime_seconds"] <= stats["uptime_seconds"]
    assert "last_heartbeat_at" in stats


def test_a_running_job_shows_when_its_worker_last_heartbeated(make_queue, running):
    # Given a queue that heartbeats often and a job that runs until released
    queue = make_queue(shards=1, heartbeat_interval=0.05, lease_timeout=5)
    release = threading.Event()
    worker = Worker("beats", lambda payload: release.wait(10), queue, poll_interval=0.05)
    queue.enqueue({"n": 1})
    running(worker)
    # Then while it runs, the worker's stats show a heartbeat in epoch seconds
    try:
        assert wait_until(lambda: worker.get_stats()["last_heartbeat_at"] is not None)
        assert worker.get_stats()["last_heartbeat_at"] >= worker.get_stats()["started_at"]
    finally:
        release.set()


def test_a_failing_job_is_retried_then_dead_lettered_and_callbacks_say_so(make_queue, running):
    # Given a queue that retries once without delay, and a handler that always fails
    queue = make_queue(shards=1, max_retries=1, retry_backoff=0.0, retry_backoff_max=0.0)
    job_id = queue.enqueue({"n": 1})["id"]
    errors: list[tuple[str, int, str, bool]] = []

    def on_error(worker_id: str, failed_id: int, error: BaseException, permanent: bool) -> None:
        errors.append((worker_id, failed_id, type(error).__name__, permanent))

    def handler(payload: dict) -> None:
        raise ValueError("downstream said no")

    worker = Worker("w", handler, queue, poll_interval=0.02, on_job_error=on_error)
    # When it runs
    running(worker)
    # (the callback and the worker's counters follow the dead-lettering write: wait for them too)
    assert wait_until(lambda: queue.get_job(job_id).status is JobStatus.FAILED and len(errors) == 2
                      and worker.get_stats()["failed"] == 1)
    # Then the first failure was retried and the second dead-lettered
    assert errors == [("w", job_id, "ValueError", False), ("w", job_id, "ValueError", True)]
    stats = worker.get_stats()
    assert (stats["failed"], stats["retried"], stats["processed"]) == (1, 1, 0)
    assert queue.dlq_list()[0].error == "downstream said no"


def test_a_permanent_error_goes_to_the_dead_letter_queue_at_once(make_queue, running):
    queue = make_queue(shards=1, max_retries=5)
    job_id = queue.enqueue({"n": 1})["id"]

    def handler(payload: dict) -> None:
        raise Permanent("bad input, retrying cannot help")

    running(Worker("w", handler, queue, poll_interval=0.02))
    assert wait_until(lambda: queue.get_job(job_id).status is JobStatus.FAILED)
    assert queue.get_job(job_id).tentativas == 1


def test_callbacks_see_start_and_completion_and_a_broken_one_stops_nothing(make_queue, running):
    queue = make_queue(shards=2)
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(20)])["ids"]
    starts: list[tuple[str, int, dict]] = []
    completions: list[tuple[str, int, object]] = []

    def broken(*args: object) -> None:
        raise RuntimeError("a buggy metrics hook")

    def on_start(worker_id: str, job_id: int, payload: dict) -> None:
        starts.append((worker_id, job_id, payload))
        broken()

    worker = Worker("cb", lambda payload: payload["n"], queue, poll_interval=0.02, on_job_start=on_start,
                    on_job_complete=lambda *args: completions.append(args))
    running(worker)
    assert queue.wait_until_empty(timeout=10)
    worker.stop()
    assert sorted(job_id for _, job_id, _ in starts) == sorted(ids)
    assert sorted(completions) == sorted(("cb", job_id, n) for n, job_id in enumerate(ids))


def test_a_result_that_is_not_json_fails_only_its_own_job(make_queue, running):
    queue = make_queue(shards=1)
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(10)])["ids"]
    running(Worker("w", lambda payload: {1, 2} if payload["n"] == 3 else payload["n"], queue, poll_interval=0.02))
    assert queue.wait_until_empty(timeout=10)
    statuses = [queue.get_job(job_id).status for job_id in ids]
    assert statuses == [JobStatus.COMPLETED] * 3 + [JobStatus.FAILED] + [JobStatus.COMPLETED] * 6
    assert queue.get_job(ids[3]).error_type.endswith(InvalidPayload.__name__)


def test_without_a_process_function_an_unknown_job_is_dead_lettered_not_crashed(make_queue, running):
    # Given a worker with no process_function and a job no registered task can run
    queue = make_queue(shards=1, max_retries=3)
    bad = queue.enqueue({"task": "nobody.registered.this"})["id"]
    good = queue.enqueue({"n": 1})["id"]
    worker = Worker("w", None, queue, poll_interval=0.02)
    running(worker)
    # Then both fail at once, permanently, and the worker keeps running
    assert wait_until(lambda: queue.get_job(bad).is_failed and queue.get_job(good).is_failed)
    assert queue.get_job(bad).tentativas == 1 and worker.is_running


def test_resolve_handler_is_the_dispatch_point(make_queue, running):
    queue = make_queue(shards=1)
    ids = [queue.enqueue({"kind": kind, "x": 3})["id"] for kind in ("double", "square")]

    class Routing(Worker):
        def resolve_handler(self, job):
            return {"double": lambda p: p["x"] * 2, "square": lambda p: p["x"] ** 2}[job.payload["kind"]]

    running(Routing("router", None, queue, poll_interval=0.02))
    assert queue.wait_until_empty(timeout=10)
    assert [queue.get_job(job_id).result for job_id in ids] == [6, 9]


def test_current_job_tells_a_handler_which_job_it_runs(make_queue, running):
    queue = make_queue(shards=1)
    job_id = queue.enqueue({"n": 1})["id"]
    seen: list[tuple[int, int, object]] = []

    def handler(payload: dict) -> None:
        ctx = current_job()
        seen.append((ctx.job.id, ctx.attempt, ctx.deadline))

    running(Worker("w", handler, queue, poll_interval=0.02))
    assert wait_until(lambda: seen)
    assert seen == [(job_id, 1, None)] and current_job() is None


def enqueue_to_an_idle_worker(make_queue, running) -> bool:
    """Whether a job enqueued in this process starts within 5 s on an idle worker whose own
    polling (30 s) is far too slow to explain a pick-up."""
    queue = make_queue(shards=3)
    started = threading.Event()
    worker = Worker("w", lambda payload: started.set(), queue, poll_interval=30.0)
    running(worker)
    # idle for sure: its runner waits on the hub (else its first claim could take the job)
    assert wait_until(lambda: worker.hub is not None and len(worker.hub._idle) == 1)
    queue.enqueue({"n": 1})
    return started.wait(5.0)


def test_an_enqueue_wakes_an_idle_worker_at_once(make_queue, running):
    # Given an idle worker, when a job is enqueued in this process, it starts well before the next poll
    assert enqueue_to_an_idle_worker(make_queue, running)


def test_an_enqueue_wakes_an_idle_worker_from_the_enqueuing_thread(make_queue, running, monkeypatch):
    # Given an idle worker whose hub has no watcher thread at all (it would be the second thread
    # switch between the enqueue and the job), and whose own polling is far too slow
    from queue_max.workers import _hub

    monkeypatch.setattr(_hub.Hub, "_watch", lambda self: None)
    # When a job is enqueued in this process, the enqueue itself wakes the worker
    assert enqueue_to_an_idle_worker(make_queue, running)


def test_jobs_enqueued_one_at_a_time_go_to_the_worker_that_went_idle_last(make_queue, running, monkeypatch):
    # Given two idle workers on one queue, woken by enqueues alone (no watcher, polling far too slow)
    from queue_max.workers import _hub

    monkeypatch.setattr(_hub.Hub, "_watch", lambda self: None)
    queue = make_queue(shards=3)
    ran: list[str] = []
    workers = [Worker(name, lambda payload, name=name: ran.append(name), queue, poll_interval=30.0)
               for name in ("a", "b")]
    running(*workers)
    hub = workers[0].hub
    # When five jobs are enqueued one at a time, each once both workers are idle again
    for n in range(5):
        assert wait_until(lambda: hub is not None and len(hub._idle) == 2)
        queue.enqueue({"n": n})
        assert wait_until(lambda: len(ran) == n + 1)
    # Then one worker ran them all: the one idle for the shortest time is woken first
    assert len(ran) == 5 and len(set(ran)) == 1


def test_an_enqueue_in_another_process_wakes_an_idle_worker(make_queue, running, tmp_path):
    queue = make_queue(shards=3)
    started = threading.Event()
    running(Worker("w", lambda payload: started.set(), queue, poll_interval=30.0))
    time.sleep(0.2)
    code = (f"import sys; sys.path.insert(0, {SRC!r}); from queue_max import Queue, Settings; "
            f"Queue(data_dir={str(tmp_path / 'data')!r}, rate_limit=0, settings=Settings()).enqueue({{'n': 1}})")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert started.wait(5.0)


_SIGNAL_AT_LAUNCH = """
import signal, sys, time
sys.path.insert(0, {src!r})
from queue_max import Queue, Settings
from queue_max.workers import Worker
queue = Queue(data_dir={data!r}, shards=1, rate_limit=0, settings=Settings())
job = queue.enqueue({{"n": 1}})["id"]
launch = Worker._launch

def launch_then_signal(self):
    launch(self)  # the runner threads are up: a job may start from here on
    signal.raise_signal(signal.SIGTERM)  # a supervisor's SIGTERM, before start() has returned

Worker._launch = launch_then_signal
clean = Worker("w", lambda payload: time.sleep(0.2), queue, poll_interval=0.05).run()
print(queue.get_job(job).status.value, queue.get_job(job).tentativas, clean)
"""


def test_a_signal_that_comes_while_the_worker_starts_stops_it_gracefully(tmp_path):
    # Given a worker process that gets SIGTERM just after its runner threads start, before
    # start() returns (where its handlers used to be installed only after the launch)
    code = _SIGNAL_AT_LAUNCH.format(src=SRC, data=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # Then the signal is its own: a graceful stop, not the default handler's kill (exit -15)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SIGTERM received, finishing running jobs" in done.stderr
    # and the job either ran to the end or was never started: not lost, no attempt charged
    status, attempts, clean = done.stdout.split()
    assert (status, clean) in {("completed", "True"), ("pending", "True")}
    assert attempts == ("1" if status == "completed" else "0")


def test_signals_noted_while_held_are_acted_on_in_order_at_release():
    # Given the two-stage handlers installed held (as a worker does while it starts)
    calls: list[str] = []
    signals = ShutdownSignals("t", lambda: calls.append("graceful"), lambda: calls.append("immediate"))
    assert signals.install(held=True)
    try:
        # When SIGTERM and then SIGINT come while held, nothing acts on them yet
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
        assert calls == []
        # Then the release acts on both, in order, and a later one is acted on as it comes
        signals.release()
        assert calls == ["graceful", "immediate"]
        signal.raise_signal(signal.SIGTERM)
        assert calls == ["graceful", "immediate", "immediate"]
    finally:
        signals.finished()


class _SignalInsideHandler:
    """The `signal` module as `_signals` sees it, except that the handler's first look-up of
    `Signals` (right after it took the signal) raises SIGINT: a second signal whose handler runs
    inside the first one's, as a supervisor's SIGTERM + SIGINT sent back to back can."""

    def __init__(self) -> None:
        self.fired = False

    def __getattr__(self, name: str) -> object:
        if name == "Signals" and not self.fired:
            self.fired = True
            signal.raise_signal(signal.SIGINT)
        return getattr(signal, name)


def test_a_second_signal_inside_the_first_ones_handler_still_stops_gracefully_first(monkeypatch):
    # Given the two-stage handlers, and SIGINT arriving while SIGTERM's handler runs
    from queue_max.workers import _signals

    calls: list[str] = []
    signals = ShutdownSignals("t", lambda: calls.append("graceful"), lambda: calls.append("immediate"))
    assert signals.install()
    inside = _SignalInsideHandler()
    monkeypatch.setattr(_signals, "signal", inside)
    try:
        # When SIGTERM comes
        signal.raise_signal(signal.SIGTERM)
        # Then one of the two began the graceful stop and the other the immediate one (before,
        # both read the count after the second had raised it: two immediates, no stop at all)
        assert inside.fired
        assert sorted(calls) == ["graceful", "immediate"]
    finally:
        monkeypatch.undo()
        signals.finished()


def test_stop_lets_the_running_job_finish_and_releases_the_prefetched_ones(make_queue):
    # Given a worker holding a batch of four jobs, the first of them running until we say so
    queue = make_queue(shards=1)
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(4)])["ids"]
    go = threading.Event()
    worker = Worker("w", lambda payload: go.wait(10) if payload["n"] == 0 else None, queue, poll_interval=0.02)
    worker.start()
    assert wait_until(lambda: len(worker.held_jobs()) == 4)
    # When it is stopped, and the running job then finishes
    stopper = threading.Thread(target=lambda: result.append(worker.stop(10)))
    result: list[bool] = []
    stopper.start()
    assert wait_until(lambda: worker.state is WorkerState.STOPPING)
    go.set()
    stopper.join(10)
    # Then the running job completed and the others are pending again, no attempt counted
    assert result == [True]
    jobs = [queue.get_job(job_id) for job_id in ids]
    assert jobs[0].status is JobStatus.COMPLETED
    assert [(job.status, job.tentativas) for job in jobs[1:]] == [(JobStatus.PENDING, 0)] * 3
    assert worker.get_stats()["released"] == 3


def test_a_job_still_running_after_the_grace_period_is_released_and_its_late_result_refused(make_queue):
    queue = make_queue(shards=1)
    job_id = queue.enqueue({"n": 1})["id"]
    go = threading.Event()
    worker = Worker("w", lambda payload: go.wait(10) and "late", queue, poll_interval=0.02)
    worker.start()
    assert wait_until(lambda: worker.get_current_job() is not None)
    # When the grace period runs out before the job ends
    assert worker.stop(timeout=0.2) is False
    # Then the job is claimable again, its attempt not counted
    job = queue.get_job(job_id)
    assert (job.status, job.tentativas) == (JobStatus.PENDING, 0)
    # And the abandoned handler's eventual result is not recorded
    go.set()
    time.sleep(0.2)
    assert queue.get_job(job_id).status is JobStatus.PENDING


def test_a_worker_can_be_stopped_from_its_own_handler(make_queue):
    queue = make_queue(shards=1)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(3)])
    holder: list[Worker] = []
    worker = Worker("w", lambda payload: holder[0].stop(), queue, poll_interval=0.02)
    holder.append(worker)
    worker.start()
    assert worker.wait(10)
    assert worker.state is WorkerState.STOPPED and worker.get_stats()["processed"] == 1


def test_burst_mode_stops_when_nothing_is_ready(make_queue):
    queue = make_queue(shards=2)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(50)])
    worker = Worker("w", lambda payload: None, queue, poll_interval=0.02, burst=True, concurrency=2)
    worker.start()
    assert worker.wait(10)
    assert worker.get_stats()["processed"] == 50 and queue.get_stats()["completed"] == 50


def test_max_jobs_stops_the_worker_after_that_many_jobs(make_queue):
    queue = make_queue(shards=2)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(50)])
    worker = Worker("w", lambda payload: None, queue, poll_interval=0.02, max_jobs=7)
    worker.start()
    assert worker.wait(10)
    assert worker.get_stats()["processed"] == 7
    assert queue.get_stats()["pending"] == 43


def test_a_stopped_worker_can_start_again(make_queue):
    queue = make_queue(shards=1)
    worker = Worker("w", lambda payload: None, queue, poll_interval=0.02)
    worker.start()
    worker.stop()
    queue.enqueue({"n": 1})
    worker.start()
    assert queue.wait_until_empty(timeout=10)
    worker.stop()
    assert worker.get_stats()["processed"] == 1


def test_the_worker_stops_claiming_when_its_queue_is_closed(tmp_path, settings):
    queue = Queue(data_dir=tmp_path / "data", shards=1, rate_limit=0, settings=settings)
    worker = Worker("w", lambda payload: None, queue, poll_interval=0.02)
    worker.start()
    queue.close()
    assert worker.wait(20)


def test_closing_the_queue_under_a_busy_worker_logs_a_line_a_batch_not_a_traceback_a_job(tmp_path, settings, caplog):
    # Given a worker with four threads, each holding a batch of claimed jobs not yet started
    queue = Queue(data_dir=tmp_path / "data", shards=2, rate_limit=0, settings=settings)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(40000)])
    started = threading.Event()

    def slow(payload: object) -> None:  # short enough for full batches of `prefetch`
        started.set()
        time.sleep(0.0002)

    worker = Worker("w", slow, queue, poll_interval=0.02, concurrency=4, prefetch=64, handle_signals=False)
    worker.start()
    assert started.wait(10)
    assert wait_until(lambda: queue.get_stats()["processing"] >= 128, 10)  # batches claimed
    # When the queue is closed under it
    assert not queue.closed
    with caplog.at_level(logging.WARNING, logger="queue_max.workers"):
        queue.close()
        assert worker.wait(20)
    assert queue.closed
    # Then it stops, saying once a thread how many claimed jobs it could not give back (they come
    # back when their leases expire), with no traceback for a closed queue
    records = [r for r in caplog.records if r.name == "queue_max.workers"]
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records if r.exc_info]
    unreleased = [r.getMessage() for r in records if "claimed jobs not started" in r.getMessage()]
    assert 1 <= len(unreleased) <= 4, unreleased
    assert len(records) <= 4 * 3 + 1, [r.getMessage() for r in records]
    # And every job is still there: the unstarted ones come back when their leases expire
    with Queue(data_dir=tmp_path / "data", rate_limit=0, settings=settings) as again:
        stats = again.get_stats()
    assert stats["pending"] + stats["processing"] + stats["completed"] == 40000


def test_workers_respect_the_rate_limiter_without_busy_polling(make_queue, running):
    # Given a limit of 120 jobs a minute and a burst of 5 tokens
    queue = make_queue(shards=1, rate_limit=120, rate_limit_burst=5)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(8)])
    running(Worker("w", lambda payload: None, queue, poll_interval=0.02))
    # Then the first 5 run at once and the rest follow at 2 a second
    assert wait_until(lambda: queue.get_stats()["completed"] >= 5, 5)
    assert queue.get_stats()["completed"] <= 6
    assert wait_until(lambda: queue.get_stats()["completed"] == 8, 10)


def test_one_options_value_builds_workers_and_keywords_override_it(queue):
    from queue_max import WorkerOptions

    # Given a shared options value
    options = WorkerOptions(concurrency=3, prefetch=4, burst=True)
    # When workers are built from it, one with a keyword on top
    plain = Worker("a", print, queue, options=options)
    tuned = Worker("b", print, queue, options=options, prefetch=8)
    # Then both carry its values, the keyword wins where given, and a clone keeps them all
    assert (plain.concurrency, plain.prefetch, plain.burst) == (3, 4, True)
    assert tuned.options == options.replace(prefetch=8)
    assert tuned.clone("c").options == tuned.options


def test_task_jobs_run_their_task_and_other_jobs_the_fallback_inside_the_wrapper(make_queue, running):
    from queue_max.tasks import task

    # Given a task, a task job and a plain job, and a worker with a fallback and a wrapper
    queue = make_queue(shards=1)

    @task(queue=queue, name="test.triple")
    def triple(x: int) -> int:
        return 3 * x

    handle = triple.delay(5)
    plain = queue.enqueue({"plain": 1})["id"]
    wrapped: list[object] = []

    def wrapper(fn):
        def run(payload):
            wrapped.append(payload)
            return fn(payload)
        return run

    worker = Worker("w", None, queue, poll_interval=0.02, fallback=lambda p: {"fallback": p}, wrapper=wrapper)
    running(worker)
    # When it drains the queue
    assert queue.wait_until_empty(timeout=10)
    # Then the task job ran the task, the plain job the fallback, both through the wrapper
    assert handle.get(timeout=5) == 15
    assert queue.get_job(plain).result == {"fallback": {"plain": 1}}
    assert len(wrapped) == 2


def test_a_job_handler_value_carries_its_own_timeout_and_retry_rules_to_the_worker(make_queue, running):
    from queue_max import JobHandler, RetryPolicy

    # Given a router whose handler only retries TimeoutError, with its own short backoff
    queue = make_queue(shards=1, max_retries=3)
    ids = [queue.enqueue({"error": name})["id"] for name in ("timeout", "value")]

    def fail(payload):
        raise TimeoutError("slow") if payload["error"] == "timeout" else ValueError("bad")

    class Router(Worker):
        def resolve_handler(self, job):
            return JobHandler(fail, timeout=30, policy=RetryPolicy(backoff_base=0.001, jitter=0),
                              retry_on=(TimeoutError,))

    running(Router("router", None, queue, poll_interval=0.02))
    # Then the TimeoutError job retried until its attempts ran out, the ValueError one did not retry
    assert wait_until(lambda: all(queue.get_job(i).status is JobStatus.FAILED for i in ids))
    assert [queue.get_job(i).attempts for i in ids] == [4, 1]


@pytest.mark.parametrize("kind", ["threads", "asyncio"])
def test_max_jobs_starts_exactly_that_many_handlers_and_gives_the_rest_back(make_queue, kind):
    from queue_max.workers import AsyncWorker

    # Given 40 jobs and a worker of 4 threads (or tasks) limited to 5 jobs
    queue = make_queue(shards=2)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(40)])
    ran: list[int] = []
    if kind == "threads":
        worker = Worker("capped", lambda p: ran.append(p["n"]), queue, concurrency=4, max_jobs=5, poll_interval=0.02)
    else:
        async def handle(payload):
            ran.append(payload["n"])

        worker = AsyncWorker("capped", handle, queue, concurrency=4, max_jobs=5, poll_interval=0.02)
    # When it runs until it stops by itself
    worker.start()
    assert worker.wait(20)
    # Then exactly 5 handlers ran; prefetched jobs did not count and were given back untouched
    stats = queue.get_stats()
    assert len(ran) == 5 and worker.get_stats()["processed"] == 5
    assert stats["completed"] == 5 and stats["pending"] == 35 and stats["processing"] == 0
    assert all(job.attempts == 0 for job in queue.list_jobs("pending", 100))


def test_an_idle_worker_wakes_when_a_scheduled_job_falls_due_not_at_its_next_poll(make_queue, running):
    # Given a worker that polls only every 60 s, and a job scheduled a moment ahead
    queue = make_queue(shards=2)
    ran = threading.Event()
    running(Worker("sleeper", lambda payload: ran.set(), queue, poll_interval=60.0))
    assert wait_until(lambda: queue.get_stats()["pending"] == 0)  # the worker is up and idle
    queue.enqueue({"n": 1}, delay=0.3)
    # Then it runs when it falls due, long before the next poll (or the 10 s fallback) finds it
    assert ran.wait(5)
    assert queue.next_due() is None


def test_a_wake_up_that_finds_nothing_keeps_the_next_due_time(make_queue, running):
    # Given an idle worker that polls only every 60 s, and a job scheduled 1 s ahead by another
    # process (its own Queue object: no in-process wake-up), seen by the worker's watcher
    queue = make_queue(shards=2)
    ran = threading.Event()
    worker = Worker("sleeper", lambda payload: ran.set(), queue, poll_interval=60.0)
    running(worker)
    assert wait_until(lambda: worker._hub is not None and worker._hub._idle, timeout=5)  # idle
    make_queue(shards=2).enqueue({"n": 1}, delay=1.0)
    time.sleep(0.3)  # the watcher's next look (every 0.5-10 ms) reads the due time: no hook tells when
    # When the worker is woken with nothing ready (its watcher sleeps while no worker is idle,
    # and no commit follows that would make it read the due time again)
    worker._hub.kick()
    # Then the job still runs when it falls due, not at the next 60 s poll
    assert ran.wait(5)


class _Overlap:
    """Wraps a queue's claim and ack calls and records how many ran at once. Each holds on a
    moment inside (5 ms), so an overlap that can happen does; with `meet`, a call made while
    no other is inside also waits (up to 10 s) for a second one to come in, once: a barrier for
    the case where overlaps must happen."""

    def __init__(self, queue: Queue, meet: bool = False) -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()
        self._met = threading.Event()
        if not meet:
            self._met.set()
        for name in ("claim_jobs", "complete_jobs"):
            setattr(queue, name, self._wrap(getattr(queue, name)))

    def _wrap(self, call):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            with self._lock:
                self.now += 1
                self.most = max(self.most, self.now)
                if self.now > 1:
                    self._met.set()
            try:
                if not self._met.wait(10.0):
                    self._met.set()  # nobody came: let the drain go on (the test then fails)
                time.sleep(0.005)
                return call(*args, **kwargs)
            finally:
                with self._lock:
                    self.now -= 1
        return wrapped


@pytest.mark.parametrize("durable", [False, True])
def test_a_process_lets_one_claim_or_ack_into_its_shards_at_a_time_unless_durable(make_queue, running, durable):
    # Given a queue of six shards, 400 jobs, and four workers in this process
    queue = make_queue(shards=6, durable=durable)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(400)])
    overlap = _Overlap(queue, meet=durable)
    done: list[int] = []
    workers = [Worker(f"w{k}", lambda p: done.append(p["n"]), queue, poll_interval=0.05, prefetch=8)
               for k in range(4)]
    # When they drain the queue
    running(*workers)
    assert wait_until(lambda: len(done) == 400 and queue.counts()["pending"] == 0, timeout=30)
    # Then every job ran once; without durable=True (no commit waits for the disk) no two claims
    # or acks were in storage at once; with it, the workers' commits on different shards overlap
    assert sorted(done) == list(range(400))
    assert queue.backend.concurrent_writes == (6 if durable else 1)
    if durable:
        assert overlap.most > 1
    else:
        assert overlap.most == 1


def test_next_due_is_the_earliest_scheduled_job(queue, clock):
    assert queue.next_due() is None
    queue.enqueue({"n": 1}, delay=30)
    queue.enqueue({"n": 2}, delay=10)
    queue.enqueue({"n": 3})
    assert queue.next_due() == pytest.approx(clock.time() + 10)
