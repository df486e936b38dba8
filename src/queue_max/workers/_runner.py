"""One worker thread: claims a batch of jobs, runs them inline, acknowledges them in groups.

Running the batch on the thread that claimed it avoids a thread hand-off per job; the batch is
sized from the measured job duration (about BATCH_TARGET seconds of work, at most `prefetch`
jobs), and a batch that turns out slow gives back its unstarted jobs so other workers get them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .. import tracing
from ..errors import LeaseLost, QueueClosed
from ..handler import JobHandler
from ..models import Job, Lease
from ._acks import Tally, claim, complete, fail, release
from .._context import _CURRENT, JobContext, _Slot
from .errors import JobTimeout

if TYPE_CHECKING:
    from .._scoreboard import Scoreboard
    from ..queue import Queue
    from ._acks import Callbacks
    from ._hub import Hub

__all__ = ["BATCH_TARGET", "FIRST_BATCH", "HOARD_LIMIT", "Host", "Runner"]

log = logging.getLogger("queue_max.workers")
# per-job lines ("job 1234 received", "succeeded in 0.012s"): enable with
# logging.getLogger("queue_max.jobs").setLevel(logging.INFO) (off at the default WARNING)
job_log = logging.getLogger("queue_max.jobs")

FIRST_BATCH = 4  # jobs claimed before their duration is known
BATCH_TARGET = 0.05  # seconds of work claimed at once
HOARD_LIMIT = 0.5  # a batch running longer than this gives its unstarted jobs back
_mono = time.monotonic


class Host(Protocol):
    """What a runner needs from its worker (a `Worker` is one); named here so that this module
    does not import the worker that imports it."""

    queue: Queue
    worker_id: str
    prefetch: int
    max_jobs: int | None
    poll_interval: float
    burst: bool
    ack_interval: float
    queues: tuple[str, ...] | None
    board: Scoreboard | None

    @property
    def hooks(self) -> Callbacks: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def hub(self) -> Hub | None: ...

    @property
    def jobs_started(self) -> int: ...

    def handler_for(self, job: Job) -> JobHandler: ...

    def timeout_of(self, handler: JobHandler) -> float | None: ...

    def request_stop(self) -> None: ...

    def may_start(self) -> bool: ...

    def count_done(self) -> None: ...

    def runner_exited(self, runner: Runner) -> None: ...


class Runner:
    """A thread of a `Worker`. Its fields are read by the heartbeat thread without locks: the
    batch is a deque (atomic pops), the acks list is swapped, never emptied in place."""

    def __init__(self, worker: Host, index: int) -> None:
        self.worker = worker
        self.name = f"{worker.worker_id}#{index}"
        self.waker = threading.Event()
        self.tally = Tally()
        self.batch: deque[Job] = deque()
        self.acks: list[tuple[Job, Any]] = []
        self.flushing: Sequence[tuple[Job, Any]] = ()
        self.ctx: JobContext | None = None
        self.lost: set[Lease] = set()
        self.abandoned = False
        self.replaced = self.exited = False  # guarded by the worker's runners lock
        self.lock = threading.Lock()
        self.per_job: float | None = None  # smoothed seconds per job
        self.first_ack = 0.0
        self.failures = 0  # consecutive storage errors, for the back-off
        self.traces: dict[int, str] | None = None  # stored trace contexts of the batch, when tracing
        self.plain = True  # the batch's jobs run without a span or job log lines (see `_claim`)
        self.gate = worker.hub.writers if worker.hub is not None else threading.Semaphore(1)
        self.board = worker.board
        self.slot = self.board.take_slot() if self.board is not None else None
        self.thread = threading.Thread(target=self.main, name=f"queue-max {self.name}", daemon=True)

    # ── the loop ──
    def main(self) -> None:
        slot = _Slot()
        _CURRENT.set(slot)
        w = self.worker
        try:
            while not w.stopping and not self.abandoned:
                try:
                    if not self._step(slot):
                        break
                except Exception:
                    # a bug or a storage surprise must not stop the worker: hand back what this
                    # thread holds, pause, carry on
                    log.exception("worker %s: unexpected error in %s; carrying on", w.worker_id, self.name)
                    self._wind_down()
                    self.waker.clear()
                    self.waker.wait(1.0)
        except BaseException:
            log.exception("worker %s: runner %s crashed", w.worker_id, self.name)
        finally:
            self._wind_down()
            w.runner_exited(self)

    def _step(self, slot: _Slot) -> bool:
        """Claim and run one batch, or wait for work; False when a burst worker ran out of it."""
        w = self.worker
        hub = w.hub
        assert hub is not None
        seen = hub.gen
        limit = self._limit()
        jobs, pause = self._claim(limit)
        if jobs:
            if len(jobs) >= limit:
                hub.kick()  # there is probably more: wake a sibling
            self._run_batch(jobs, slot)
        elif pause:
            self.waker.clear()
            if not w.stopping:
                self.waker.wait(pause)
        elif w.burst:
            return False
        else:
            hub.wait(seen, w.poll_interval, self.waker, lambda: w.stopping or self.abandoned)
        return True

    def _limit(self) -> int:
        w = self.worker
        per_job = self.per_job
        if per_job is None:
            limit = min(w.prefetch, FIRST_BATCH)
        elif per_job <= 0:
            limit = w.prefetch
        else:
            limit = max(1, min(w.prefetch, int(BATCH_TARGET / per_job)))
        if w.max_jobs is not None:
            limit = max(1, min(limit, w.max_jobs - w.jobs_started))
        return limit

    def _claim(self, limit: int) -> tuple[list[Job], float]:
        """(jobs, seconds to pause before trying again)."""
        w = self.worker
        try:
            jobs, pause = claim(w.queue, w.worker_id, limit, self.failures, self.gate, w.queues)
        except QueueClosed:
            log.warning("worker %s: the queue was closed; stopping", w.worker_id)
            w.request_stop()
            return [], 0.0
        if jobs is None:
            self.failures += 1
            return [], pause
        self.failures = 0
        if jobs and self.lost:
            self.lost = set()
        self.traces = w.queue.trace_contexts([job.id for job in jobs]) if jobs and tracing.active() else None
        # once a batch: no span and no job log lines (that logger's level read per batch, not per job)
        self.plain = self.traces is None and not logging.NOTSET < job_log.level <= logging.INFO
        return jobs, pause

    def _run_batch(self, jobs: list[Job], slot: _Slot) -> None:
        w = self.worker
        batch = self.batch = deque(jobs)
        popleft = batch.popleft
        started = _mono()
        done = 0
        while not w.stopping:
            try:
                job = popleft()
            except IndexError:
                break
            if self.lost and job.lease in self.lost:
                continue
            now = self._run_one(job, slot)
            if now is None:
                return  # abandoned
            done += 1
            acks = self.acks
            if acks and (len(acks) >= w.prefetch or now - self.first_ack >= w.ack_interval):
                self._flush()
            if batch and now - started > HOARD_LIMIT:
                break
        self._flush()
        if batch:
            self._give_back()
        if done:
            sample = (_mono() - started) / done
            self.per_job = sample if self.per_job is None else 0.7 * self.per_job + 0.3 * sample

    def _run_one(self, job: Job, slot: _Slot) -> float | None:
        """Run one job; returns the monotonic time it ended, or None if the runner was abandoned."""
        w = self.worker
        try:
            handler = w.handler_for(job)
        except Exception as exc:
            fail(w.queue, job, exc, self.tally, w.hooks)
            return _mono()
        if w.max_jobs is not None and not w.may_start():
            release(w.queue, [job], self.tally, self.name)  # past max_jobs: never started, not counted
            return _mono()
        timeout = w.timeout_of(handler)
        ctx = JobContext(job, w.worker_id, timeout, w.queue)
        lock = self.lock
        lock.acquire()  # not `with`: see the end of this method
        abandoned = self.abandoned
        if not abandoned:
            self.ctx = slot.ctx = ctx
        lock.release()
        if abandoned:
            release(w.queue, [job], self.tally, self.name)
            return None
        board = self.board
        began = _mono()
        if board is not None:
            # from here the attempt counts, even if the process dies (see `_scoreboard`)
            board.begin(self.slot, job.id, job.lease_token, timeout, began)
        hooks = w.hooks
        if hooks.start is not None:
            hooks.call(hooks.start, job.id, job.payload)
            began = _mono()
        try:
            if self.plain:
                result, error = _call(handler, job.payload)  # no span, no log lines: one call less
            else:
                result, error = self._traced_call(handler, job)
        except BaseException:
            self._interrupted(job, slot)
            raise
        finally:
            if board is not None:
                board.end(self.slot)
        now = _mono()
        self.tally.runtime += now - began
        ctx.done = True
        late = ctx._deadline is not None and now > ctx._deadline
        # acquire/release rather than `with` (nothing in between can raise): `with` looks up
        # and binds __enter__ and __exit__ each time (-2.2k instructions a job for the two,
        # one runner thread under callgrind)
        lock.acquire()
        self.ctx = slot.ctx = None
        if self.abandoned:
            lock.release()
            return None
        if error is None and not late:
            acks = self.acks
            if not acks:
                self.first_ack = now
            acks.append((job, result))
        lock.release()
        if error is None and not late:
            if w.max_jobs is not None:
                w.count_done()
            return now
        self._failed(job, handler, ctx, error, late)
        return now

    def _traced_call(self, handler: JobHandler, job: Job) -> tuple[Any, Exception | None]:
        """Run the handler, inside a CONSUMER span when tracing is on, and log the job at INFO
        on `queue_max.jobs` when the application set that logger's level to INFO (off by default)."""
        # on only when the application set this logger's own level (root at INFO is not enough)
        logged = logging.NOTSET < job_log.level <= logging.INFO
        if logged:
            job_log.info("job %d received (task %s, attempt %d)", job.id, _task_name(job), job.tentativas)
            started = _mono()
        if self.traces is None:
            result, error = _call(handler, job.payload)
        else:
            with tracing.consumer_span(job.queue_name, job.id, job.tentativas, self.traces.pop(job.id, None)) as span:
                result, error = _call(handler, job.payload)
                if error is not None:
                    tracing.record_failure(span, error)
        if logged:
            if error is None:
                job_log.info("job %d succeeded in %.3fs", job.id, _mono() - started)
            else:
                job_log.info("job %d failed in %.3fs: %s: %s", job.id, _mono() - started, type(error).__name__, error)
        return result, error

    def _failed(self, job: Job, handler: JobHandler, ctx: JobContext, error: Exception | None, late: bool) -> None:
        w = self.worker
        if late and not isinstance(error, LeaseLost):
            self.tally.timed_out += 1
            if not isinstance(error, JobTimeout):
                detail = "it finished late" if error is None else f"it then raised {type(error).__name__}: {error}"
                timeout_error = JobTimeout(job.id, ctx.timeout or 0.0, detail)
                timeout_error.__cause__ = error
                error = timeout_error
        assert error is not None
        w.count_done()
        fail(w.queue, job, error, self.tally, w.hooks, handler=handler)

    def _interrupted(self, job: Job, slot: _Slot) -> None:
        """A handler raised SystemExit/KeyboardInterrupt: give its job back and stop the worker."""
        with self.lock:
            self.ctx = slot.ctx = None
            mine = not self.abandoned
        if mine:
            release(self.worker.queue, [job], self.tally, self.name)
        self.worker.request_stop()

    # ── acknowledging and giving back ──
    def _flush(self) -> None:
        with self.lock:
            acks = self.acks
            if not acks or self.abandoned:
                return
            self.acks = []
            self.flushing = acks
        w = self.worker
        try:
            ok = complete(w.queue, acks, self.tally, w.hooks, self.gate)
        finally:
            self.flushing = ()
        if ok:
            if w.queue.closed:  # the outcomes could not be recorded: run no more of the batch
                w.request_stop()
            return
        with self.lock:
            self.acks[:0] = acks  # storage was busy: keep them (and their heartbeats) for later

    def _give_back(self) -> None:
        jobs = _drain(self.batch)
        if jobs:
            release(self.worker.queue, jobs, self.tally, self.name)
            hub = self.worker.hub
            if hub is not None:
                hub.kick(len(jobs))

    def _wind_down(self) -> None:
        if self.abandoned:
            return
        self._give_back()
        for _attempt in range(3):
            self._flush()
            if not self.acks:
                break
            time.sleep(0.1)

    # ── called from other threads ──
    def held_jobs(self) -> list[Job]:
        jobs = list(self.batch)
        ctx = self.ctx
        if ctx is not None:
            jobs.append(ctx.job)
        jobs.extend(job for job, _ in list(self.acks))
        jobs.extend(job for job, _ in self.flushing)
        return jobs

    def leases_lost(self, lost: set[Lease]) -> None:
        self.lost = self.lost | lost
        ctx = self.ctx
        if ctx is not None and ctx.job.lease in lost:
            log.warning("worker %s: job %d lost its lease while running; its result will be refused",
                        self.worker.worker_id, ctx.job.id)
            ctx.cancel("lost")

    def abandon(self, reason: str) -> tuple[JobContext | None, list[Job], list[tuple[Job, Any]]]:
        """Take over everything this runner holds; it exits without touching them again.

        Returns (the running job's context, unstarted jobs, finished jobs awaiting their ack)."""
        with self.lock:
            if self.abandoned:
                return None, [], []
            self.abandoned = True
            ctx, self.ctx = self.ctx, None
            acks, self.acks = self.acks, []
        stolen = _drain(self.batch)
        if ctx is not None:
            ctx.cancel(reason)
        self.waker.set()
        return ctx, stolen, acks


def _task_name(job: Job) -> str:
    payload = job.payload
    task = payload.get("__task__") if isinstance(payload, dict) else None
    return task if isinstance(task, str) else "-"


def _drain(batch: deque[Job]) -> list[Job]:
    """Pop everything, racing safely with the runner's popleft (each pop is atomic)."""
    jobs: list[Job] = []
    while True:
        try:
            jobs.append(batch.pop())
        except IndexError:
            return jobs


def _call(handler: JobHandler, payload: dict[str, Any]) -> tuple[Any, Exception | None]:
    """(result, None) or (None, the exception); a coroutine handler runs to completion."""
    try:
        # a plain JobHandler's __call__ only calls fn: calling fn skips a Python frame and the
        # instance-call slot (-0.7k instructions a job: one runner thread under callgrind, 22.2k -> 21.5k)
        result = handler.fn(payload) if type(handler) is JobHandler else handler(payload)
        if result is not None and inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
    except Exception as exc:
        return None, exc
    return result, None


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
