"""Periodic tasks: each tick enqueued once across schedulers, missed ticks coalesced, run by workers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from task_modules.fixtures import drain, isolated_tasks, tq  # noqa: F401

from queue_max import ConfigError, Queue, Settings
from queue_max.tasks import PeriodicTask, Scheduler, periodic_task, task

PROCS = (Path(__file__).resolve().parent.parent / "procs")


def ticks(queue: Queue, name: str) -> list[float]:
    return sorted(job.payload["tick"] for job in queue.list_jobs(limit=10_000)
                  if job.payload.get("__task__") == name)


def test_the_first_tick_comes_one_interval_after_the_first_scheduler_starts(tq, clock):
    @periodic_task(interval=60)
    def beat() -> str:
        return "beat"

    scheduler = Scheduler([beat])
    start = clock.time()
    assert scheduler.run_pending() == []
    clock.advance(59.9)
    assert scheduler.run_pending() == []
    clock.advance(0.1)
    assert len(scheduler.run_pending()) == 1
    assert ticks(tq, beat.name) == [start + 60]
    assert scheduler.seconds_until_due() == 60


def test_each_tick_is_enqueued_once_however_often_the_scheduler_looks(tq, clock):
    @periodic_task(interval=10)
    def beat() -> None: ...

    scheduler = Scheduler([beat])
    start = clock.time()
    for _ in range(50):
        scheduler.run_pending()
        clock.advance(2)
    # 100 seconds: ticks at +10 ... +100
    scheduler.run_pending()
    assert ticks(tq, beat.name) == [start + 10 * k for k in range(1, 11)]


def test_two_schedulers_on_one_directory_fire_each_tick_once(tq, make_queue, clock):
    # Given two schedulers, each with its own Queue on the same directory
    @periodic_task(interval=5)
    def beat() -> None: ...

    other = make_queue(shards=2, clock=clock)
    first, second = Scheduler([beat], tq), Scheduler([beat], other)
    start = clock.time()
    assert first.run_pending() == second.run_pending() == []
    fired = [0, 0]
    # When both look at every instant, in alternating order
    for step in range(40):
        clock.advance(1)
        pair = (first, second) if step % 2 else (second, first)
        for scheduler in pair:
            fired[scheduler is second] += len(scheduler.run_pending())
    # Then the 8 ticks were enqueued once each, by whichever scheduler came first
    assert ticks(tq, beat.name) == [start + 5 * k for k in range(1, 9)]
    assert sum(fired) == 8 and min(fired) > 0


def test_missed_ticks_are_coalesced_into_one_run(tq, clock):
    @periodic_task(interval=60)
    def beat() -> None: ...

    Scheduler([beat]).run_pending()
    start = clock.time()
    # Given no scheduler ran for ten intervals (downtime)
    clock.advance(60 * 10 + 15)
    # When one comes back, the task runs once, at once
    scheduler = Scheduler([beat])
    assert len(scheduler.run_pending()) == 1 and scheduler.run_pending() == []
    # And the schedule continues on its grid from the next tick after now
    assert scheduler.seconds_until_due() == 45
    clock.advance(45)
    assert len(scheduler.run_pending()) == 1
    assert ticks(tq, beat.name) == [start + 60, start + 660]


def test_a_cron_schedule_fires_on_matching_minutes(tq, clock):
    @periodic_task(cron="*/5 * * * *")
    def report() -> None: ...

    # Given a start at 22:13:20 UTC: the first tick is 22:15
    scheduler = Scheduler([report])
    scheduler.run_pending()
    assert scheduler.seconds_until_due() == 100
    # When an hour passes unseen, the missed ticks run once (labelled with the first, 22:15)
    clock.advance(3600)
    assert len(scheduler.run_pending()) == 1
    # Then the next tick is the next matching minute after now, 23:15
    assert scheduler.seconds_until_due() == 100
    clock.advance(100)
    scheduler.run_pending()
    first = 1_700_000_100.0
    assert ticks(tq, report.name) == [first, first + 3600]


def test_the_schedule_survives_a_restart(tq, clock):
    @periodic_task(interval=100)
    def beat() -> None: ...

    start = clock.time()
    Scheduler([beat]).run_pending()
    clock.advance(50)
    # a new scheduler (a restarted process) keeps the stored tick instead of starting over
    later = Scheduler([beat])
    later.run_pending()
    assert later.seconds_until_due() == 50
    clock.advance(50)
    assert len(later.run_pending()) == 1 and ticks(tq, beat.name) == [start + 100]


def test_the_tick_job_runs_the_function_on_a_worker(tq, clock):
    runs: list[str] = []

    @periodic_task(interval=1, priority=2, max_retries=0)
    def beat() -> str:
        runs.append("ran")
        return "done"

    scheduler = Scheduler([beat])
    scheduler.run_pending()
    clock.advance(1)
    [handle] = scheduler.run_pending()
    job = handle.job()
    assert (job.priority_int, job.max_attempts) == (2, 1)
    drain(tq)
    assert handle.get(timeout=1) == "done" and runs == ["ran"]


def test_a_periodic_task_is_still_a_task(tq):
    @periodic_task(interval=60)
    def beat() -> int:
        return 7

    assert isinstance(beat, PeriodicTask) and beat() == 7
    handle = beat.delay()
    drain(tq)
    assert handle.get(timeout=1) == 7


def test_for_registered_schedules_every_periodic_task_and_nothing_else(tq):
    @periodic_task(interval=60)
    def one() -> None: ...

    @periodic_task(cron="@hourly")
    def two() -> None: ...

    @task
    def plain() -> None: ...

    names = {t.name for t in Scheduler.for_registered().tasks}
    assert {one.name, two.name} <= names and plain.name not in names
    with pytest.raises(ConfigError, match="Scheduler takes periodic tasks"):
        Scheduler([plain])  # type: ignore[list-item]


def test_start_scheduler_fires_from_a_daemon_thread_until_stopped(make_queue):
    queue = make_queue(shards=1)  # the real clock

    @periodic_task(interval=0.02, queue=queue)
    def beat() -> None: ...

    scheduler = beat.start_scheduler()
    assert beat.start_scheduler() is scheduler and scheduler.is_running
    deadline = time.monotonic() + 10
    while len(ticks(queue, beat.name)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    beat.stop_scheduler()
    assert not scheduler.is_running
    fired = ticks(queue, beat.name)
    assert len(fired) >= 3 and len(set(fired)) == len(fired)
    beat.stop_scheduler()  # stopping twice is harmless


@pytest.mark.slow
def test_two_scheduler_processes_fire_each_tick_once(tmp_path):
    # Given two processes running the scheduler of a 0.5s periodic task on one directory
    data = tmp_path / "data"
    Queue(data_dir=data, shards=2, rate_limit=0, settings=Settings()).close()
    readies = [tmp_path / f"ready{n}" for n in range(2)]
    procs = [subprocess.Popen([sys.executable, str(PROCS / "tasks_scheduler.py"), str(data),
                               "task_modules.ticker", "3.2", str(ready)]) for ready in readies]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in readies) and time.monotonic() < deadline:
        time.sleep(0.01)
    for ready in readies:
        Path(f"{ready}.go").touch()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    # Then every tick was enqueued once: distinct ticks on one 0.5s grid, several of them
    with Queue(data_dir=data, rate_limit=0, settings=Settings()) as queue:
        from task_modules.ticker import heartbeat

        fired = ticks(queue, heartbeat.name)
        assert len(fired) >= 4 and len(set(fired)) == len(fired)
        assert all(abs((t - fired[0]) / 0.5 - round((t - fired[0]) / 0.5)) < 1e-6 for t in fired)
        # And the tick jobs run the function on a worker
        drain(queue)
        assert {job.status.value for job in queue.list_jobs(limit=1000)} == {"completed"}
