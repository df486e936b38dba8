"""Host-wide flow control across real `queue-max worker --processes N` runs: rate limits,
restarted children, circuit breakers and their one trial, per-key limits, paused queues and
periodic ticks. Every assertion is on counts, from the jobs' own times; never on speed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_fixtures.helpers import module_env
from procs.flow_jobs import read_log

from queue_max import Queue, Settings
from queue_max.tasks import make_envelope

pytestmark = pytest.mark.slow
HANDLER = "procs.flow_jobs:record"


def start_worker(data: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    log.mkdir(exist_ok=True)
    environment = {**module_env(), "FLOW_LOG": str(log), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "queue_max", "--data-dir", str(data), "worker", *args],
                            env=environment, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    return err


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def queue_at(data: Path, **kwargs: object) -> Queue:
    return Queue(data_dir=data, shards=kwargs.pop("shards", 3), rate_limit=0, settings=Settings(), **kwargs)  # type: ignore[arg-type]


def starts_within_limit(starts: list[float], since: float, burst: int, per_minute: int) -> bool:
    """Every prefix of the start times keeps to burst + rate x (time since the bucket existed)."""
    return all(n <= burst + per_minute / 60.0 * (t - since) + 1e-6
               for n, t in enumerate(sorted(starts), start=1))


def run_rate_limited(tmp_path: Path, jobs: int, started: int, settle: float, *args: str) -> tuple[list[dict], float, str]:
    """Run `queue-max worker --function HANDLER *args` over `jobs` quick jobs until `started` of them
    began, plus `settle` seconds of asking for more tokens than the bucket holds; returns the jobs'
    own records, when the bucket came to exist, and the worker's stderr."""
    data, log = tmp_path / "data", tmp_path / "log"
    with queue_at(data) as queue:
        queue.enqueue_batch([{"payload": {"n": n}} for n in range(jobs)])
    since = time.time()
    proc = start_worker(data, log, "--function", HANDLER, *args, "--no-scheduler")
    wait_for(lambda: len(read_log(log)) >= started if log.exists() else False)
    time.sleep(settle)
    err = stop(proc)
    return read_log(log), since, err


def test_three_processes_of_two_threads_share_one_rate_limit(tmp_path):
    # Given 200 quick jobs and a worker of 3 processes x 2 threads limited to 60 a minute, burst 5
    # When they run for a while (at least the burst plus two more tokens)
    records, since, err = run_rate_limited(tmp_path, 200, 7, 1.0, "--processes", "3", "--threads", "2",
                                           "--rate-limit", "60", "--rate-limit-burst", "5")
    # Then, counted from the jobs' own start times, no more than burst + rate x elapsed started
    starts = [r["start"] for r in records]
    assert starts_within_limit(starts, since, 5, 60), (sorted(s - since for s in starts), err)
    assert "default: rate 60/min (burst 5)" in err


def test_a_restarted_child_gets_no_new_tokens(tmp_path):
    # Given children replaced after every 2 jobs, under 6 jobs a minute with a burst of 4
    # When the first children have used the burst and been replaced
    records, since, _err = run_rate_limited(tmp_path, 100, 4, 2.0, "--processes", "2", "--max-jobs-per-child", "2",
                                            "--rate-limit", "6", "--rate-limit-burst", "4")
    # Then their replacements started nothing beyond the bucket's refill
    assert starts_within_limit([r["start"] for r in records], since, 4, 6)
    assert len({r["pid"] for r in records}) >= 2


def test_a_breaker_opened_by_one_process_stops_claims_in_all(tmp_path):
    # Given a failing downstream service behind the "api" queue, and healthy "local" jobs, each
    # of which waits until local jobs run in 2 processes (so more than one process takes part,
    # however unevenly a loaded machine starts them)
    data, log = tmp_path / "data", tmp_path / "log"
    with queue_at(data) as queue:
        queue.enqueue_batch([{"payload": {"fail": True, "sleep": 0.05}, "queue_name": "api", "max_retries": 0}
                             for _ in range(300)])
        queue.enqueue_batch([{"payload": {"ok": n, "meet": 2}, "queue_name": "local"} for n in range(20)])
    env = {"CIRCUIT_FAILURE_THRESHOLD": "3", "CIRCUIT_TIMEOUT": "3600"}
    # When 3 processes work on both queues until the healthy jobs are done
    proc = start_worker(data, log, "--function", HANDLER, "--processes", "3", "--queues", "api,local", "--no-scheduler", env=env)
    with queue_at(data) as queue:
        # the breaker's opened_at is stamped before the write that opens it commits, and a
        # process that read it closed just before may still claim in between: the bound is
        # the moment the open breaker could be read (every claim's time is taken before its
        # process reads the breaker)
        seen_open = wait_for_open(queue, "queue:api")
        wait_for(lambda: queue.queue_stats().get("local", {}).get("completed", 0) == 20)
        wait_for(lambda: queue.get_stats()["processing"] == 0)
        err = stop(proc)
        opened_at = queue.backend.flow_state(time.time()).breakers["queue:api"].opened_at
        api = queue.list_jobs(limit=1000, queue_name="api")
    # Then no process claimed an "api" job once the breaker was open, and most never ran
    assert opened_at is not None and opened_at <= seen_open
    claimed = [job.started_ts for job in api if job.started_ts is not None]
    assert all(at < seen_open for at in claimed), (sorted(at - seen_open for at in claimed), err)
    assert sum(job.is_pending for job in api) > 200
    assert len({r["pid"] for r in read_log(log)}) >= 2


