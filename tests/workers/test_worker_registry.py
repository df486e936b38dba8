"""Every running worker is in the worker registry, idle or busy, and leaves it when it stops."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import pytest

from queue_max import Queue
from queue_max.errors import ConfigError
from queue_max.models import WorkerPresence
from queue_max.workers import AsyncWorker, Worker
from _helpers import wait_for_value


def test_an_idle_worker_is_registered_from_its_start_until_it_stops(make_queue):
    # Given a worker consuming two named queues, with nothing to do
    queue = make_queue(shards=2)
    worker = Worker("idle-1", lambda payload: None, queue, queues=["emails", "reports"], poll_interval=0.05)
    worker.start()
    try:
        # Then it is listed at once, idle, with where it runs and what it consumes
        (found,) = queue.workers()
        assert (found.worker_id, found.kind, found.queues, found.running) == ("idle-1", "Worker", ("emails", "reports"), 0)
        assert (found.host, found.pid) == (socket.gethostname(), os.getpid())
        assert found.age(queue.clock.time()) < queue.stale_worker_after
    finally:
        worker.stop()
    # And once it stopped, it is gone
    assert queue.workers() == []


def test_the_heartbeat_reports_running_jobs_and_keeps_an_idle_worker_fresh(make_queue):
    queue = make_queue(shards=1, heartbeat_interval=0.1, lease_timeout=5)
    release = threading.Event()

    async def handler(payload: dict[str, Any]) -> None:
        while not release.is_set():
            import asyncio

            await asyncio.sleep(0.01)

    worker = AsyncWorker("busy", handler, queue, poll_interval=0.05, concurrency=4)
    worker.start()
    try:
        first = queue.workers()[0].heartbeat_at
        # When two jobs run, the next heartbeats say so
        queue.enqueue({"n": 1})
        queue.enqueue({"n": 2})
        busy = wait_for_value(lambda: [w for w in queue.workers() if w.running == 2])
        assert busy[0].kind == "AsyncWorker" and busy[0].queues is None and busy[0].concurrency == 4
        release.set()
        # and once they are done it is idle again, its heartbeat still moving on
        idle = wait_for_value(lambda: [w for w in queue.workers() if w.running == 0 and w.heartbeat_at > first])
        assert idle[0].worker_id == "busy"
    finally:
        release.set()
        worker.stop()


def test_an_idle_worker_s_heartbeats_write_nothing_that_wakes_other_processes(make_queue, tmp_path):
    # Given an idle worker heartbeating ten times a second, and another Queue object watching
    queue = make_queue(shards=2, heartbeat_interval=0.1, lease_timeout=5)
    watcher = Queue(data_dir=tmp_path / "data", rate_limit=0)
    try:
        worker = Worker("idle", lambda payload: None, queue, poll_interval=0.05)
        worker.start()
        before = watcher.change_token()
        first = queue.workers()[0].heartbeat_at
        # When several heartbeats have refreshed its record
        wait_for_value(lambda: queue.workers()[0].heartbeat_at > first + 0.25)
        # Then no shard changed: the watcher's idle workers would sleep on
        assert watcher.change_token() == before
        worker.stop()
    finally:
        watcher.close()


def test_the_registry_verbs_refuse_what_is_not_a_list_of_presences(make_queue):
    queue = make_queue(shards=1)
    one = WorkerPresence("w", "h", 1, "Worker", None, 1, 0, 0.0, 0.0)
    for bad in ("w", one, [one, {"worker_id": "w"}], None):
        with pytest.raises(ConfigError, match="WorkerPresence"):
            queue.report_workers(bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="WorkerPresence"):
            queue.withdraw_workers(bad)  # type: ignore[arg-type]
