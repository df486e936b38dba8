"""A plain `Worker` process killed while it holds prefetched jobs: only what it started is charged."""

from __future__ import annotations

import cProfile
import json
import pstats
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from queue_max import JobStatus, Queue, _recovery
from queue_max._scoreboard import Board, board_path, read_board
from queue_max.config import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _helpers import wait_until  # noqa: E402
from _pg import PG_URL, drop_schema, fresh_schema, require_pg  # noqa: E402

PROC = Path(__file__).resolve().parent.parent / "procs" / "crash_worker.py"
LEASES = {"lease_timeout": 1.0, "heartbeat_interval": 0.2, "recovery_interval": 3600.0, "rate_limit": 0}
pytestmark = pytest.mark.slow


def start_worker(tmp_path: Path, worker_id: str, **config: object) -> subprocess.Popen[bytes]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    config = {"worker_id": worker_id, "out": str(out), "queue": LEASES, **config}
    return subprocess.Popen([sys.executable, str(PROC), json.dumps(config)])


def runs(tmp_path: Path) -> list[tuple[int, int, int]]:
    """(i, job id, attempt) of every handler start, in all worker processes."""
    found = []
    for path in sorted((tmp_path / "out").glob("*.txt")):
        found += [tuple(int(x) for x in line.split()) for line in path.read_text().split("\n") if line]
    return found  # type: ignore[return-value]


def held_by(queue: Queue, worker_id: str) -> list[int]:
    return [job.id for job in queue.list_jobs(JobStatus.PROCESSING, limit=1000) if job.worker_id == worker_id]


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(10)  # reaped: its pid is gone


