"""AsyncWorker: runs coroutine handlers on its own event loop thread, `concurrency` at a time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .. import tracing
from ..errors import QueueClosed
from ..handler import JobHandler
from ..models import Job, Lease
from ._acks import Tally, claim, complete, fail, release
from ._base import BaseWorker, WorkerState
from ._hub import SAFETY_FACTOR
from .._context import _CURRENT, JobContext, _Slot
from .errors import JobTimeout

__all__ = ["AsyncWorker"]

log = logging.getLogger("queue_max.workers")
T = TypeVar("T")
ABANDON_WAIT = 2.0  # seconds a stop waits for cancelled coroutines to hand their jobs back


class _LoopWaker:
    """Lets the hub's threads wake the worker's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        self._loop, self._event = loop, event

    def set(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop has closed
            pass

    def clear(self) -> None:
        self._event.clear()


class AsyncWorker(BaseWorker):
    """Runs `await process_function(payload)` for each job, up to `concurrency` (default 10) at once.

    Same constructor, guarantees and statistics as `Worker`. Storage calls run on one helper
    thread so the loop never blocks on SQLite. `job_timeout` is enforced for real here: the
    coroutine is cancelled at its deadline (`asyncio.wait_for`) and the attempt recorded as a
    `JobTimeout`; a handler that blocks the loop without awaiting cannot be interrupted.
    """

    _default_concurrency = 10

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tally = Tally()
        self._running: dict[Lease, JobContext] = {}
        self._acks: list[tuple[Job, Any]] = []
        self._flushing: list[tuple[Job, Any]] = []
        self._thread: threading.Thread | None = None
        self._db: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failures = 0
        # job id -> its stored trace context, for jobs claimed while tracing was on
        self._traces: dict[int, str | None] = {}

    # ── lifecycle (BaseWorker hooks) ──
    def _launch(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._db = ThreadPoolExecutor(1, thread_name_prefix=f"queue-max {self.worker_id} storage")
        self._thread = threading.Thread(target=self._thread_main, name=f"queue-max {self.worker_id}", daemon=True)
        self._thread.start()

    def _thread_main(self) -> None:
        loop = self._loop
        assert loop is not None and self._db is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException:
            log.exception("worker %s: event loop crashed", self.worker_id)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._db.shutdown(wait=True)
            if self.state is not WorkerState.STOPPED:
                self._runners_done()

    def _call_in_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(fn)
            except RuntimeError:
                pass

    def _wake_runners(self) -> None:
        self._call_in_loop(self._poke)

    def _poke(self) -> None:
        self._wakeup.set()
        self._slot_free.set()

    def _wait_runners(self, deadline: float) -> bool:
        thread = self._thread
        while thread is not None and thread.is_alive():
            left = deadline - time.monotonic()
            if left <= 0 or self._cold.is_set():
                return False
            thread.join(min(left, 0.05))
        return True

    def _abandon_all(self) -> None:
        self._call_in_loop(self._cancel_all)
        if self._thread is not None:
            self._thread.join(ABANDON_WAIT)
            if self._thread.is_alive():
                log.error("worker %s: a coroutine blocks the event loop; its jobs keep their leases "
                          "until they expire", self.worker_id)

    def _cancel_all(self) -> None:
        for ctx in self._running.values():
            ctx.cancel("shutdown")
        for task in self._tasks:
            task.cancel()

    def _on_runner_thread(self) -> bool:
        current = threading.current_thread()
        return current is self._thread or current.name.startswith(f"queue-max {self.worker_id} storage")

    # ── the loop ──
    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self._wakeup, self._slot_free, self._ack_ready = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._task_of: dict[Lease, asyncio.Task[None]] = {}
        waker = _LoopWaker(loop, self._wakeup)
        flusher = loop.create_task(self._flusher())
        try:
            while not self._stopping:
                if not await self._claim_round(waker):
                    break
            if self._tasks:
                await asyncio.wait(set(self._tasks))
        finally:
            flusher.cancel()
            await self._flush()

    async def _claim_round(self, waker: _LoopWaker) -> bool:
        """Claim for the free slots and start the jobs, or wait; False to end the loop (burst)."""
        hub = self._hub
        assert hub is not None
        free = self.concurrency - len(self._tasks)
        if free <= 0:
            await self._wait_for(self._slot_free, None)
            return True
        limit = min(free, self.prefetch)
        if self.max_jobs is not None:
            limit = max(1, min(limit, self.max_jobs - self._jobs_started))
        seen = hub.gen
        try:
            jobs, pause = await self._storage(claim, self.queue, self.worker_id, limit, self._failures, hub.writers,
                                              self.queues)
        except QueueClosed:
            log.warning("worker %s: the queue was closed; stopping", self.worker_id)
            self.request_stop()
            return True
        self._failures = self._failures + 1 if jobs is None else 0
        if jobs:
            if len(jobs) >= limit:
                hub.kick()
            if tracing.active():
                stored = await self._storage(self.queue.trace_contexts, [job.id for job in jobs])
                self._traces.update((job.id, stored.get(job.id)) for job in jobs)
            for job in jobs:
                self._start_job(job)
        elif pause:
            await self._wait_for(self._wakeup, pause)
        elif self.burst:
            if not self._tasks:
                return False
            await self._wait_for(self._slot_free, None)
        elif hub.register_idle(seen, waker):  # (it cleared the event under the hub's lock)
            try:
                await self._wait_for(self._wakeup, self.poll_interval * SAFETY_FACTOR, clear=False)
            finally:
                hub.unregister_idle(waker)
        return True

    async def _wait_for(self, event: asyncio.Event, timeout: float | None, *, clear: bool = True) -> None:
        if clear:
            event.clear()
        if self._stopping:
            return
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    async def _storage(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._db, call)

    # ── one job ──
    def _start_job(self, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        lease = job.lease
        self._task_of[lease] = task
        task.add_done_callback(lambda done: self._job_done(lease, done))

    def _job_done(self, lease: Lease, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._task_of.pop(lease, None)
        self._slot_free.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("worker %s: job task crashed", self.worker_id, exc_info=task.exception())

    async def _run(self, job: Job) -> None:
        slot = _Slot()
        _CURRENT.set(slot)
        traced, stored = job.id in self._traces, self._traces.pop(job.id, None)
        try:
            handler = self.handler_for(job)
        except Exception as exc:
            await self._storage(fail, self.queue, job, exc, self._tally, self._hooks)
            return
        if not self.may_start():
            await self._storage(release, self.queue, [job], self._tally, self.worker_id)
            return
        ctx = slot.ctx = JobContext(job, self.worker_id, self.timeout_of(handler), self.queue)
        lease = job.lease
        self._running[lease] = ctx
        began = time.monotonic()
        try:
            if traced:
                outcome = await self._traced(job, handler, ctx, stored)
            else:
                outcome = await self._execute(job, handler, ctx)
        finally:
            ctx.done = True
            self._tally.runtime += time.monotonic() - began
            self._running.pop(lease, None)
        if outcome is _CANCELLED:
            return
        if isinstance(outcome, BaseException):
            self.count_done()
            await self._storage(fail, self.queue, job, outcome, self._tally, self._hooks, handler=handler)
            return
        self.count_done()
        self._acks.append((job, outcome))
        self._ack_ready.set()

    async def _traced(self, job: Job, handler: JobHandler, ctx: JobContext, stored: str | None) -> Any:
        """`_execute` inside the attempt's CONSUMER span (in this job's own asyncio task, so
        the span is current for the handler's coroutine)."""
        with tracing.consumer_span(job.queue_name, job.id, job.tentativas, stored) as span:
            outcome = await self._execute(job, handler, ctx)
            if isinstance(outcome, BaseException):
                tracing.record_failure(span, outcome)
            return outcome

    async def _execute(self, job: Job, handler: JobHandler, ctx: JobContext) -> Any:
        """The handler's result, the exception to record, or _CANCELLED (the job was handed off)."""
        if self._hooks.start is not None:
            self._hooks.call(self._hooks.start, job.id, job.payload)
        try:
            result = handler(job.payload)
            if inspect.isawaitable(result):
                result = await (result if ctx.timeout is None else asyncio.wait_for(result, ctx.remaining()))
        except asyncio.CancelledError:
            return await self._cancelled(job, ctx)
        except TimeoutError as exc:
            if not ctx.expired:
                return exc
            self._tally.timed_out += 1
            return JobTimeout(job.id, ctx.timeout or 0.0, "the coroutine was cancelled")
        except Exception as exc:
            return exc
        if ctx.expired:
            self._tally.timed_out += 1
            return JobTimeout(job.id, ctx.timeout or 0.0, "it finished late (it blocked the event loop)")
        return result

    async def _cancelled(self, job: Job, ctx: JobContext) -> Any:
        reason = ctx.cancel_reason
        task = asyncio.current_task()
        if reason is None and task is not None and not task.cancelling():
            return asyncio.CancelledError(f"the handler of job {job.id} raised CancelledError")
        if reason == "lost":
            self._tally.lost += 1
            return _CANCELLED
        await asyncio.shield(self._storage(release, self.queue, [job], self._tally, self.worker_id))
        return _CANCELLED

    # ── acknowledging ──
    async def _flusher(self) -> None:
        while True:
            await self._ack_ready.wait()
            self._ack_ready.clear()
            if self.ack_interval and len(self._acks) < self.prefetch:
                await asyncio.sleep(self.ack_interval)
            await self._flush()

    async def _flush(self) -> None:
        if not self._acks:
            return
        acks, self._acks = self._acks, []
        self._flushing = acks
        try:
            gate = self._hub.writers if self._hub is not None else contextlib.nullcontext()
            ok = await asyncio.shield(self._storage(complete, self.queue, acks, self._tally, self._hooks, gate))
        finally:
            self._flushing = []
        if not ok:
            self._acks[:0] = acks
            self._ack_ready.set()

    # ── what the hub and get_stats read ──
    def held_jobs(self) -> list[Job]:
        jobs = [ctx.job for ctx in list(self._running.values())]
        jobs.extend(job for job, _ in list(self._acks))
        jobs.extend(job for job, _ in list(self._flushing))
        return jobs

    def leases_lost(self, lost: set[Lease]) -> None:
        self._call_in_loop(lambda: self._cancel_lost(lost))

    def _cancel_lost(self, lost: set[Lease]) -> None:
        for lease in lost:
            ctx, task = self._running.get(lease), self._task_of.get(lease)
            if ctx is not None and task is not None:
                log.warning("worker %s: job %d lost its lease; cancelling it", self.worker_id, ctx.job.id)
                ctx.cancel("lost")
                task.cancel()

    def _tallies(self) -> list[Tally]:
        return [self._tally]

    def _current_jobs(self) -> list[Job]:
        return [ctx.job for ctx in list(self._running.values())]


_CANCELLED = object()
