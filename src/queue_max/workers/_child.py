"""A worker process started by the Supervisor, whose `main(argv)` reads the JSON config in argv[1].

It opens the queue, imports the handler (`module:function`) or task modules, runs one `Worker`
with `threads` threads until SIGTERM/SIGINT, `burst` or `max_jobs`, writes the job each thread
runs into its scoreboard, and tells its supervisor through a pipe `R` (ready) or `X message` (a
configuration error). End of input on stdin means the supervisor died: the worker then stops.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..models import Job
from ..queue import Queue
from ._scoreboard import Scoreboard
from .context import current_job
from .worker import Worker

__all__ = ["EXIT_CONFIG", "EXIT_OK", "EXIT_RECYCLE", "load_function", "main"]

EXIT_OK = 0
EXIT_RECYCLE = 75  # EX_TEMPFAIL: max_jobs reached, start a fresh process
EXIT_CONFIG = 78  # EX_CONFIG: the handler or the queue cannot be loaded; restarting won't help


def load_function(spec: str) -> Callable[..., Any]:
    """`package.module:function` (or `module:Class.method`) imported and looked up."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"function must look like 'package.module:function', got {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{spec!r}: module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise ValueError(f"{spec!r} is not callable (it is {type(obj).__name__})")
    return obj  # type: ignore[no-any-return]


class _Channel:
    """Short lines to the supervisor; one os.write each, atomic for lines under PIPE_BUF."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, line: str) -> None:
        try:
            os.write(self.fd, (line[:500].replace("\n", " ") + "\n").encode())
        except OSError:
            pass


class _Scored:
    """Wraps a handler to write the job it runs into this thread's scoreboard slot."""

    def __init__(self, handler: Callable[[dict[str, Any]], Any], board: Scoreboard) -> None:
        self._handler = handler
        self._board = board

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler, name)  # timeout, retry_on, retry_delay of a task

    def __call__(self, payload: dict[str, Any]) -> Any:
        ctx = current_job()
        if ctx is None:
            return self._handler(payload)
        self._board.begin(ctx.job.id, ctx.timeout)
        try:
            return self._handler(payload)
        finally:
            self._board.end()


class _TaskWorker(Worker):
    """Runs registered tasks, each wrapped for the scoreboard."""

    def __init__(self, *args: Any, board: Scoreboard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._board = board

    def resolve_handler(self, job: Job) -> Any:
        return _Scored(super().resolve_handler(job), self._board)


def _lifeline(worker: Worker) -> None:
    # os.read, not sys.stdin: a daemon thread blocked in a buffered read aborts interpreter exit
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    worker.request_stop()


def _build(config: dict[str, Any]) -> tuple[Queue, Worker]:
    for module in config.get("tasks", []):
        importlib.import_module(module)
    function = load_function(config["function"]) if config.get("function") else None
    board = Scoreboard(Path(config["scoreboard"]), config["slots"])
    queue = Queue(data_dir=config["data_dir"], shards=config.get("shards"), **config.get("queue_options", {}))
    options: dict[str, Any] = {
        "poll_interval": config["poll_interval"], "job_timeout": config.get("job_timeout"),
        "concurrency": config["threads"], "shutdown_timeout": config["shutdown_timeout"],
        "max_jobs": config.get("max_jobs"), "burst": config.get("burst", False),
        "prefetch": config.get("prefetch", 32),
    }
    if config.get("kill_on_timeout"):
        options["timeout_grace"] = 3600.0  # the supervisor kills this process first
    worker_id = f"{config['worker_prefix']}{os.getpid()}"
    try:
        if function is not None:
            worker = Worker(worker_id, _Scored(function, board), queue, **options)
        else:
            worker = _TaskWorker(worker_id, None, queue, board=board, **options)
    except BaseException:
        queue.close()
        raise
    return queue, worker


def _setup_logging(level: str | None) -> None:
    if level is None:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"))
    logger = logging.getLogger("queue_max")
    logger.addHandler(handler)
    logger.setLevel(level)


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    _setup_logging(config.get("log_level"))
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
        worker.run(handle_signals=True)
    finally:
        queue.close()
    if worker.max_jobs is not None and worker._jobs_done >= worker.max_jobs:
        return EXIT_RECYCLE
    return EXIT_OK


