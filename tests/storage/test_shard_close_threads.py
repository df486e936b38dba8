"""Closing a queue while other threads hold shard connections, idle or inside statements.

sqlite3 frees a connection's statements on close(), so closing one while another thread runs a
statement on it crashes the interpreter (a segfault, on every Python we support). The queue
closes the connections of the calling thread, of ended threads and of live threads that are not
using theirs; it waits (up to a second) for a thread inside a statement, and a thread still busy
after that closes its own as its statement ends. The scenarios that run statements across the
close run in a subprocess, so that a regression fails the test, not the run.

The files tell whether every connection is closed: SQLite removes a shard's -wal and -shm files
when the last connection to it closes.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import os
import threading
import time
from pathlib import Path

import pytest

from queue_max.errors import QueueClosed

ROOT = Path(__file__).resolve().parents[2]


def held_open(data: Path) -> list[str]:
    """The files under `data` this process has open (Linux: /proc/self/fd)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, gone
        if target.startswith(str(data)):
            held.append(Path(target).name)
    return sorted(held)

SCENARIO = '''
import sys, threading, time
from pathlib import Path
from queue_max import Queue, Settings
from queue_max.errors import QueueClosed

data, how = Path(sys.argv[1]), sys.argv[2]
queue = Queue(data_dir=data, shards=1, rate_limit=0, settings=Settings())
shard = queue.backend.shards[0]
inside, closed, outcome = threading.Event(), threading.Event(), {}

def pause():
    inside.set()              # a statement is running on the reader's connection...
    if how == "short":
        time.sleep(0.3)       # ...and ends while close() waits for it
    else:
        closed.wait(30)       # ...and goes on until the main thread's close() returned
    return 1

def files():
    return sorted(p.name.split(".", 1)[1] for p in data.glob("shard_0.db*"))

def reader():
    if how == "raw":  # a connection handed out for direct use
        conn = shard.conn()
        conn.create_function("pause", 0, pause)
        outcome["row"] = conn.execute("SELECT pause()").fetchone()[0]
    else:
        with shard.using() as conn:
            conn.create_function("pause", 0, pause)
        outcome["row"] = shard.read("SELECT pause()")[0][0]
    closed.wait(30)
    outcome["files after the statement"] = files()  # before this thread's next use
    try:
        shard.read("SELECT 1")
    except QueueClosed:
        outcome["next use"] = "QueueClosed"

thread = threading.Thread(target=reader)
thread.start()
inside.wait(30)
started = time.monotonic()
queue.close()
waited = time.monotonic() - started
outcome["files after close()"] = files()
outcome["close()"] = "waited" if waited > 0.2 else "did not wait"
closed.set()
thread.join(30)
print(sorted(outcome.items()))
'''


