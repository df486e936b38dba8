"""Worker: runs jobs from a Queue in background threads, with leases kept alive and grouped acks."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .._scoreboard import Scoreboard, drop_board, open_board
from ..errors import ConfigError
from ..handler import JobHandler
from ..models import Job, Lease
from ..tasks.dispatch import worker_task_handler
from ._acks import Tally, complete, fail, release
from ._base import BaseWorker, WorkerState
from ._runner import Runner
from .errors import JobTimeout

__all__ = ["Worker"]

log = logging.getLogger("queue_max.workers")


class Worker(BaseWorker):
    """Runs `process_function(payload)` for each job, in `concurrency` threads (default 1).

    `Worker(worker_id, process_function, queue, poll_interval=1.0, job_timeout=None,
    on_job_start=None, on_job_complete=None, on_job_error=None)` as in queue-max 0.1.1, plus
    keyword-only tuning: `concurrency`, `prefetch` (most jobs a thread claims at once),
    `shutdown_timeout`, `handle_signals`, `max_jobs`, `burst`, `ack_interval`, `timeout_grace`.

    Delivery is at least once: a job runs again if its worker dies before acknowledging it.
    A job over `job_timeout` is recorded as a `JobTimeout` failure and retried per the policy;
    the thread itself cannot be killed, so the handler is asked to stop (`current_job()`), and a
    handler that ignores that for `timeout_grace` seconds is abandoned and its thread replaced.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runners: list[Runner] = []
        self._retired: list[Tally] = []
        self._runners_lock = threading.Lock()
        self._live = 0  # runners not yet exited (abandoned ones excluded)
        self._min_timeout = self.job_timeout
        self.board: Scoreboard | None = None  # the jobs each runner has started, see `record_on`
        self._own_board = True
        self._tasks_direct = False  # set at start: see `handler_for`

    def record_on(self, board: Scoreboard) -> None:
        """Write started jobs into `board` (a supervisor's) instead of a board of its own."""
        if not isinstance(board, Scoreboard):
            raise ConfigError(f"board must be a queue_max._scoreboard.Scoreboard, got {board!r:.60}")
        self.board, self._own_board = board, False

    # ── runners ──
    def _launch(self) -> None:
        self._tasks_direct = (self._fixed is None and self.fallback is None and self.wrapper is None
                              and type(self).resolve_handler is BaseWorker.resolve_handler)
        if self._own_board:
            self._open_board()
        with self._runners_lock:
            self._retired.extend(r.tally for r in self._runners)
            self._runners = [Runner(self, k) for k in range(self.concurrency)]
            self._live = len(self._runners)
            runners = list(self._runners)
        for runner in runners:
            runner.thread.start()

    def _open_board(self) -> None:
        """A scoreboard in the queue's local directory, so that whoever recovers this process's
        leases after a crash charges an attempt only to the jobs it had started."""
        self._close_board()
        local = self.queue.backend.local_dir
        if local is None:
            return  # no directory every process shares: recovery charges every held job
        try:
            # room for the threads that replace hung ones; past it the board says it is incomplete
            self.board = open_board(local, self.worker_id, self.concurrency + 8)
        except (OSError, ValueError) as exc:
            log.warning("worker %s: cannot write its scoreboard under %s (%s); if it dies, every job "
                        "it holds will be charged an attempt", self.worker_id, local, exc)

    def _close_board(self) -> None:
        board, self.board = self.board, None
        if board is not None:
            drop_board(board)

    def _finish(self, clean: bool) -> None:
        if self._own_board:
            self._close_board()  # nothing is held any more: nothing for recovery to read
        super()._finish(clean)

    def _wake_runners(self) -> None:
        for runner in self._runners:
            runner.waker.set()

    def _wait_runners(self, deadline: float) -> bool:
        while True:
            alive = [r for r in self._runners if r.thread.is_alive()]
            if not alive:
                return True
            left = deadline - time.monotonic()
            if left <= 0 or self._cold.is_set():
                return False
            alive[0].thread.join(min(left, 0.05))

    def _abandon_all(self) -> None:
        for runner in list(self._runners):
            if runner.thread.is_alive():
                ctx, unstarted, acks = runner.abandon("shutdown")
                if acks:
                    complete(self.queue, acks, runner.tally, self._hooks)
                held = unstarted + ([ctx.job] if ctx is not None else [])
                release(self.queue, held, runner.tally, runner.name)

    def _on_runner_thread(self) -> bool:
        current = threading.current_thread()
        return any(r.thread is current for r in self._runners)

    def runner_exited(self, runner: Runner) -> None:
        with self._runners_lock:
            runner.exited = True
            if runner.replaced:
                return  # its replacement holds its place
            self._live -= 1
            last = self._live == 0
        if last and self._state is not WorkerState.STOPPED:
            self._runners_done()

    # ── dispatch ──
    def handler_for(self, job: Job) -> JobHandler:
        # called for every job: with nothing configured to route jobs otherwise (no
        # process_function, fallback, wrapper or own resolve_handler), a task job's handler is
        # the task's one worker handler (see `worker_task_handler`); else the base's rule
        fixed = self._fixed
        if fixed is not None:
            return fixed
        if self._tasks_direct:
            return worker_task_handler(job.payload)
        return super().handler_for(job)

    # ── time limits (called by the hub's keeper thread) ──
    def timeout_of(self, handler: JobHandler) -> float | None:
        # called for every job: the base's rule written out (no super() call for a handler
        # without a time limit of its own, the common case)
        own = handler.timeout
        if own is None:
            return self.job_timeout
        if self._min_timeout is None or own < self._min_timeout:
            self._min_timeout = own
            if self._hub is not None:
                self._hub.nudge()  # the keeper must look at time limits this often from now on
        return own

    def check_time_limits(self, now: float) -> float | None:
        if self._min_timeout is None:
            return None
        for runner in list(self._runners):
            ctx = runner.ctx
            if ctx is None or ctx._deadline is None or ctx.done or now < ctx._deadline:
                continue
            if ctx._reason is None:
                log.warning("worker %s: job %d passed its %gs time limit; asking it to stop (a thread "
                            "cannot be killed)", self.worker_id, ctx.job.id, ctx.timeout)
                ctx.cancel("timeout")
            elif ctx._reason == "timeout" and now >= ctx._deadline + self.timeout_grace:
                self._replace_hung(runner)
        return max(0.01, min(0.5, min(self._min_timeout, self.timeout_grace or 1.0) / 4))

    def _replace_hung(self, runner: Runner) -> None:
        """A handler ignored its time limit: record the timeout, abandon its thread, start another."""
        ctx, unstarted, acks = runner.abandon("timeout")
        if ctx is None:
            return
        log.error("worker %s: job %d still running %.1fs past its time limit; abandoning its thread "
                  "and starting another", self.worker_id, ctx.job.id, self.timeout_grace)
        if acks:
            complete(self.queue, acks, runner.tally, self._hooks)
        runner.tally.timed_out += 1
        error = JobTimeout(ctx.job.id, ctx.timeout or 0.0,
                           f"the handler did not stop within {self.timeout_grace:g}s; its thread was abandoned")
        fail(self.queue, ctx.job, error, runner.tally, self._hooks)
        release(self.queue, unstarted, runner.tally, runner.name)
        with self._runners_lock:
            if self._state is not WorkerState.RUNNING or runner not in self._runners or runner.exited:
                return
            runner.replaced = True
            index = self._runners.index(runner)
            replacement = Runner(self, len(self._runners) + len(self._retired))
            self._runners[index] = replacement
            self._retired.append(runner.tally)
        replacement.thread.start()

    # ── what the hub and get_stats read ──
    def held_jobs(self) -> list[Job]:
        return [job for runner in list(self._runners) for job in runner.held_jobs()]

    def leases_lost(self, lost: set[Lease]) -> None:
        for runner in list(self._runners):
            runner.leases_lost(lost)

    def _tallies(self) -> list[Tally]:
        return [*self._retired, *(r.tally for r in self._runners)]

    def _current_jobs(self) -> list[Job]:
        jobs = []
        for runner in list(self._runners):
            ctx = runner.ctx
            if ctx is not None:
                jobs.append(ctx.job)
        return jobs
