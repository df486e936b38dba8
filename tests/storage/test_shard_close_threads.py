"""Closing a queue while other threads are inside statements on their shard connections.

sqlite3 frees a connection's statements on close(), so closing one while another thread runs a
statement on it crashes the interpreter (a segfault, on every Python we support). The queue
closes the calling thread's connections at once; each other thread closes its own at its next
use. The scenario runs in a subprocess, so that a regression fails this test, not the run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from queue_max.errors import QueueClosed

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = '''
import sys, threading
from pathlib import Path
from queue_max import Queue, Settings
from queue_max.errors import QueueClosed

queue = Queue(data_dir=Path(sys.argv[1]), shards=1, rate_limit=0, settings=Settings())
shard = queue.backend.shards[0]
inside, closed, outcome = threading.Event(), threading.Event(), []

def pause():
    inside.set()          # a statement is running on the reader's connection...
    closed.wait(30)       # ...while the main thread closes the queue
    return 1

def reader():
    shard.conn().create_function("pause", 0, pause)
    outcome.append(shard.read("SELECT pause()")[0][0])
    try:
        shard.conn()
    except QueueClosed:
        outcome.append("QueueClosed")

thread = threading.Thread(target=reader)
thread.start()
inside.wait(30)
queue.close()
closed.set()
thread.join(30)
print(outcome)
'''


def test_closing_the_queue_mid_statement_on_another_thread_lets_that_statement_finish(tmp_path):
    # Given a thread inside a statement on its own shard connection
    # When the main thread closes the queue before the statement ends
    done = subprocess.run([sys.executable, "-c", SCENARIO, str(tmp_path / "data")], capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT / "src")}, stdin=subprocess.DEVNULL)
    # Then nothing crashes: the statement finishes, and the thread's next use says the queue is closed
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.strip() == "[1, 'QueueClosed']"


def test_a_closed_queue_refuses_the_closing_thread_too(make_queue):
    # Given a queue used, then closed, by this thread
    queue = make_queue(shards=2)
    queue.enqueue({"n": 1})
    queue.close()
    # Then its connections refuse further use with QueueClosed, not a driver error
    for shard in queue.backend.shards:
        with pytest.raises(QueueClosed):
            shard.conn()
