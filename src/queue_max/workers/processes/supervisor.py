"""Supervisor: N worker processes x M threads on one data directory, kept alive and stopped cleanly.

Each child is a Python process running one `Worker` with M threads (`workers._child`), writing the job
each thread runs into a scoreboard the supervisor reads. The supervisor restarts a child that
crashed, after settling the jobs it held: the ones that were running count the attempt (one of
them may have killed the process, and must reach the dead-letter queue after its retries), the
others are released untouched. It recycles children after `max_jobs_per_child` jobs, kills and
replaces a child whose job passes its time limit (recording a `JobTimeout` for that job only),
and forwards SIGTERM/SIGINT: the first stops every child gracefully, the second at once.
"""

from __future__ import annotations

import json
import logging
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import ConfigError, QueueMaxError
from ..._flow_limits import check_queue_list
from ...logs import LEVELS
from ...queue import Queue
from ...storage._open import check_database_url
from .._signals import ShutdownSignals
from ..._validate import check_bool, check_count, check_seconds
from ..options import DEFAULT_PREFETCH, WorkerOptions
from ._child import EXIT_CONFIG, EXIT_OK, EXIT_RECYCLE
from ._parent import Child, settle
from ..._scoreboard import Scoreboard

__all__ = ["KILL_GRACE", "Supervisor"]

log = logging.getLogger("queue_max.workers")

KILL_GRACE = 0.5  # seconds past a job's time limit before its process is killed


