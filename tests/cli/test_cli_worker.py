"""`queue-max worker`: handlers and tasks, threads and processes, burst, max-jobs, signals, exit codes."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_fixtures.helpers import cli, data_dir, make_cli_queue, module_env, run_module  # noqa: F401 - fixtures

from queue_max import Queue, Settings
from queue_max.tasks import make_envelope

HANDLERS = "cli_fixtures.handlers"


def _task(name: str, *args: object) -> dict:
    return make_envelope(name, args, {})


# ── running jobs in this process ──
def test_burst_worker_runs_every_job_with_the_function_and_exits_0(cli, make_cli_queue):
    # Given three jobs
    queue = make_cli_queue()
    refs = [queue.enqueue({"n": n}) for n in range(3)]
    # When a burst worker with 4 threads (the reference's --workers) runs them
    result = cli("worker", "--function", f"{HANDLERS}:echo", "--workers", "4", "--burst", "--rate-limit", "0",
                 "--json")
    # Then it exits 0 once the queue is empty, every job completed with the handler's result
    assert result.code == 0, result.err
    summary = result.json()
    assert summary["processed"] == 3 and summary["concurrency"] == 4 and summary["exit_code"] == 0
    for n, ref in enumerate(refs):
        job = queue.get_job(ref["id"])
        assert job.is_completed and job.result["got"] == {"n": n}
    assert "queue-max worker " in result.err and "4 threads" in result.err


def test_burst_worker_runs_registered_tasks_by_name(cli, make_cli_queue):
    queue = make_cli_queue()
    ref = queue.enqueue(_task("cli.add", 2, 3))
    result = cli("worker", "--tasks", "cli_fixtures.tasks", "--burst", "--rate-limit", "0")
    assert result.code == 0, result.err
    assert queue.get_job(ref["id"]).result == 5
    assert "tasks cli.add, cli.whoami" in result.err and result.out.startswith("worker ")


def test_a_worker_with_function_and_tasks_routes_each_payload(cli, make_cli_queue):
    queue = make_cli_queue()
    task_job = queue.enqueue(_task("cli.add", 1, 1))
    plain_job = queue.enqueue({"plain": True})
    result = cli("worker", "--function", f"{HANDLERS}:echo", "--tasks", "cli_fixtures.tasks", "--burst",
                 "--rate-limit", "0")
    assert result.code == 0, result.err
    assert queue.get_job(task_job["id"]).result == 2
    assert queue.get_job(plain_job["id"]).result["got"] == {"plain": True}


@pytest.mark.parametrize("processes", ["1", "2"])
def test_the_same_jobs_route_the_same_way_with_one_or_several_processes(cli, make_cli_queue, processes,
                                                                       monkeypatch):
    # Given a task job and a plain job, and worker processes that can import the test modules
    monkeypatch.setenv("PYTHONPATH", module_env()["PYTHONPATH"])
    queue = make_cli_queue()
    task_job = queue.enqueue(_task("cli.add", 20, 22))
    plain_job = queue.enqueue({"plain": True})
    # When a burst worker with both --function and --tasks runs them in 1 or in 2 processes
    result = cli("worker", "--function", f"{HANDLERS}:echo", "--tasks", "cli_fixtures.tasks", "--burst",
                 "--rate-limit", "0", "--processes", processes)
    # Then the task job ran its task and only the plain job ran the function, either way
    assert result.code == 0, result.err
    assert queue.get_job(task_job["id"]).result == 42
    assert queue.get_job(plain_job["id"]).result["got"] == {"plain": True}


def test_an_unknown_task_is_dead_lettered_not_crashed_on(cli, make_cli_queue):
    queue = make_cli_queue()
    ref = queue.enqueue(_task("cli.nope"))
    result = cli("worker", "--tasks", "cli_fixtures.tasks", "--burst", "--rate-limit", "0")
    assert result.code == 0
    job = queue.get_job(ref["id"])
    assert job.is_failed and "cli.nope" in job.last_error


def test_max_jobs_stops_the_worker_after_that_many(cli, make_cli_queue):
    queue = make_cli_queue()
    for n in range(5):
        queue.enqueue({"n": n})
    result = cli("worker", "--function", f"{HANDLERS}:echo", "--max-jobs", "2", "--rate-limit", "0", "--json")
    assert result.code == 0, result.err
    assert result.json()["processed"] == 2
    assert queue.get_stats()["completed"] == 2 and queue.get_stats()["pending"] == 3


def test_failures_are_retried_or_dead_lettered_by_the_worker(cli, make_cli_queue):
    queue = make_cli_queue()
    ref = queue.enqueue({"n": 1}, max_retries=0)
    result = cli("worker", "--function", f"{HANDLERS}:boom", "--burst", "--rate-limit", "0", "--json")
    assert result.code == 0 and result.json()["failed"] == 1
    assert queue.get_job(ref["id"]).error_type == "ValueError"


def test_a_worker_creates_a_queue_where_there_was_none(cli, data_dir):
    result = cli("--shards", "3", "worker", "--function", f"{HANDLERS}:echo", "--burst")
    assert result.code == 0 and len(list(data_dir.glob("shard_*.db"))) == 3
    assert not list((data_dir / "workers").glob("*.json"))  # its status file went with it


# ── bad invocations: one line, exit 2, no traceback ──
@pytest.mark.parametrize("args, message", [
    (["--function", "nocolon"], "--function must look like 'package.module:function', got 'nocolon'"),
    (["--function", "no_such_module_xyz:f"], "no module named 'no_such_module_xyz'"),
    (["--function", f"{HANDLERS}:missing"], "module 'cli_fixtures.handlers' has no attribute 'missing'"),
    (["--function", f"{HANDLERS}:NOT_CALLABLE"], "'NOT_CALLABLE' is not callable (it is a int)"),
    (["--function", "cli_fixtures.broken:f"], "importing 'cli_fixtures.broken' failed: RuntimeError: this module refuses"),
    (["--tasks", "no_such_tasks_xyz"], "--tasks no_such_tasks_xyz: no module named 'no_such_tasks_xyz'"),
    ([], "worker needs --function MODULE:FUNC, --tasks MODULE, or both"),
    (["--function", f"{HANDLERS}:echo", "--workers", "2", "--threads", "3"], "--workers and --threads"),
    (["--function", f"{HANDLERS}:echo", "--processes", "2", "--max-jobs", "5"], "--max-jobs-per-child"),
    (["--function", f"{HANDLERS}:echo", "--log-level", "LOUD"], "invalid choice: 'LOUD'"),
    (["--function", f"{HANDLERS}:echo", "--shutdown-timeout", "soon"], "expected a duration"),
])
def test_a_bad_worker_invocation_is_one_line_and_exit_2(cli, data_dir, args, message):
    result = cli("worker", "--burst", *args)
    assert result.code == 2, result.err
    assert message in result.err
    assert result.err.count("\n") == 1 and result.err.startswith("queue-max: error: ")
    assert not data_dir.exists()


def test_a_wrong_function_through_the_real_entry_point(data_dir):
    result = run_module("--data-dir", str(data_dir), "worker", "--function", "nowhere_xyz:run", "--burst")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "queue-max: error: --function nowhere_xyz:run: no module named 'nowhere_xyz' " \
                                    "(looked in the current directory and PYTHONPATH)"


def test_task_modules_that_register_nothing_are_refused(data_dir):
    result = run_module("--data-dir", str(data_dir), "worker", "--tasks", "cli_fixtures.no_tasks", "--burst")
    assert result.returncode == 2 and "no task is registered after importing it" in result.stderr


# ── processes ──
def test_burst_worker_drains_registered_tasks_across_two_processes(data_dir):
    # Given 20 task jobs that report the pid of the process that ran them
    made = run_module("--data-dir", str(data_dir), "--shards", "2", "enqueue", "--file",
                      _task_file(data_dir.parent, 20))
    assert made.returncode == 0, made.stderr
    # When a burst worker runs them in 2 processes of 2 threads
    result = run_module("--data-dir", str(data_dir), "worker", "--tasks", "cli_fixtures.tasks", "--processes", "2",
                        "--threads", "2", "--burst", "--rate-limit", "0", "--json")
    # Then it exits 0 with every job completed, in worker processes other than the CLI's
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["exit_code"] == 0 and summary["processes"] == 2 and len(summary["children"]) == 2
    listed = json.loads(run_module("--data-dir", str(data_dir), "list", "--limit", "100", "--json").stdout)
    assert len(listed) == 20 and {job["status"] for job in listed} == {"completed"}
    pids = {job["result"] for job in listed}
    assert pids and all(isinstance(pid, int) for pid in pids)
    assert "2 processes x 2 threads" in result.stderr


def _task_file(folder: Path, n: int) -> str:
    path = folder / "tasks.jsonl"
    path.write_text("".join(json.dumps(_task("cli.whoami")) + "\n" for _ in range(n)))
    return str(path)


# ── signals ──
def _start_slow_worker(data_dir: Path, seconds: float, *extra: str) -> subprocess.Popen[str]:
    base = [sys.executable, "-m", "queue_max", "--data-dir", str(data_dir)]
    subprocess.run([*base, "--shards", "1", "enqueue", "--payload", json.dumps({"seconds": seconds})],
                   env=module_env(), check=True, capture_output=True)
    worker = subprocess.Popen([*base, "worker", "--function", f"{HANDLERS}:slow", "--rate-limit", "0",
                               "--poll-interval", "0.05", *extra],
                              env=module_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _statuses(data_dir) == ["processing"])
    return worker


@pytest.fixture
def slow_worker(data_dir: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `_start_slow_worker` processes; afterwards each is ended and its pipes closed."""
    started: list[subprocess.Popen[str]] = []

    def start(seconds: float, *extra: str) -> subprocess.Popen[str]:
        started.append(_start_slow_worker(data_dir, seconds, *extra))
        return started[-1]

    yield start
    for worker in started:
        if worker.poll() is None:
            worker.kill()
        worker.communicate(timeout=30)


