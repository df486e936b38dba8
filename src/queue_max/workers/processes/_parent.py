"""A worker process of the Supervisor: starting it, reading its pipe and scoreboard, and settling
the jobs it held when it dies."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import queue_max

from ...errors import LeaseLost, QueueMaxError
from ...models import JobStatus
from ...queue import Queue
from ..errors import JobTimeout
from ..._scoreboard import Scoreboard

__all__ = ["Child", "settle"]

log = logging.getLogger("queue_max.workers")

# The child imports queue_max from where this process did, just after its own directory.
_SRC = str(Path(queue_max.__file__).resolve().parent.parent)
_BOOT = ("import sys; sys.path.insert(1, sys.argv.pop(1)); "
         "from queue_max.workers.processes._child import main; sys.exit(main(sys.argv))")


class Child:
    """One slot of the supervisor: the process in it now, its pipe, and its scoreboard."""

    def __init__(self, slot: int, board: Scoreboard) -> None:
        self.slot = slot
        self.board = board
        self.proc: subprocess.Popen[bytes] | None = None
        self.control = -1
        self.buffer = b""
        self.worker_id = ""
        self.started = 0.0
        self.restarts = 0
        self.crashes_in_a_row = 0
        self.restart_at: float | None = 0.0
        self.killed_for: int | None = None
        self.ready = False

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, python: str, env: dict[str, str] | None, config: dict[str, Any], prefix: str) -> None:
        """Start a process in this slot (raises OSError if the interpreter cannot start)."""
        read_end, write_end = os.pipe()
        self.board.clear()
        config = {**config, "control_fd": write_end, "scoreboard": str(self.board.path),
                  "slots": self.board.slots, "worker_prefix": prefix}
        try:
            self.proc = subprocess.Popen(
                [python, "-c", _BOOT, _SRC, json.dumps(config)],
                stdin=subprocess.PIPE, pass_fds=(write_end,), env=env, start_new_session=True,
            )
        except OSError:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        os.set_blocking(read_end, False)
        self.control, self.buffer = read_end, b""
        self.worker_id = f"{prefix}{self.proc.pid}"
        self.started = time.monotonic()
        self.restart_at = None
        self.ready = False

    def read(self, *, final: bool = False) -> list[tuple[str, str]]:
        """The messages (kind, text) the child wrote; `final` (it exited): all, then close."""
        messages: list[tuple[str, str]] = []
        while self.control >= 0:
            try:
                data = os.read(self.control, 65536)
            except BlockingIOError:
                if not final:
                    break
                data = b""
            except OSError:
                data = b""
            if not data:
                os.close(self.control)
                self.control = -1
                break
            lines = (self.buffer + data).split(b"\n")
            self.buffer = lines.pop()
            for line in lines:
                kind, _, rest = line.decode(errors="replace").partition(" ")
                messages.append((kind, rest))
                self.ready = self.ready or kind == "R"
        return messages

    def overdue(self, grace: float) -> int | None:
        """A job this child runs that passed its time limit by `grace` seconds, or None."""
        now = time.monotonic()
        for job_id, (_started, deadline) in self.board.running().items():
            if deadline and now > deadline + grace:
                return job_id
        return None

    def send(self, signum: int) -> None:
        if self.proc is not None:
            try:
                self.proc.send_signal(signum)
            except OSError:
                pass

    def kill_and_wait(self) -> None:
        self.send(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        self.read(final=True)

    def ended(self) -> None:
        """The process exited: forget it (the caller settles its jobs first)."""
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc = None
        self.killed_for = None


def settle(queue: Queue, worker_id: str, running: dict[int, tuple[float, float]], killed_for: int | None) -> None:
    """Settle the jobs a dead child held (`running`: its scoreboard at death).

    Killed for a time limit: that job fails with `JobTimeout`, the rest is released untouched.
    Crashed: the running jobs count the attempt (one of them may be the cause), the others are
    released untouched."""
    try:
        held = [job for job in queue.list_jobs(JobStatus.PROCESSING, limit=1_000_000) if job.worker_id == worker_id]
        for job in held:
            try:
                if job.id == killed_for:
                    started, deadline = running.get(job.id, (0.0, 0.0))
                    error = JobTimeout(job.id, max(0.0, deadline - started), "its worker process was killed")
                    queue.fail_job(job.id, error=error, lease=job.lease)
                elif killed_for is not None or job.id not in running:
                    queue.release_job(job.id, lease=job.lease)
            except LeaseLost:
                pass
        # what is left was running when the child crashed: end those leases now and recover
        # them, the attempt counted
        queue.expire_leases(worker_id)
        queue.recover_orphans()
    except QueueMaxError:
        log.warning("could not settle the jobs of %s; they come back when their leases expire", worker_id,
                    exc_info=True)