def hold_eight(tmp_path: Path, queue: Queue, worker_id: str, **config: object) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A worker (prefetch 8) running a long job and holding the 7 jobs enqueued after it."""
    proc = start_worker(tmp_path, worker_id, prefetch=8, **config)
    # fast jobs first, so that the worker knows its jobs are short and claims 8 at once
    warm = queue.enqueue_batch([{"payload": {"i": i}} for i in range(20)])["ids"]
    assert wait_until(lambda: all(queue.get_job(job_id).is_completed for job_id in warm))
    ids = queue.enqueue_batch([{"payload": {"i": 100, "first_sleep": 60}}]
                              + [{"payload": {"i": 101 + k}} for k in range(7)])["ids"]
    assert wait_until(lambda: len(held_by(queue, worker_id)) == 8 and any(i == 100 for i, *_ in runs(tmp_path)))
    return proc, ids


def test_a_killed_worker_is_charged_only_for_the_job_it_was_running(tmp_path, settings):
    # Given a worker process with prefetch 8 that runs one long job and holds 7 more
    queue = Queue(data_dir=tmp_path / "data", shards=1, settings=settings, **LEASES)
    proc, (running, *held) = hold_eight(tmp_path, queue, "victim", data_dir=str(tmp_path / "data"))
    board = board_path(queue.backend.local_dir, "victim", proc.pid)
    assert board.exists()
    # When it is killed without warning and another process recovers its leases
    kill(proc)
    recovered = queue.recover_orphans()
    # Then the running job is requeued with its attempt counted, the 7 with none
    assert recovered == 1
    assert queue.get_job(running).tentativas == 1 and queue.get_job(running).is_pending
    assert [(queue.get_job(i).status, queue.get_job(i).tentativas) for i in held] == [(JobStatus.PENDING, 0)] * 7
    assert not board.exists()
    # And the 7 run later, as their first attempt
    rescuer = start_worker(tmp_path, "rescuer", data_dir=str(tmp_path / "data"))
    try:
        assert wait_until(lambda: all(queue.get_job(i).is_completed for i in [running, *held]))
    finally:
        kill(rescuer)
    assert sorted(attempt for i, job_id, attempt in runs(tmp_path) if job_id in held) == [1] * 7
    assert queue.get_job(running).tentativas == 2
    queue.close()


def test_expire_leases_of_a_dead_worker_releases_what_it_had_not_started(tmp_path, settings):
    # Given a killed worker process that was running one job and holding 7
    queue = Queue(data_dir=tmp_path / "data", shards=1, settings=settings, **LEASES)
    proc, (running, *held) = hold_eight(tmp_path, queue, "victim", data_dir=str(tmp_path / "data"))
    kill(proc)
    # When its leases are ended by name (what a supervisor does for a process it saw die)
    ended = queue.expire_leases("victim")
    # Then only the running job's lease was left to end; the 7 are pending, uncharged
    assert ended == 1
    assert [(queue.get_job(i).status, queue.get_job(i).tentativas) for i in held] == [(JobStatus.PENDING, 0)] * 7
    assert queue.recover_orphans() == 1 and queue.get_job(running).tentativas == 1
    queue.close()


def test_the_board_of_a_live_but_stalled_worker_is_not_trusted(tmp_path, settings):
    # Given a worker process running one job and holding 7, then frozen (SIGSTOP)
    queue = Queue(data_dir=tmp_path / "data", shards=1, settings=settings, **LEASES)
    proc, ids = hold_eight(tmp_path, queue, "frozen", data_dir=str(tmp_path / "data"))
    proc.send_signal(signal.SIGSTOP)
    try:
        # When its leases expire and another process recovers them
        assert wait_until(lambda: queue.recover_orphans() or not held_by(queue, "frozen"))
        # Then all 8 are charged, as without a board: its process lives, so it may run any of them
        assert [queue.get_job(i).tentativas for i in ids] == [1] * 8
        assert board_path(queue.backend.local_dir, "frozen", proc.pid).exists()
    finally:
        proc.send_signal(signal.SIGCONT)
        kill(proc)
        queue.close()


def test_a_dead_worker_whose_id_a_live_process_shares_is_charged_as_before(tmp_path, settings):
    # Given a worker running one job and holding 7, and a second live process with the same id
    queue = Queue(data_dir=tmp_path / "data", shards=1, settings=settings, **LEASES)
    proc, ids = hold_eight(tmp_path, queue, "twin", data_dir=str(tmp_path / "data"))
    twin = start_worker(tmp_path, "twin", data_dir=str(tmp_path / "data"))
    local = queue.backend.local_dir
    assert wait_until(lambda: board_path(local, "twin", twin.pid).exists())
    try:
        # When the first is killed and its leases recovered
        kill(proc)
        assert wait_until(lambda: queue.recover_orphans() or not held_by(queue, "twin"))
        # Then the leases, which carry the shared id, could not be told apart: all 8 were charged
        # (the twin may have taken them since, so look at the recorded expiries)
        assert all([e.type for e in queue.get_job(i).errors][:1] == ["LeaseExpired"] for i in ids)
        assert not board_path(local, "twin", proc.pid).exists() and board_path(local, "twin", twin.pid).exists()
    finally:
        kill(twin)
        queue.close()


def test_a_job_started_between_the_board_read_and_the_death_check_is_charged(tmp_path, settings, monkeypatch):
    # Given a live worker process, idle, whose board another process has just read (empty)
    queue = Queue(data_dir=tmp_path / "data", shards=1, settings=settings, **LEASES)
    proc = start_worker(tmp_path, "late", data_dir=str(tmp_path / "data"))
    board = board_path(queue.backend.local_dir, "late", proc.pid)
    assert wait_until((tmp_path / "out" / f"late.{proc.pid}.ready").exists)
    poison: list[int] = []
    plain_read = _recovery.read_board

    def read_then_die(path: Path) -> Board | None:
        found = plain_read(path)
        if path == board and not poison:
            # When, before the reader checks whether it lives, the worker starts a job that
            # kills it (SIGKILL), and its pid is reaped
            poison.append(queue.enqueue({"i": 0, "poison": True})["id"])
            assert proc.wait(30) == -9
        return found

    monkeypatch.setattr(_recovery, "read_board", read_then_die)
    queue.recover_orphans()
    # Then the job it started is charged its attempt (recovered, not released untouched)
    assert [i for i, job_id, _attempt in runs(tmp_path) if job_id == poison[0]] == [0]
    job = queue.get_job(poison[0])
    assert (job.status, job.tentativas, [e.type for e in job.errors]) == (JobStatus.PENDING, 1, ["LeaseExpired"])
    assert not board.exists()
    queue.close()


def test_a_process_that_takes_a_dead_workers_id_after_the_boards_are_listed_keeps_its_jobs(tmp_path, settings, monkeypatch):
    # Given a worker killed while it ran one job and held 7 more
    queue = Queue(data_dir=tmp_path / "data", shards=1, settings=settings, **LEASES)
    proc, dead_ids = hold_eight(tmp_path, queue, "reborn", data_dir=str(tmp_path / "data"))
    kill(proc)
    local = queue.backend.local_dir
    newcomer: list[subprocess.Popen[bytes]] = []
    its_ids: list[int] = []
    plain_alive = _recovery.process_alive

    def alive_after_a_restart(pid: int) -> bool:
        if not newcomer:
            # When, after recovery listed the boards and before it looks at the dead one's jobs,
            # a new process starts under the same id, runs one job and holds 7 more
            newcomer.append(start_worker(tmp_path, "reborn", prefetch=8, data_dir=str(tmp_path / "data")))
            warm = queue.enqueue_batch([{"payload": {"i": 200 + k}} for k in range(20)])["ids"]
            assert wait_until(lambda: all(queue.get_job(job_id).is_completed for job_id in warm))
            its_ids.extend(queue.enqueue_batch([{"payload": {"i": 300, "first_sleep": 3}}]
                                               + [{"payload": {"i": 301 + k}} for k in range(7)])["ids"])
            assert wait_until(lambda: set(its_ids) <= set(held_by(queue, "reborn"))
                              and any(i == 300 for i, *_ in runs(tmp_path)))
        return plain_alive(pid)

    monkeypatch.setattr(_recovery, "process_alive", alive_after_a_restart)
    try:
        queue.recover_orphans()
        # Then its leases, which carry the same id, were neither released nor ended: each of its
        # jobs runs once, on its first attempt, and completes with no error recorded
        assert wait_until(lambda: all(queue.get_job(job_id).is_completed for job_id in its_ids), timeout=30)
        assert sorted(job_id for _i, job_id, _a in runs(tmp_path) if job_id in its_ids) == sorted(its_ids)
        assert [list(queue.get_job(job_id).errors) for job_id in its_ids] == [[]] * 8
        # and the dead one's board is gone, its jobs left to expire, charged, as with a live twin
        assert not board_path(local, "reborn", proc.pid).exists()
        assert wait_until(lambda: queue.recover_orphans() or not set(dead_ids) & set(held_by(queue, "reborn")), timeout=30)
        assert all([e.type for e in queue.get_job(i).errors][:1] == ["LeaseExpired"] for i in dead_ids)
    finally:
        for twin in newcomer:
            kill(twin)
        queue.close()


def test_a_poison_job_still_reaches_the_dlq_under_repeated_crashes(tmp_path, settings):
    # Given a job that kills its worker process whenever it starts, among 30 ordinary ones
    queue = Queue(data_dir=tmp_path / "data", shards=1, settings=settings, max_retries=3, **LEASES)
    poison = queue.enqueue({"i": 0, "poison": True})["id"]
    ordinary = queue.enqueue_batch([{"payload": {"i": i}} for i in range(1, 31)])["ids"]
    # When plain workers (prefetch 8) keep taking it, each killed by it, and recovery follows
    for generation in range(10):
        if queue.get_job(poison).status is JobStatus.FAILED:
            break
        proc = start_worker(tmp_path, f"gen{generation}", data_dir=str(tmp_path / "data"))
        assert proc.wait(30) == -9
        queue.recover_orphans()
    # Then the poison job is dead-lettered after its 4 attempts (1 + 3 retries)
    job = queue.get_job(poison)
    assert job.status is JobStatus.FAILED and job.tentativas == 4
    assert [entry.original_job_id for entry in queue.dlq_list()] == [poison]
    assert [attempt for _i, job_id, attempt in runs(tmp_path) if job_id == poison] == [1, 2, 3, 4]
    # And no ordinary job paid for the crashes: each is charged once, when it finally completes
    rescuer = start_worker(tmp_path, "rescuer", data_dir=str(tmp_path / "data"))
    try:
        assert wait_until(lambda: all(queue.get_job(i).is_completed for i in ordinary))
    finally:
        kill(rescuer)
    assert {queue.get_job(i).tentativas for i in ordinary} == {1}
    queue.close()


def test_a_worker_that_stops_cleanly_leaves_no_scoreboard(tmp_path, settings):
    # Given a running worker process, whose scoreboard names it
    queue = Queue(data_dir=tmp_path / "data", shards=1, settings=settings, **LEASES)
    proc = start_worker(tmp_path, "tidy", data_dir=str(tmp_path / "data"))
    board = board_path(queue.backend.local_dir, "tidy", proc.pid)
    assert wait_until((tmp_path / "out" / f"tidy.{proc.pid}.ready").exists)
    found = read_board(board)
    assert found is not None and (found.worker_id, found.pid, found.here) == ("tidy", proc.pid, True)
    # When it is stopped with SIGTERM
    proc.terminate()
    assert proc.wait(20) == 0
    # Then its scoreboard is gone
    assert not board.exists()
    queue.close()


def test_on_postgresql_every_job_a_killed_worker_held_is_charged(tmp_path):
    # Given a PostgreSQL queue (no directory all its processes share) and a worker that runs
    # one long job and holds 7
    require_pg()
    schema = fresh_schema()
    queue = Queue(settings=Settings(database_url=PG_URL, database_schema=schema), **LEASES)
    try:
        assert queue.backend.local_dir is None
        proc, ids = hold_eight(tmp_path, queue, "pg-victim", database_url=PG_URL, schema=schema)
        # When it is killed and its leases are recovered once they expire
        kill(proc)
        assert wait_until(lambda: queue.recover_orphans() or not held_by(queue, "pg-victim"))
        # Then, as before, each of the 8 is charged the attempt: nothing tells which ran
        assert [queue.get_job(i).tentativas for i in ids] == [1] * 8
    finally:
        queue.close()
        drop_schema(schema)


def test_the_scoreboard_costs_one_call_at_each_job_start_and_end_and_no_system_call(tmp_path, settings, monkeypatch):
    # Given a plain worker whose threads are profiled (cProfile counts calls: deterministic)
    from queue_max.workers import Worker
    from queue_max.workers._runner import Runner

    profiles: list[cProfile.Profile] = []
    plain_main = Runner.main

    def profiled(runner: Runner) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.runcall(plain_main, runner)

    monkeypatch.setattr(Runner, "main", profiled)
    queue = Queue(data_dir=tmp_path / "data", shards=1, settings=settings, rate_limit=0)
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(2000)])
    # When it drains 2000 jobs
    worker = Worker("profiled", lambda payload: None, queue, prefetch=32, burst=True)
    worker.run(handle_signals=False)
    queue.close()
    # Then the board was written once at each start and once at each end ...
    stats = pstats.Stats(*profiles).stats  # type: ignore[attr-defined]
    calls = {func[2]: entry[1] for func, entry in stats.items() if func[0].endswith("_scoreboard.py")}
    assert (calls["begin"], calls["end"]) == (2000, 2000)
    # ... and those calls call nothing: they assign the fields through views of the map (the
    # runner passes the start time), or pack them on a big-endian host
    callees = {func[2] for func, entry in stats.items()
               for caller in entry[4] if caller[0].endswith("_scoreboard.py") and caller[2] in ("begin", "end")}
    assert callees == (set() if sys.byteorder == "little" else {"<method 'pack_into' of '_struct.Struct' objects>"})


def test_a_worker_refuses_a_board_that_is_not_a_scoreboard(tmp_path, settings):
    from queue_max.errors import ConfigError
    from queue_max.workers import Worker

    with Queue(data_dir=tmp_path / "data", shards=1, settings=settings) as queue:
        with pytest.raises(ConfigError, match="board must be a queue_max._scoreboard.Scoreboard, got 'x'"):
            Worker("w", lambda payload: None, queue).record_on("x")  # type: ignore[arg-type]


def test_two_workers_of_one_process_that_share_an_id_keep_separate_boards(tmp_path, settings):
    from queue_max._scoreboard import board_paths
    from queue_max.workers import Worker

    # Given two workers in this process with the same id, on one queue
    with Queue(data_dir=tmp_path / "data", shards=1, settings=settings) as queue:
        workers = [Worker("same", lambda payload: None, queue, poll_interval=0.05) for _ in range(2)]
        for worker in workers:
            worker.start()
        try:
            # Then each writes a board of its own, both naming this process and that id
            boards = [read_board(path) for path in board_paths(queue.backend.local_dir, "same")]
            assert [(b.worker_id, b.pid) for b in boards if b is not None] == [("same", os.getpid())] * 2
        finally:
            for worker in workers:
                worker.stop(5)
        # And stopping them removes both
        assert board_paths(queue.backend.local_dir) == []
