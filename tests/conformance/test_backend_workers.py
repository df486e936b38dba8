"""The storage contract for the worker registry (point 10): every process sees every worker,
idle ones too, and keeping it up to date never looks like new work to other processes."""

from __future__ import annotations

import socket

from queue_max.models import WorkerPresence
from queue_max.storage.base import Backend

from .test_backend_metrics import another_process

NOW = 1_800_000_000.0


def presence(worker_id: str, *, host: str = "host-a", pid: int = 100, running: int = 0, at: float = NOW,
             queues: tuple[str, ...] | None = None) -> WorkerPresence:
    return WorkerPresence(worker_id, host, pid, "Worker", queues, 4, running, NOW - 60, at)


def test_workers_put_by_one_process_are_listed_by_another(backend: Backend):
    # Given an idle worker and a busy one on two hosts, reported by this process
    idle = presence("idle", queues=("emails", "reports"))
    busy = presence("busy", host="host-b", pid=200, running=3)
    backend.put_workers([idle, busy])
    # Then another process opening the same storage lists both, sorted by worker id
    other = another_process(backend)
    try:
        assert other.list_workers(NOW + 1) == [busy, idle]
    finally:
        other.close()


def test_a_heartbeat_replaces_the_record_of_the_same_worker(backend: Backend):
    backend.put_workers([presence("w")])
    later = presence("w", running=2, at=NOW + 10)
    backend.put_workers([later])
    assert backend.list_workers(NOW + 10) == [later]


def test_two_processes_with_the_same_worker_id_are_two_workers(backend: Backend):
    first, second = presence("w", pid=1), presence("w", pid=2)
    backend.put_workers([first, second])
    assert backend.list_workers(NOW) == [first, second]


def test_a_dropped_worker_is_gone_and_dropping_an_unknown_one_is_harmless(backend: Backend):
    stays, goes = presence("stays"), presence("goes")
    backend.put_workers([stays, goes])
    backend.drop_workers([goes, presence("never-registered")])
    assert backend.list_workers(NOW) == [stays]


def test_records_nobody_refreshed_for_a_day_are_forgotten(backend: Backend):
    old, fresh = presence("old"), presence("fresh", at=NOW + 86_000)
    backend.put_workers([old, fresh])
    assert backend.list_workers(NOW + 86_500) == [fresh]


def test_registering_workers_does_not_look_like_new_work(backend: Backend):
    # Given another process watching the storage for commits
    watcher = another_process(backend)
    try:
        before = watcher.change_token()
        # When workers report in, refresh and leave
        backend.put_workers([presence("a"), presence("b")])
        backend.put_workers([presence("a", at=NOW + 5)])
        backend.drop_workers([presence("b")])
        # Then the watcher sees no change, so its idle workers sleep on
        assert watcher.change_token() == before
    finally:
        watcher.close()


def test_a_record_of_a_dead_process_on_this_host_is_not_listed(backend: Backend):
    # a pid far above any pid_max: no such process
    backend.put_workers([presence("ghost", host=socket.gethostname(), pid=2**30), presence("remote")])
    assert [w.worker_id for w in backend.list_workers(NOW)] == ["remote"]
