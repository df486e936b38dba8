"""A worker process started by the Supervisor, whose `main(argv)` reads the JSON config in argv[1].

It opens the queue, imports the handler (`module:function`) or task modules, runs one `Worker`
with `threads` threads until SIGTERM/SIGINT, `burst` or `max_jobs`, writes the job each thread
runs into its scoreboard, and tells its supervisor through a pipe `R` (ready) or `X message` (a
configuration error). End of input on stdin means the supervisor died: the worker then stops.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from ...loading import import_tasks, load_function
from ...logs import log_to_stderr
from ..._scoreboard import Scoreboard
from ...queue import Queue
from ..options import WorkerOptions
from ..worker import Worker

__all__ = ["EXIT_CONFIG", "EXIT_OK", "EXIT_RECYCLE", "EXIT_RELEASED", "main"]

EXIT_OK = 0
EXIT_RELEASED = 4  # stopped with running jobs released (a second signal, or past the grace period)
EXIT_RECYCLE = 75  # EX_TEMPFAIL: max_jobs reached, start a fresh process
EXIT_CONFIG = 78  # EX_CONFIG: the handler or the queue cannot be loaded; restarting won't help


class _Channel:
    """Short lines to the supervisor; one os.write each, atomic for lines under PIPE_BUF."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, line: str) -> None:
        try:
            os.write(self.fd, (line[:500].replace("\n", " ") + "\n").encode())
        except OSError:
            pass


def _lifeline(worker: Worker) -> None:
    # os.read, not sys.stdin: a daemon thread blocked in a buffered read aborts interpreter exit
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    worker.request_stop()


def _build(config: dict[str, Any]) -> tuple[Queue, Worker]:
    import_tasks(config.get("tasks", []))
    function = load_function(config["function"]) if config.get("function") else None
    options = WorkerOptions(**config["worker_options"])
    queue = Queue(data_dir=config["data_dir"], shards=config.get("shards"), **config.get("queue_options", {}))
    worker_id = f"{config['worker_prefix']}{os.getpid()}"
    try:
        # the same routing as a worker in the CLI's own process: task jobs run their task,
        # every other job `function`
        worker = Worker(worker_id, None, queue, options=options, fallback=function)
    except BaseException:
        queue.close()
        raise
    board = Scoreboard(Path(config["scoreboard"]), config["slots"])
    board.own(worker_id)
    worker.record_on(board)  # the supervisor reads it: time limits, and what ran when it crashed
    return queue, worker


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    if config.get("log_level"):
        log_to_stderr(config["log_level"], with_pid=True)
    channel = _Channel(config["control_fd"])
    try:
        queue, worker = _build(config)
    except Exception as exc:
        channel.send(f"X {type(exc).__name__}: {exc}")
        print(f"queue-max worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    threading.Thread(target=_lifeline, args=(worker,), daemon=True).start()
    channel.send("R")
    try:
        clean = worker.run(handle_signals=True)
    finally:
        queue.close()
    if not clean:
        return EXIT_RELEASED
    if worker.max_jobs is not None and worker._jobs_done >= worker.max_jobs:
        return EXIT_RECYCLE
    return EXIT_OK


