"""Several processes on one data directory: every job is written once and claimed once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from queue_max import Queue

HELPER = str((Path(__file__).resolve().parent.parent / "_claimer.py"))
pytestmark = pytest.mark.slow


def run_all(commands: list[list[str]]) -> None:
    procs = [subprocess.Popen([sys.executable, HELPER, *cmd]) for cmd in commands]
    for proc in procs:
        assert proc.wait(timeout=120) == 0


def test_processes_claim_each_job_exactly_once(tmp_path, settings):
    # Given 3000 jobs in a 6-shard directory
    data = tmp_path / "data"
    with Queue(data_dir=data, shards=6, settings=settings) as queue:
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(3000)])
    # When 4 processes with 2 threads each drain it, claiming up to 16 at a time
    outs = [tmp_path / f"out{n}" for n in range(4)]
    run_all([["consume", str(data), str(out), "2", "16"] for out in outs])
    # Then every job was claimed once, and only once, and all are completed
    seen = [int(line) for out in outs for line in out.read_text().split()]
    assert len(seen) == len(set(seen)) == 3000
    with Queue(data_dir=data, settings=settings) as queue:
        stats = queue.get_stats()
        assert (stats["completed"], stats["pending"], stats["processing"]) == (3000, 0, 0)


def test_concurrent_producers_lose_nothing(tmp_path, settings):
    data = tmp_path / "data"
    Queue(data_dir=data, shards=3, settings=settings).close()
    run_all([["produce", str(data), str(n * 1000), "1000", "single" if n % 2 else "batch"]
             for n in range(4)])
    with Queue(data_dir=data, settings=settings) as queue:
        jobs = queue.list_jobs("pending", limit=10_000)
        assert sorted(job.payload["i"] for job in jobs) == list(range(4000))
        assert len({job.id for job in jobs}) == 4000