def wait_for_open(queue: Queue, scope: str, timeout: float = 60.0) -> float:
    """The time just after a read first found the breaker `scope` open: it was open by then."""
    deadline = time.monotonic() + timeout
    while True:
        view = queue.backend.flow_state(time.time()).breakers.get(scope)
        seen = time.time()
        if view is not None and view.state == "open":
            return seen
        assert time.monotonic() < deadline, f"{scope} did not open"
        time.sleep(0.01)


def test_exactly_one_half_open_trial_runs_at_a_time_host_wide(tmp_path):
    # Given jobs that always fail, behind a breaker already open (threshold 2, recovery 1 s)
    data, log = tmp_path / "data", tmp_path / "log"
    with queue_at(data, circuit_breaker_threshold=2, circuit_breaker_timeout=1) as queue:
        queue.enqueue_batch([{"payload": {"fail": True}, "max_retries": 0} for _ in range(100)])
        queue.circuit_breaker.record_failure()
        queue.circuit_breaker.record_failure()
        assert queue.get_stats()["circuit_state"] == "open"
    env = {"CIRCUIT_FAILURE_THRESHOLD": "2", "CIRCUIT_TIMEOUT": "1"}
    # When 3 processes of 2 threads poll it through several recovery periods
    # (no scheduler: this module's periodic task would run successful jobs in the same queue)
    proc = start_worker(data, log, "--function", HANDLER, "--processes", "3", "--threads", "2",
                        "--poll-interval", "0.05", "--no-scheduler", env=env)
    wait_for(lambda: log.exists() and len(read_log(log)) >= 3)
    stop(proc)
    # Then every run was a lone trial: each one failed and reopened the breaker
    assert_lone_trials(data, log, 1.0)


def assert_lone_trials(data: Path, log: Path, recovery: float) -> None:
    """No two claims (read from storage) and no two runs are closer than the recovery timeout."""
    with queue_at(data) as queue:
        claims = sorted(job.started_ts for job in queue.list_jobs(limit=1000) if job.started_ts is not None)
    starts = sorted(r["start"] for r in read_log(log))
    for times in (claims, starts):
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert len(gaps) >= 2 and all(gap >= recovery - 0.05 for gap in gaps), gaps


def test_a_per_key_limit_of_one_never_overlaps_two_jobs_of_one_key(tmp_path):
    # Given 30 jobs over 3 customers, each customer's jobs limited to one at a time
    data, log = tmp_path / "data", tmp_path / "log"
    with queue_at(data) as queue:
        queue.enqueue_batch([{"payload": make_envelope("flow.bill", (f"c{n % 3}", n), {}),
                              "concurrency_key": f"c{n % 3}"} for n in range(30)])
    # When 3 processes of 3 threads run them
    proc = start_worker(data, log, "--tasks", "procs.flow_jobs", "--processes", "3", "--threads", "3",
                        "--no-scheduler")
    with queue_at(data) as queue:
        wait_for(lambda: queue.get_stats()["completed"] == 30)
    stop(proc)
    # Then, from the handlers' own start and end times, no two runs of one customer overlapped
    records = read_log(log)
    assert len(records) == 30
    for customer in ("c0", "c1", "c2"):
        runs = sorted((r["start"], r["end"]) for r in records if r["payload"]["customer"] == customer)
        assert all(end <= next_start for (_s, end), (next_start, _e) in zip(runs, runs[1:]))


def test_a_paused_queue_is_claimed_by_no_process(tmp_path):
    data, log = tmp_path / "data", tmp_path / "log"
    with queue_at(data) as queue:
        queue.enqueue_batch([{"payload": {"n": n}, "queue_name": "emails"} for n in range(20)])
        queue.enqueue_batch([{"payload": {"n": n}} for n in range(20)])
        queue.pause("emails")
    proc = start_worker(data, log, "--function", HANDLER, "--processes", "2", "--burst", "--no-scheduler")
    _out, err = proc.communicate(timeout=120)  # reads the pipes while waiting, and closes them
    assert proc.returncode == 0, err
    with queue_at(data) as queue:
        per = queue.queue_stats()
    assert per["default"]["completed"] == 20
    assert per["emails"]["pending"] == 20 and per["emails"]["paused"] is True
    assert all("emails" not in str(r["payload"]) for r in read_log(log))


def test_periodic_ticks_under_two_worker_processes_fire_once_each(tmp_path):
    data, log = tmp_path / "data", tmp_path / "log"
    queue_at(data).close()
    proc = start_worker(data, log, "--tasks", "procs.flow_jobs", "--processes", "2", "--threads", "2")
    wait_for(lambda: log.exists() and sum("tick" in r["payload"] for r in read_log(log)) >= 4)
    err = stop(proc)
    with queue_at(data) as queue:
        ticks = [job.payload["tick"] for job in queue.list_jobs(limit=1000) if "tick" in job.payload]
    assert len(ticks) >= 4 and len(ticks) == len(set(ticks)), err
    assert "scheduler: 1 periodic task (flow.tick)" in err