class Supervisor:
    """Runs `processes` worker processes of `threads` threads each; see the module docstring.

    Jobs run `function` ("package.module:function", called with the payload) or, without one,
    the tasks registered by the `tasks` modules. `queue_options` are further `Queue` keyword
    arguments for the children (JSON values); `log_level` sets the children's `queue_max` logging
    (to stderr), `env` their whole environment (default: this process's). `run()` blocks and
    handles signals; `start()` and `stop()` are the same without blocking.
    """

    def __init__(
        self,
        function: str | None = None,
        *,
        tasks: Sequence[str] = (),
        processes: int = 2,
        threads: int = 1,
        data_dir: str | Path | None = None,
        shards: int | None = None,
        queue_options: Mapping[str, Any] | None = None,
        poll_interval: float = 1.0,
        job_timeout: float | None = None,
        kill_on_timeout: bool | None = None,
        max_jobs_per_child: int | None = None,
        shutdown_timeout: float = 30.0,
        burst: bool = False,
        prefetch: int = DEFAULT_PREFETCH,
        queues: Sequence[str] | str | None = None,
        scheduler: bool = False,
        name: str = "queue-max",
        log_level: str | None = None,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        database_url: str | None = None,
    ) -> None:
        _check_what(function, tasks, data_dir, name, log_level)
        options = dict(queue_options or {})
        try:
            json.dumps(options)
        except (TypeError, ValueError):
            raise ConfigError(f"queue_options must hold JSON values, got {options!r:.80}") from None
        self.function = function
        self.tasks = list(tasks)
        self.processes = check_count("processes", processes, 1, 1024)
        self.threads = check_count("threads", threads, 1, 1024)
        kill = check_bool("kill_on_timeout", kill_on_timeout, optional=True)
        self.kill_on_timeout: bool = job_timeout is not None if kill is None else kill
        # what each child's Worker runs with; the supervisor kills a child past a job's time
        # limit first, so the child's own grace is long
        self.worker_options = WorkerOptions(
            concurrency=self.threads, prefetch=prefetch, poll_interval=poll_interval,
            job_timeout=job_timeout, shutdown_timeout=shutdown_timeout, burst=burst,
            max_jobs=check_count("max_jobs_per_child", max_jobs_per_child, 1, 10**12, optional=True),
            timeout_grace=3600.0 if self.kill_on_timeout else 1.0, queues=check_queue_list(queues),
            scheduler=scheduler)
        self.data_dir = None if data_dir is None else str(data_dir)
        self.shards = check_count("shards", shards, 1, 1024, optional=True)
        self.queue_options = options
        o = self.worker_options
        self.poll_interval, self.job_timeout, self.max_jobs_per_child = o.poll_interval, o.job_timeout, o.max_jobs
        self.shutdown_timeout, self.burst, self.prefetch = o.shutdown_timeout, o.burst, o.prefetch
        self.name = name
        self.log_level = log_level
        self.python = python
        self.env = None if env is None else dict(env)
        # A PostgreSQL URL reaches the worker processes in their environment (given `env`; else
        # they inherit this process's), never in their argv, which every user of the host can read.
        self.database_url = None if database_url is None else check_database_url(database_url)
        if self.database_url is not None and self.env is not None:
            self.env["QUEUE_MAX_DATABASE_URL"] = self.database_url
        self.error: str | None = None
        self.exit_code: int | None = None
        self._children: list[Child] = []
        self._stopping = threading.Event()
        self._cold = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: Queue | None = None
        self._board_dir: Path | None = None

    # ── public lifecycle ──
    def start(self) -> None:
        """Start the children and a monitor thread; returns at once."""
        if self._thread is not None:
            raise QueueMaxError("this supervisor was already started")
        self._board_dir = Path(tempfile.mkdtemp(prefix="queue-max-supervisor-"))
        slots = 2 * self.threads + 2  # room for threads that replace abandoned ones
        self._children = [Child(slot, Scoreboard(self._board_dir / f"slot{slot}", slots, create=True))
                          for slot in range(self.processes)]
        self._thread = threading.Thread(target=self._monitor, name=f"queue-max {self.name} supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None, *, cold: bool = False) -> int:
        """Stop every child (gracefully unless `cold`) and return the exit code (see `run`)."""
        if timeout is not None:
            check_seconds("timeout", timeout)
        if cold:
            self._cold.set()
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(None if timeout is None else timeout + 5.0)
        return self.exit_code if self.exit_code is not None else 1

    def run(self, *, handle_signals: bool = True) -> int:
        """Run until stopped (signal, `stop()`, or every child done in `burst` mode).

        Returns 0 after a clean stop, 78 when the handler or queue cannot be loaded (see
        `error`), 1 when some child had to be killed at shutdown."""
        signals = ShutdownSignals(f"supervisor {self.name}", self._stopping.set, self._stop_cold)
        if handle_signals:
            signals.install()
        try:
            self.start()
            while not self._done.wait(0.5):
                pass
            return self.exit_code if self.exit_code is not None else 1
        finally:
            signals.finished()

    def _stop_cold(self) -> None:
        self._cold.set()
        self._stopping.set()

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the supervisor has finished; its exit code, or None on timeout."""
        self._done.wait(check_seconds("timeout", timeout, optional=True))
        return self.exit_code

    @property
    def pids(self) -> list[int]:
        """The process ids of the live children."""
        return [c.proc.pid for c in self._children if c.proc is not None and c.proc.poll() is None]

    def get_stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "processes": self.processes,
            "threads": self.threads,
            "children": [
                {"slot": c.slot, "pid": c.proc.pid if c.proc is not None else None,
                 "alive": c.proc is not None and c.proc.poll() is None, "ready": c.ready,
                 "restarts": c.restarts,
                 "running_jobs": sorted(c.board.running()) if c.proc is not None else []}
                for c in self._children
            ],
            "stopping": self._stopping.is_set(),
            "exit_code": self.exit_code,
            "error": self.error,
        }

    # ── the monitor ──
    def _monitor(self) -> None:
        try:
            code = self._supervise()
        except BaseException:
            log.exception("supervisor %s crashed; stopping the children", self.name)
            self._kill_all()
            code = 1
        finally:
            if self._queue is not None:
                self._queue.close()
            for child in self._children:
                child.board.close()
            if self._board_dir is not None:
                shutil.rmtree(self._board_dir, ignore_errors=True)
        self.exit_code = code
        self._done.set()

    def _supervise(self) -> int:
        while not self._stopping.is_set():
            now = time.monotonic()
            for child in self._children:
                if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                    self._spawn(child)
            self._pump(0.05)
            for child in self._children:
                self._check_child(child)
            if self.error is not None:
                self._shutdown(cold=True)
                return EXIT_CONFIG
            if all(c.proc is None and c.restart_at is None for c in self._children):
                return EXIT_OK  # burst: every child finished
        return self._shutdown(cold=self._cold.is_set())

    # ── children ──
    def _spawn(self, child: Child) -> None:
        config = {
            "data_dir": self.data_dir, "shards": self.shards, "queue_options": self.queue_options,
            "function": self.function, "tasks": self.tasks,
            "worker_options": self.worker_options.as_dict(), "log_level": self.log_level,
        }
        try:
            child.spawn(self.python, self.env, config, f"{self.name}-{child.slot}-")
        except OSError as exc:
            self.error = f"cannot start a worker process with {self.python!r}: {exc}"
            return
        log.info("supervisor %s: started worker process %s (slot %d)", self.name, child.worker_id, child.slot)

    def _pump(self, timeout: float) -> None:
        """Read what the children reported, waiting up to `timeout` seconds for something."""
        fds = {c.control: c for c in self._children if c.control >= 0}
        if not fds:
            time.sleep(timeout)
            return
        try:
            readable, _, _ = select.select(list(fds), [], [], timeout)
        except (OSError, ValueError):
            return
        for fd in readable:
            self._note(fds[fd].read())

    def _note(self, messages: list[tuple[str, str]]) -> None:
        for kind, text in messages:
            if kind == "X" and self.error is None:
                self.error = text

    def _check_child(self, child: Child) -> None:
        proc = child.proc
        if proc is None:
            return
        code = proc.poll()
        if code is None:
            if self.kill_on_timeout and child.killed_for is None:
                job_id = child.overdue(KILL_GRACE)
                if job_id is not None:
                    log.error("supervisor %s: job %d passed its time limit; killing process %d",
                              self.name, job_id, proc.pid)
                    child.killed_for = job_id
                    proc.kill()
            return
        self._note(child.read(final=True))
        self._reap(child, code)

    def _reap(self, child: Child, code: int) -> None:
        running = child.board.running()
        killed_for = child.killed_for
        lived = time.monotonic() - child.started
        child.ended()
        if code == EXIT_CONFIG:
            self.error = self.error or f"worker process exited with code {code} (configuration error)"
            return
        if code not in (EXIT_OK, EXIT_RECYCLE) or running:
            settle(self._parent_queue(), child.worker_id, running, killed_for)
        if self._stopping.is_set() or (code == EXIT_OK and self.burst):
            return
        delay = 0.0
        if code == EXIT_RECYCLE:
            log.info("supervisor %s: recycling worker process (slot %d)", self.name, child.slot)
        elif killed_for is None:
            child.crashes_in_a_row = child.crashes_in_a_row + 1 if lived < 5.0 else 1
            delay = min(10.0, 0.1 * 2 ** (child.crashes_in_a_row - 1))
            log.error("supervisor %s: worker process (slot %d) exited with code %s; restarting in %.1fs",
                      self.name, child.slot, code, delay)
        child.restarts += 1
        child.restart_at = time.monotonic() + delay

    def _parent_queue(self) -> Queue:
        if self._queue is None:
            options = {k: v for k, v in self.queue_options.items() if k != "rate_limit"}
            self._queue = Queue(data_dir=self.data_dir, shards=None if self.database_url else self.shards,
                                rate_limit=0, database_url=self.database_url, **options)
        return self._queue

    # ── stopping ──
    def _live(self) -> list[Child]:
        return [c for c in self._children if c.proc is not None]

    def _signal_all(self, signum: int) -> None:
        for child in self._live():
            child.send(signum)

    def _shutdown(self, cold: bool) -> int:
        """Stop every child: SIGTERM (twice when cold), wait, then SIGKILL what is left."""
        for child in self._children:
            child.restart_at = None
        self._signal_all(signal.SIGTERM)
        if cold:
            time.sleep(0.05)
            self._signal_all(signal.SIGTERM)
        clean = True
        deadline = time.monotonic() + (2.0 if cold else self.shutdown_timeout + 2.0)
        while self._live() and time.monotonic() < deadline:
            if self._cold.is_set() and not cold:
                cold = True
                self._signal_all(signal.SIGTERM)
                deadline = min(deadline, time.monotonic() + 2.0)
            self._pump(0.05)
            for child in self._live():
                assert child.proc is not None
                code = child.proc.poll()
                if code is not None:
                    clean = clean and code in (EXIT_OK, EXIT_RECYCLE, -signal.SIGTERM)
                    self._check_child(child)
        if self._live():
            self._kill_all()
            return 1
        return EXIT_OK if clean else 1

    def _kill_all(self) -> None:
        for child in self._live():
            log.error("supervisor %s: killing worker process %s", self.name, child.worker_id)
            child.kill_and_wait()
            running = child.board.running()
            child.ended()
            child.restart_at = None
            settle(self._parent_queue(), child.worker_id, running, None)

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r} processes={self.processes} threads={self.threads}>"


def _check_what(function: object, tasks: object, data_dir: object, name: object, log_level: object) -> None:
    if function is not None and (not isinstance(function, str) or function.count(":") != 1):
        raise ConfigError(f"function must be a 'package.module:function' string or None, got {function!r}")
    if isinstance(tasks, str) or not isinstance(tasks, Sequence) or not all(isinstance(t, str) and t for t in tasks):
        raise ConfigError(f"tasks must be a list of module names, got {tasks!r}")
    if function is None and not tasks:
        raise ConfigError("give function='package.module:function' or tasks=['module', ...]")
    if data_dir is not None and (not isinstance(data_dir, (str, Path)) or not str(data_dir)):
        raise ConfigError(f"data_dir must be a non-empty str or Path, got {data_dir!r}")
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ConfigError(f"name must be a non-empty str without spaces, got {name!r}")
    if log_level is not None and log_level not in LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LEVELS)} or None, got {log_level!r}")