def _await_line(worker: subprocess.Popen[str], text: str, timeout: float = 30.0) -> str:
    """The worker's stderr up to the first line that holds `text` (read from the pipe itself, so
    `worker.stderr.read()` goes on after it); fails if it is not logged within `timeout`."""
    assert worker.stderr is not None
    fd, seen = worker.stderr.fileno(), b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        assert time.monotonic() < deadline, f"the worker never logged {text!r}: {seen.decode()}"
        if select.select([fd], [], [], 0.1)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"the worker exited before logging {text!r}: {seen.decode()}"
            seen += chunk
    return seen.decode()


def _statuses(data_dir: Path) -> list[str]:
    with Queue(data_dir=data_dir, rate_limit=0, settings=Settings()) as queue:
        return [job.status.value for job in queue.list_jobs(limit=10)]


def _wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigterm_lets_the_running_job_finish_and_exits_0(data_dir, slow_worker):
    # Given a worker running a job that takes a second
    worker = slow_worker(1.0)
    assert list((data_dir / "workers").glob("*.json")), "a running worker publishes its status"
    # When it gets SIGTERM
    worker.send_signal(signal.SIGTERM)
    # Then the job finishes, the worker exits 0 and removes its status file
    assert worker.wait(30) == 0, worker.stderr.read()
    assert _statuses(data_dir) == ["completed"]
    assert not list((data_dir / "workers").glob("*.json"))