def _scenario(tmp_path: Path, how: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", SCENARIO, str(tmp_path / "data"), how], capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT / "src")}, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    return dict(ast.literal_eval(done.stdout.strip()))


def test_closing_the_queue_waits_for_a_statement_of_another_thread_then_closes_its_connection(tmp_path):
    # Given a thread inside a 0.3 s statement on its own shard connection
    # When the main thread closes the queue
    # Then close() waits for the statement, then closes that connection too: no file is left
    # when it returns, and the thread's next use says the queue is closed
    assert _scenario(tmp_path, "short") == {
        "row": 1, "close()": "waited", "files after close()": ["db"], "files after the statement": ["db"],
        "next use": "QueueClosed"}


def test_a_statement_longer_than_the_close_wait_finishes_and_its_thread_closes_the_connection(tmp_path):
    # Given a thread inside a statement that lasts until close() returned
    # When the main thread closes the queue
    # Then nothing crashes: close() gives up after its wait and leaves the connection open, the
    # statement finishes, its thread closes the connection as the statement ends (no file is
    # left before its next use), and that next use says the queue is closed
    assert _scenario(tmp_path, "long") == {
        "row": 1, "close()": "waited", "files after close()": ["db", "db-shm", "db-wal"],
        "files after the statement": ["db"], "next use": "QueueClosed"}


def test_a_connection_handed_out_for_direct_use_is_left_to_its_thread(tmp_path):
    # Given a thread running a statement on the connection `Shard.conn()` handed it
    # When the main thread closes the queue
    # Then close() neither waits for it nor closes it (only its thread knows when it is idle);
    # the statement finishes, and the thread's next use of the queue's own verbs says the queue
    # is closed
    assert _scenario(tmp_path, "raw") == {
        "row": 1, "close()": "did not wait", "files after close()": ["db", "db-shm", "db-wal"],
        "files after the statement": ["db", "db-shm", "db-wal"], "next use": "QueueClosed"}


def test_closing_the_queue_closes_the_connections_of_idle_live_threads(make_queue, tmp_path):
    # Given threads that enqueued, claimed and read through the queue, and are still alive, idle
    queue = make_queue(shards=2)
    go, stop, outcome = threading.Event(), threading.Event(), []

    def user() -> None:
        queue.enqueue({"n": 1})
        queue.claim_jobs("w1", 1)
        queue.get_stats()
        go.set()
        stop.wait(30)
        try:
            queue.enqueue({"n": 2})
        except QueueClosed:
            outcome.append("QueueClosed")

    threads = [threading.Thread(target=user) for _ in range(3)]
    for thread in threads:
        thread.start()
        assert go.wait(30)
        go.clear()
    # When this thread closes the queue
    queue.close()
    # Then every connection is closed (SQLite removed the -wal and -shm files as the last one closed),
    # so the directory can be removed at once
    assert held_open(tmp_path / "data") == []
    assert sorted(p.name for p in (tmp_path / "data").glob("shard_*")) == ["shard_0.db", "shard_1.db"]
    # And the threads' next use says the queue is closed
    stop.set()
    for thread in threads:
        thread.join(30)
    assert outcome == ["QueueClosed"] * 3


def test_a_closed_queue_refuses_the_closing_thread_too(make_queue):
    # Given a queue used, then closed, by this thread
    queue = make_queue(shards=2)
    queue.enqueue({"n": 1})
    queue.close()
    # Then its connections refuse further use with QueueClosed, not a driver error
    for shard in queue.backend.shards:
        with pytest.raises(QueueClosed):
            shard.conn()


def test_close_waits_for_the_connection_an_ending_thread_is_closing(make_queue, tmp_path, monkeypatch):
    # Given a thread that used the queue and is ending, its connection closing as its local
    # storage goes (slowed down here to 0.3 s, so that close() meets it halfway)
    from queue_max.storage.sqlite import shard as shard_module

    ending: list[int] = []
    closing = threading.Event()
    real_close = shard_module._close_quietly

    def slow_close(*args: object) -> None:
        if threading.get_ident() in ending:
            closing.set()
            time.sleep(0.3)
        real_close(*args)

    monkeypatch.setattr(shard_module, "_close_quietly", slow_close)
    queue = make_queue(shards=1)
    queue.enqueue({"n": 1})

    def user() -> None:
        queue.get_stats()
        ending.append(threading.get_ident())

    thread = threading.Thread(target=user)
    thread.start()
    assert closing.wait(30)  # the thread has returned: its connection is being closed
    # When this thread closes the queue
    queue.close()
    # Then close() returned after that close finished: no file of the queue is held open, and
    # nothing in this process can remove the -wal or -shm file from under a following rmtree
    assert held_open(tmp_path / "data") == []
    thread.join(30)


def test_the_flow_token_file_is_released_at_close_and_a_late_change_still_moves_it(make_queue, tmp_path):
    # Given a queue whose claims mapped the host-wide flow token file (paused queues, breakers)
    queue = make_queue(shards=1)
    queue.enqueue({"n": 1})
    queue.claim_jobs("w1", 1)
    backend = queue.backend
    token_file = tmp_path / "data" / ".queue-max.flow"
    assert ".queue-max.flow" in held_open(tmp_path / "data")
    before = token_file.read_bytes()
    # When the queue is closed
    queue.close()
    # Then the file is no longer held, a late read of the token polls instead of failing, and a
    # change committed just before the close (its token moved after) still reaches other processes
    assert held_open(tmp_path / "data") == []
    assert backend.flow_token()[0] == "poll"
    backend._flow_changed()
    assert token_file.read_bytes() != before and held_open(tmp_path / "data") == []
