"""What thread and asyncio workers share: configuration, lifecycle, signals and statistics."""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError, QueueMaxError
from ..models import Job, Lease, WorkerPresence
from ..queue import Queue
from ._acks import Callbacks, Tally
from ..handler import Handler, JobHandler
from ..tasks import Scheduler, is_task_payload, start_registered_scheduler
from ..tasks import resolve_handler as resolve_task
from ._hub import Hub, attach, detach
from ._signals import ShutdownSignals
from .._validate import check_bool, check_callable, check_instance, check_seconds, check_worker_id
from .options import WorkerOptions

__all__ = ["BaseWorker", "WorkerState"]

log = logging.getLogger("queue_max.workers")
_HOST = socket.gethostname()

UNSET: Any = object()  # a tuning keyword that was not given: the `options` value (or default) holds
_TUNING = frozenset(f.name for f in dataclasses.fields(WorkerOptions))


class WorkerState(str, enum.Enum):
    """Where a worker is in its life (`get_stats()["state"]` holds the value)."""

    CREATED = "created"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


class BaseWorker:
    """Configuration, start/stop, signals and statistics; subclasses say how jobs run."""

    _default_concurrency = 1

    def __init__(
        self,
        worker_id: str,
        process_function: Handler | None = None,
        queue: Queue | None = None,
        poll_interval: float | None = None,
        job_timeout: float | None = None,
        on_job_start: Callable[[str, int, dict[str, Any]], Any] | None = None,
        on_job_complete: Callable[[str, int, Any], Any] | None = None,
        on_job_error: Callable[[str, int, BaseException, bool], Any] | None = None,
        *,
        options: WorkerOptions | None = None,
        fallback: Handler | None = None,
        wrapper: Callable[[Handler], Handler] | None = None,
        concurrency: int | None = UNSET,
        prefetch: int = UNSET,
        shutdown_timeout: float = UNSET,
        handle_signals: bool | None = UNSET,
        max_jobs: int | None = UNSET,
        burst: bool = UNSET,
        ack_interval: float = UNSET,
        timeout_grace: float = UNSET,
        queues: Sequence[str] | str | None = UNSET,
        scheduler: bool = UNSET,
    ) -> None:
        if options is not None and not isinstance(options, WorkerOptions):
            raise ConfigError(f"options must be a WorkerOptions or None, got {options!r:.60}")
        given = {name: value for name, value in locals().items() if name in _TUNING and value is not UNSET}
        for name in ("poll_interval", "job_timeout"):  # positional in 0.1.1: None = not given
            if given.get(name, UNSET) is None:
                del given[name]
        self.options = (options or WorkerOptions()).replace(**given)
        self.worker_id = check_worker_id(worker_id)
        self.process_function: Handler | None = check_callable("process_function", process_function)
        self.fallback: Handler | None = check_callable("fallback", fallback)
        self.wrapper: Callable[[Handler], Handler] | None = check_callable("wrapper", wrapper)
        self.queue = self._check_queue(queue)
        o = self.options
        self.poll_interval = o.poll_interval
        self.job_timeout: float | None = o.job_timeout
        self.concurrency: int = self._default_concurrency if o.concurrency is None else o.concurrency
        self.prefetch: int = o.prefetch
        self.shutdown_timeout = o.shutdown_timeout
        self.handle_signals: bool | None = o.handle_signals
        self.max_jobs: int | None = o.max_jobs
        self.burst: bool = o.burst
        self.ack_interval = o.ack_interval
        self.timeout_grace = o.timeout_grace
        self.queues: tuple[str, ...] | None = o.queues
        self._hooks = Callbacks(
            self.worker_id,
            check_callable("on_job_start", on_job_start),
            check_callable("on_job_complete", on_job_complete),
            check_callable("on_job_error", on_job_error),
        )
        self._fixed = None if process_function is None else JobHandler(process_function).wrapped(wrapper)
        self._init_lifecycle()

    def _init_lifecycle(self) -> None:
        self._state = WorkerState.CREATED
        self._lifecycle = threading.Lock()
        self._stop_lock = threading.Lock()
        self._stopping = False
        self._cold = threading.Event()
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._clean = True
        self._hub: Hub | None = None
        self._signals: ShutdownSignals | None = None
        self._started_at: float | None = None
        self._started_wall: float | None = None
        self._stopped_at: float | None = None
        self._scheduler: Scheduler | None = None
        self.last_heartbeat_at: float | None = None  # epoch seconds the hub last extended our leases
        self._jobs_done = 0
        self._jobs_started = 0  # handlers started: what `max_jobs` counts (prefetched jobs do not)
        self._budget_lock = threading.Lock()

    @staticmethod
    def _check_queue(queue: object) -> Queue:
        if queue is None:
            raise ConfigError("queue is required: pass the queue_max.Queue the worker takes jobs from")
        checked = check_instance("queue", queue, Queue, "a queue_max.Queue")
        beat, lease = checked.options.heartbeat_interval, checked.options.lease_timeout
        if beat >= lease:
            raise ConfigError(
                f"the queue's heartbeat_interval ({beat}s) must be shorter than its lease_timeout "
                f"({lease}s), or leases of running jobs expire between heartbeats"
            )
        return checked

    # ── what subclasses provide ──
    def _launch(self) -> None:
        raise NotImplementedError

    def _wake_runners(self) -> None:
        raise NotImplementedError

    def _wait_runners(self, deadline: float) -> bool:
        """Wait until every runner has exited, or the deadline passes, or a cold stop; True if all exited."""
        raise NotImplementedError

    def _abandon_all(self) -> None:
        """Give up on what still runs: release its jobs (not failed), record finished ones."""
        raise NotImplementedError

    def _on_runner_thread(self) -> bool:
        raise NotImplementedError

    def _tallies(self) -> list[Tally]:
        raise NotImplementedError

    def _current_jobs(self) -> list[Job]:
        raise NotImplementedError

    def held_jobs(self) -> list[Job]:
        """Every job this worker holds a lease on (running, prefetched, or waiting for its ack)."""
        raise NotImplementedError

    def leases_lost(self, lost: set[Lease]) -> None:
        raise NotImplementedError

    def check_time_limits(self, now: float) -> float | None:
        return None

    # ── dispatch ──
    def resolve_handler(self, job: Job) -> JobHandler | Handler:
        """What runs `job`: `process_function` for every job when there is one; otherwise a task
        job runs its registered task and any other job `fallback`.

        Override to route jobs yourself, returning a `JobHandler` (or a plain callable); raising
        `NoHandler` (or any `Permanent`) dead-letters the job.
        """
        if self.process_function is not None:
            return self.process_function
        if self.fallback is not None and not is_task_payload(job.payload):
            return self.fallback
        return resolve_task(job)

    def handler_for(self, job: Job) -> JobHandler:
        """`resolve_handler(job)` as a `JobHandler`, with `wrapper` applied: what the runners call."""
        if self._fixed is not None:
            return self._fixed
        return JobHandler.of(self.resolve_handler(job)).wrapped(self.wrapper)

    def timeout_of(self, handler: JobHandler) -> float | None:
        """The handler's own time limit, else the worker's `job_timeout`."""
        return self.job_timeout if handler.timeout is None else handler.timeout

    # ── lifecycle ──
    @property
    def state(self) -> WorkerState:
        return self._state

    @property
    def is_running(self) -> bool:
        """True from `start()` until `stop()` has finished (also while stopping)."""
        return self._state in (WorkerState.RUNNING, WorkerState.STOPPING)

    @property
    def is_idle(self) -> bool:
        """Running and holding no job (nothing running, prefetched or waiting for its ack)."""
        return self._state is WorkerState.RUNNING and not self.held_jobs()

    def start(self, *, handle_signals: bool | None = None) -> None:
        """Start processing in background threads and return at once (no-op if running).

        With `handle_signals` (default: the constructor's, else False), SIGTERM/SIGINT in the main
        thread stop the worker gracefully; a second signal stops it at once.
        """
        signals = check_bool("handle_signals", handle_signals, optional=True)
        if signals is None:
            signals = bool(self.handle_signals)
        held: ShutdownSignals | None = None
        with self._lifecycle:
            if self._state is WorkerState.RUNNING:
                return
            if self._state is WorkerState.STOPPING:
                raise QueueMaxError(f"worker {self.worker_id} is stopping; wait for stop() to return first")
            self._stopping = False
            self._clean = True
            for event in (self._cold, self._stop_requested, self._stopped):
                event.clear()
            if signals:
                # Taken over before the first job can start, held (only noted) while this lock is
                # held, since stopping takes it; acted on below. Installed after the launch, a
                # SIGTERM sent once a job had started could still meet the default handler,
                # which kills the process with its jobs unreleased.
                held = self._signals = ShutdownSignals(f"worker {self.worker_id}", self._graceful_signal,
                                                       self._cold.set)
                held.install(held=True)
            try:
                self._started_at, self._stopped_at = time.monotonic(), None
                self._started_wall = self.queue.clock.time()
                self._hub = attach(self.queue, self)
                self._state = WorkerState.RUNNING
                self._announce(True)
                self._launch()
                if self.options.scheduler:
                    self._scheduler = start_registered_scheduler(self.queue)
            except BaseException:
                if held is not None:
                    held.finished()
                raise
        if held is not None:
            held.release()

    def request_stop(self) -> None:
        """Stop claiming jobs and let running ones finish; returns at once (see `stop`)."""
        with self._lifecycle:
            if self._state is not WorkerState.RUNNING:
                return
            self._state = WorkerState.STOPPING
            self._stopping = True
        self._stop_requested.set()
        self._wake_runners()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop gracefully: claim nothing more, give back prefetched jobs, let running jobs finish
        for up to `timeout` seconds (default `shutdown_timeout`), then release the rest.

        Returns True if every running job finished in time. Released jobs are claimable by other
        workers at once; a handler still running in an abandoned thread cannot complete its job.
        """
        grace = self.shutdown_timeout if timeout is None else check_seconds("timeout", timeout)
        self.request_stop()
        if self._on_runner_thread():
            return False  # called from a handler: it cannot wait for itself
        with self._stop_lock:
            if self._state is not WorkerState.STOPPING:
                return self._clean
            clean = self._wait_runners(time.monotonic() + grace)
            if not clean:
                running = len(self._current_jobs())
                if self._cold.is_set():
                    log.warning("worker %s: stopped at once by a second signal; %d running job%s "
                                "released untouched", self.worker_id, running, "" if running == 1 else "s")
                else:
                    log.warning("worker %s: %d job%s still running after the %.1fs grace period "
                                "released untouched", self.worker_id, running, "" if running == 1 else "s", grace)
                self._abandon_all()
            self._finish(clean)
        return clean

    def _finish(self, clean: bool) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.stop()
        hub, self._hub = self._hub, None
        if hub is not None:
            detach(hub, self)
            self._announce(False)
        if self._signals is not None:
            self._signals.finished()
        self._clean = clean
        self._stopped_at = time.monotonic()
        self._state = WorkerState.STOPPED
        self._stopped.set()

    def _graceful_signal(self) -> None:
        self.request_stop()
        if threading.current_thread() is threading.main_thread() and not self._blocking_run:
            # a signal handler must not block: stop in the background
            threading.Thread(target=self.stop, name=f"queue-max stop {self.worker_id}", daemon=True).start()

    _blocking_run = False

    def run(self, *, handle_signals: bool = True) -> bool:
        """Process jobs until stopped (by a signal, `stop()`, `burst` or `max_jobs`); blocking.

        Returns what `stop()` returned: True if no running job had to be released.
        """
        self._blocking_run = True
        try:
            self.start(handle_signals=handle_signals)
            while not self._stop_requested.wait(0.5):
                pass
            return self.stop()
        finally:
            self._blocking_run = False

    run_forever = run

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker has stopped (e.g. a `burst` worker ran out of work); True if it has."""
        limit = check_seconds("timeout", timeout, optional=True)
        return self._stopped.wait(limit)

    def _runners_done(self) -> None:
        """Every runner has exited (stop, burst, max_jobs, closed queue): finish the stop, which
        a `stop()` called from a handler could not do."""
        self.request_stop()
        threading.Thread(target=self.stop, name=f"queue-max stop {self.worker_id}", daemon=True).start()

    # ── what the runners read (public names: `_runner.Host` is typed by them) ──
    @property
    def hooks(self) -> Callbacks:
        return self._hooks

    @property
    def stopping(self) -> bool:
        """True once a stop was requested: claim nothing more."""
        return self._stopping

    @property
    def hub(self) -> Hub | None:
        return self._hub

    @property
    def jobs_started(self) -> int:
        """Handlers started so far (what `max_jobs` counts)."""
        return self._jobs_started

    def may_start(self) -> bool:
        """Whether one more handler may start under `max_jobs`; the one that reaches it asks the
        worker to stop (it still runs), and any later job is to be released untouched."""
        if self.max_jobs is None:
            return True
        with self._budget_lock:
            if self._jobs_started >= self.max_jobs:
                return False
            self._jobs_started += 1
            last = self._jobs_started >= self.max_jobs
        if last:
            self.request_stop()
        return True

    def count_done(self) -> None:
        self._jobs_done += 1  # the GIL keeps this close enough; only used for max_jobs
        if self.max_jobs is not None and self._jobs_done >= self.max_jobs:
            self.request_stop()

    # ── the worker registry ──
    def presence(self, now: float) -> WorkerPresence:
        """This worker's record for the worker registry (see `Queue.workers`), as of `now`."""
        return WorkerPresence(self.worker_id, _HOST, os.getpid(), type(self).__name__, self.queues,
                              self.concurrency, len(self._current_jobs()), self._started_wall or now, now)

    def _announce(self, alive: bool) -> None:
        """Register this worker as it starts (the hub refreshes it every heartbeat) or remove it
        as it stops; a storage error is logged, never raised: a worker must not die of it."""
        try:
            if alive:
                self.queue.report_workers([self.presence(self.queue.clock.time())])
            else:
                self.queue.withdraw_workers([self.presence(self.queue.clock.time())])
        except QueueMaxError:
            log.warning("worker %s: could not %s the worker registry", self.worker_id,
                        "register in" if alive else "leave", exc_info=True)

    # ── inspection ──
    def get_current_job(self) -> Job | None:
        """The job this worker is running now (the first of them with concurrency > 1), or None."""
        jobs = self._current_jobs()
        return jobs[0] if jobs else None

    def get_stats(self) -> dict[str, Any]:
        """The reference's fields (worker_id, state, is_running, processed, failed, retried,
        started_at and last_heartbeat_at (epoch seconds or None), total_runtime_seconds (time
        in handlers), throughput_jobs_per_hour, uptime_seconds, current_job_id) plus lost, released, timed_out,
        in_flight, concurrency, prefetch and current_job_ids."""
        tallies = self._tallies()
        processed = sum(t.processed for t in tallies)
        uptime = 0.0
        if self._started_at is not None:
            uptime = (self._stopped_at or time.monotonic()) - self._started_at
        current = [job.id for job in self._current_jobs()]
        return {
            "worker_id": self.worker_id,
            "state": self._state.value,
            "is_running": self.is_running,
            "processed": processed,
            "failed": sum(t.failed for t in tallies),
            "retried": sum(t.retried for t in tallies),
            "throughput_jobs_per_hour": processed / uptime * 3600.0 if uptime > 0 else 0.0,
            "uptime_seconds": uptime,
            "current_job_id": current[0] if current else None,
            "started_at": self._started_wall,
            "last_heartbeat_at": self.last_heartbeat_at,
            "total_runtime_seconds": sum(t.runtime for t in tallies),
            "current_job_ids": current,
            "in_flight": len(self.held_jobs()) if self.is_running else 0,
            "lost": sum(t.lost for t in tallies),
            "released": sum(t.released for t in tallies),
            "timed_out": sum(t.timed_out for t in tallies),
            "concurrency": self.concurrency,
            "prefetch": self.prefetch,
        }

    def clone(self, worker_id: str) -> Any:
        """A new, not started worker with this one's configuration and another id."""
        return type(self)(worker_id, **self._clone_arguments())

    def _clone_arguments(self) -> dict[str, Any]:
        """What `clone()` passes to the constructor; a subclass with another signature overrides it."""
        hooks = self._hooks
        return {"process_function": self.process_function, "queue": self.queue, "options": self.options,
                "fallback": self.fallback, "wrapper": self.wrapper, "on_job_start": hooks.start,
                "on_job_complete": hooks.complete, "on_job_error": hooks.error}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.worker_id!r} {self._state.value} concurrency={self.concurrency}>"