def test_a_second_signal_stops_at_once_releasing_the_job_with_exit_4(data_dir, slow_worker):
    worker = slow_worker(30.0)
    worker.send_signal(signal.SIGTERM)
    logged = _await_line(worker, "received, finishing running jobs")  # two signals, not one coalesced
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 4
    assert _statuses(data_dir) == ["pending"]  # released untouched: another worker picks it up
    # and the log says what happened, not that a grace period ran out
    err = logged + worker.stderr.read()
    assert "stopped at once by a second signal; 1 running job released" in err and "grace period" not in err


def test_a_second_signal_to_supervised_processes_releases_the_job_with_exit_4(data_dir, slow_worker):
    # Given two worker processes, one of them running a long job
    worker = slow_worker(30.0, "--processes", "2")
    # When the supervisor gets two SIGTERMs
    worker.send_signal(signal.SIGTERM)
    _await_line(worker, "received, finishing running jobs")  # two signals, not one coalesced
    worker.send_signal(signal.SIGTERM)
    # Then it exits 4, as a single process does, and the job is pending again
    assert worker.wait(30) == 4, worker.stderr.read()
    assert _statuses(data_dir) == ["pending"]


def test_sigint_finishes_the_job_and_exits_130(data_dir, slow_worker):
    worker = slow_worker(1.5)
    worker.send_signal(signal.SIGINT)
    assert worker.wait(30) == 130
    assert _statuses(data_dir) == ["completed"]


def test_sigterm_stops_supervised_processes_gracefully(data_dir, slow_worker):
    worker = slow_worker(1.0, "--processes", "2")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.stderr.read()
    assert _statuses(data_dir) == ["completed"]
