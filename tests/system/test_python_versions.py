"""What differs between the Pythons queue-max supports (3.11 to 3.13), pinned down on each of them.

CI runs this file on every interpreter of its matrix (.ci/run): sqlite3's transaction control
(the `autocommit` attribute of 3.12+), asyncio (coroutine tasks with and without a running loop),
and deprecation warnings (pyproject's pytest configuration makes our own warnings errors; the
subprocess test below also catches those of the standard library called from our code).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
from task_modules.fixtures import isolated_tasks, rq  # noqa: F401

from queue_max import workers
from queue_max.storage.sqlite import ShardManager
from queue_max.tasks import set_default_queue, task

ROOT = Path(__file__).resolve().parents[2]


def test_sqlite_never_leaves_a_shard_connection_inside_a_transaction(make_queue):
    # Given two queues on one directory: two connections to each shard, as two processes have
    first, second = make_queue(shards=2), make_queue()
    # When the first writes, reads and claims
    first.enqueue({"n": 1})
    first.get_stats()
    claimed = first.claim_jobs("w1", 1)
    # Then none of its connections is left inside a transaction: sqlite3 opens none on its own
    # (autocommit=True on 3.12+, where the legacy isolation_level=None is due to lose that meaning)
    backend = first.backend
    assert isinstance(backend, ShardManager)
    for shard in backend.shards:
        conn = shard.conn()
        assert not conn.in_transaction
        if sys.version_info >= (3, 12):
            assert conn.autocommit is True
        else:
            assert conn.isolation_level is None
    # And so each side sees the other's commits at once
    second.enqueue({"n": 2})
    assert len(claimed) == 1
    assert first.get_stats()["pending"] == second.get_stats()["pending"] == 1


@pytest.mark.parametrize("kind", ["Worker", "AsyncWorker"])
def test_a_coroutine_task_runs_on_either_worker_with_deprecations_as_errors(rq, kind):
    # Given a coroutine task, and every DeprecationWarning, wherever it comes from, an error
    @task
    async def add_later(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        # When the thread worker (asyncio.run per job) or the async worker (its own loop) runs it
        worker = getattr(workers, kind)("w", queue=rq, poll_interval=0.05)
        worker.start()
        try:
            handles = [add_later.delay(2, 3), add_later.delay(4, 5)]
            # Then it runs to completion on every Python
            assert [h.get(timeout=30) for h in handles] == [5, 9]
        finally:
            worker.stop()


@pytest.mark.parametrize("how", [["--threads", "2"], ["--processes", "2"]], ids=["threads", "processes"])
def test_the_cli_worker_runs_coroutine_and_plain_tasks_with_every_warning_an_error(make_queue, how):
    from task_modules.versions import doubled, plus_one

    # Given coroutine and plain task jobs
    queue = make_queue(shards=2)
    set_default_queue(queue)
    handles = [doubled.delay(n) for n in range(3)] + [plus_one.delay(n) for n in range(3)]
    # When `queue-max worker --burst` runs them in threads or in child processes, with every
    # warning an error in the worker and in each child it starts (fork with threads included)
    env = {**os.environ, "PYTHONWARNINGS": "error",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT / "src")])}
    done = subprocess.run(
        [sys.executable, "-m", "queue_max", "worker", "--data-dir", str(queue.location),
         "--tasks", "task_modules.versions", "--burst", *how],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    # Then it finishes cleanly and every job has its result
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr[-2000:]
    assert [h.get(timeout=10) for h in handles] == [0, 2, 4, 1, 2, 3]


def test_the_demo_runs_with_every_deprecation_warning_an_error():
    # Given the demo: a queue, tasks, a worker, retries, dead letters, results and stats
    # When it runs with DeprecationWarning and PendingDeprecationWarning raised as errors
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-W", "error::PendingDeprecationWarning",
         str(ROOT / "examples" / "demo.py")],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    # Then it finishes cleanly: nothing it calls is deprecated on this Python
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Warning" not in done.stderr


def test_our_own_warnings_are_errors_in_the_test_configuration():
    # Given pyproject's pytest configuration
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    filters = config["tool"]["pytest"]["ini_options"]["filterwarnings"]
    # Then a warning attributed to any queue_max module fails the test that caused it
    assert any(f.startswith("error:::queue_max") for f in filters)


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_the_metadata_lists_each_python_ci_tests_and_requires_at_least_3_11(version):
    # Given the package metadata
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # Then it still installs on 3.11 and names every Python the CI matrix runs
    assert project["requires-python"] == ">=3.11"
    assert f"Programming Language :: Python :: {version}" in project["classifiers"]
