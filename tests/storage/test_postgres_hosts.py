"""Several "hosts" (worker processes with their own identity and clock) share one PostgreSQL queue.

Each host is a real process (tests/procs/pg_host.py) reaching the server over TCP; every run of
a job is recorded, committed, before its ack, so duplicates and losses are counted exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _pg import PG_URL, drop_schema, fresh_schema, require_pg
from queue_max import Queue
from queue_max.config import Settings
from _helpers import wait_until

pytestmark = pytest.mark.slow

HOST_SCRIPT = str(Path(__file__).resolve().parent.parent / "procs" / "pg_host.py")


class Cluster:
    """A schema with a `runs` table, the hosts started on it, and a producer queue."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.hosts: dict[str, list[subprocess.Popen[str]]] = {}
        self.queue = Queue(database_url=PG_URL, rate_limit=0, settings=Settings().with_(database_schema=schema))
        self.sql(f'CREATE TABLE "{schema}".runs (job_id bigint, host text, attempt int)')

    def sql(self, text: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            cursor = conn.execute(text)
            return cursor.fetchall() if cursor.description else []

    def start(self, host: str, processes: int = 1, **config: Any) -> None:
        settings = {"url": PG_URL, "schema": self.schema, "host": host, "threads": 4, "clock_ahead": 0.0,
                    "job_sleep": 0.005, "lease": 2.0, "heartbeat": 0.4, "recovery": 0.2, "max_retries": 2,
                    **config}
        procs = [subprocess.Popen([sys.executable, HOST_SCRIPT, json.dumps(settings)], stdout=subprocess.PIPE,
                                  text=True) for _ in range(processes)]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        self.hosts.setdefault(host, []).extend(procs)

    def signal(self, host: str, signum: int) -> None:
        for proc in self.hosts[host]:
            os.kill(proc.pid, signum)

    def runs(self) -> list[tuple[int, str, int]]:
        return self.sql(f'SELECT job_id, host, attempt FROM "{self.schema}".runs')  # type: ignore[return-value]

    def stop(self) -> None:
        for procs in self.hosts.values():
            for proc in procs:
                if proc.poll() is None:
                    with_cont(proc)
                    proc.send_signal(signal.SIGTERM)
        for procs in self.hosts.values():
            for proc in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()  # not left to the GC (a ResourceWarning on Python 3.13)
        self.queue.close()


def with_cont(proc: subprocess.Popen[str]) -> None:
    try:
        os.kill(proc.pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    require_pg()
    schema = fresh_schema()
    made = Cluster(schema)
    yield made
    made.stop()
    drop_schema(schema)


def finished(cluster: Cluster) -> bool:
    counts = cluster.queue.counts()  # one snapshot: two reads could straddle a recovery
    return counts["pending"] + counts["processing"] == 0


def test_hosts_drain_one_queue_with_no_job_run_twice_and_none_lost(cluster):
    # Given three idle hosts of two processes each
    for host in ("host-a", "host-b", "host-c"):
        cluster.start(host, processes=2, job_sleep=0.01)
    # When 600 jobs arrive and they drain the queue
    ids = cluster.queue.enqueue_batch([{"payload": {"n": n}} for n in range(600)])["ids"]
    assert wait_until(lambda: finished(cluster))
    # Then every job ran exactly once, completed, and the work was shared
    runs = cluster.runs()
    assert sorted(job_id for job_id, _host, _attempt in runs) == sorted(ids)
    assert cluster.queue.get_stats()["completed"] == 600
    assert len({host for _job, host, _attempt in runs}) == 3


def test_a_killed_host_s_jobs_are_recovered_by_the_others_with_the_attempt_counted(cluster):
    # Given a host whose jobs take long, holding leases
    ids = cluster.queue.enqueue_batch([{"payload": {"n": n}} for n in range(40)])["ids"]
    cluster.start("doomed", processes=2, job_sleep=30.0)
    assert wait_until(lambda: cluster.queue.get_stats()["processing"] >= 8)
    held = {job.id for job in cluster.queue.list_jobs("processing", 100)}
    # When every process of that host is SIGKILLed, and healthy hosts start
    cluster.signal("doomed", signal.SIGKILL)
    cluster.start("healthy-1")
    cluster.start("healthy-2")
    # Then every job completes; the dead host's jobs were run again, on their second attempt
    assert wait_until(lambda: finished(cluster))
    assert cluster.queue.get_stats()["completed"] == 40
    second_runs = {job_id for job_id, host, attempt in cluster.runs() if host.startswith("healthy") and attempt == 2}
    assert held <= second_runs
    assert all(cluster.queue.get_job(job_id).attempts == 2 for job_id in held)
    assert set(ids) == {job_id for job_id, _h, _a in cluster.runs()}


def test_a_host_frozen_past_its_lease_has_its_late_acks_refused(cluster):
    # Given a host in the middle of slow jobs
    cluster.queue.enqueue_batch([{"payload": {"n": n}} for n in range(8)])
    cluster.start("frozen", job_sleep=2.5)
    assert wait_until(lambda: len(cluster.runs()) >= 2)
    # When it is stopped (SIGSTOP) past its 2 s lease while another host takes over
    cluster.signal("frozen", signal.SIGSTOP)
    running = {job.id for job in cluster.queue.list_jobs("processing", 100)}
    frozen_jobs = {job_id for job_id, _host, _attempt in cluster.runs()} & running
    assert frozen_jobs
    cluster.start("rescuer", job_sleep=0.01)
    assert wait_until(lambda: all(cluster.queue.get_job(j).status.value == "completed" for j in frozen_jobs))
    # And it wakes up and tries to acknowledge the jobs it was running
    cluster.signal("frozen", signal.SIGCONT)
    # (a graceful stop waits for its running jobs to end and acknowledge)
    cluster.signal("frozen", signal.SIGTERM)
    assert all(proc.wait(30) == 0 for proc in cluster.hosts["frozen"])
    # Then its acks were refused: the stored result of each job is the rescuer's
    assert {cluster.queue.get_job(j).result for j in frozen_jobs} == {"rescuer"}


def test_a_host_whose_clock_runs_ahead_never_runs_a_live_job_twice(cluster):
    # Given 300 jobs and a poison job that may run 3 times, and a host whose clock is 3 s ahead
    cluster.queue.enqueue_batch([{"payload": {"n": n}} for n in range(300)])
    poison = cluster.queue.enqueue({"poison": True}, max_retries=2)["id"]
    cluster.start("honest", processes=2, job_sleep=0.02)
    cluster.start("ahead", processes=2, job_sleep=0.02, clock_ahead=3.0)
    # When they drain the queue with 2 s leases
    assert wait_until(lambda: finished(cluster))
    # Then no job ran twice, and the poison job ran exactly its 3 attempts before the DLQ
    runs = cluster.runs()
    counts: dict[int, int] = {}
    for job_id, _host, _attempt in runs:
        counts[job_id] = counts.get(job_id, 0) + 1
    assert counts.pop(poison) == 3
    assert set(counts.values()) == {1} and len(counts) == 300
    assert cluster.queue.get_job(poison).status.value == "failed"
