"""JobContext: what a running handler may ask about its job (deadline, cancellation) and report (progress) via current_job().

One context variable for every way a job runs (a worker's thread or asyncio task, or
`execute_task_payload(payload, job)`); public as `queue_max.workers.current_job` and
`queue_max.tasks.current_job`, which are the same function."""

from __future__ import annotations

import logging
import threading
import time
from contextvars import ContextVar, Token
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from collections.abc import Iterator
from contextlib import contextmanager

from ._validate import check_progress
from .errors import LeaseLost
from .models import Job, JobProgress

if TYPE_CHECKING:
    from .queue import Queue

__all__ = ["JobContext", "current_job", "enter", "running"]

log = logging.getLogger("queue_max.workers")
# how often a running handler's checks look in storage for a cancel asked of its job
_POLL_EVERY = 0.2


class JobContext:
    """The job a handler is running, its time limit, and whether the worker wants it to stop.

    The job's own fields read through it too: `current_job().id`, `.payload`, `.attempts`.

    A Python thread cannot be killed, so a thread worker asks instead: once the time limit passes
    (or a shutdown gives up waiting) `cancelled` turns True and `wait()` returns early. Handlers
    that loop or sleep should call `check()` or use `wait()` so that they stop when asked.
    """

    __slots__ = ("job", "worker_id", "timeout", "queue", "progress", "_deadline", "_reason", "_event", "done",
                 "_polled")

    def __init__(self, job: Job, worker_id: str, timeout: float | None, queue: Queue | None = None) -> None:
        self.job = job
        self.worker_id = worker_id
        self.timeout = timeout
        self.queue = queue  # where progress is stored; None when the job runs outside a worker
        self.progress: JobProgress | None = None
        self._polled = -_POLL_EVERY  # monotonic time of the last look for a stored cancel request
        # monotonic seconds; None when the job has no time limit
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._reason: str | None = None
        self._event: threading.Event | None = None
        self.done = False

    @property
    def job_id(self) -> int:
        return self.job.id

    @property
    def attempt(self) -> int:
        """This attempt's number, 1 for the first run."""
        return self.job.tentativas

    @property
    def deadline(self) -> datetime | None:
        """When the time limit runs out, as an aware UTC datetime (None: no limit)."""
        if self._deadline is None:
            return None
        return datetime.fromtimestamp(time.time() + self._deadline - time.monotonic(), timezone.utc)

    def remaining(self) -> float | None:
        """Seconds left before the time limit (never negative); None when there is no limit."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    @property
    def expired(self) -> bool:
        """Whether the time limit has passed."""
        return self._deadline is not None and time.monotonic() >= self._deadline

    @property
    def cancelled(self) -> bool:
        """Whether the job was asked to stop (time limit passed, shutdown gave up, or `cancel` was
        asked of it while it runs)."""
        return self._reason is not None or self.expired or self._asked()

    def _asked(self) -> bool:
        """Look (at most every _POLL_EVERY seconds) whether `cancel(job_id)` was asked meanwhile."""
        queue = self.queue
        now = time.monotonic()
        if queue is None or self.done or now - self._polled < _POLL_EVERY:
            return False
        self._polled = now
        try:
            asked = queue.cancel_requested(self.job.id)
        except Exception:  # storage busy or closed: look again at a later check
            log.debug("could not read the cancel mark of job %d", self.job.id, exc_info=True)
            return False
        if asked:
            self.cancel("requested")
        return asked

    def check(self) -> None:
        """Raise if the job was asked to stop: `JobTimeout` past its time limit, `JobCancelled` when
        a shutdown gave up waiting, `JobCancelRequested` (a `JobCancelled`) when `cancel(job_id)`
        was asked while it runs, `LeaseLost` when another worker may own the job now."""
        if self._reason is None and not self.expired and not self._asked():
            return
        from .workers.errors import JobCancelled, JobCancelRequested, JobTimeout  # only on the raising path

        if self._reason == "requested":
            raise JobCancelRequested(self.job.id)
        if self._reason == "shutdown":
            raise JobCancelled(self.job.id)
        if self._reason == "lost":
            raise LeaseLost(self.job.id)
        if self._reason is not None or self.expired:
            raise JobTimeout(self.job.id, self.timeout or 0.0, "the handler stopped when asked")

    def set_progress(self, fraction: float, message: str | None = None) -> None:
        """Report how far the job got (`fraction` from 0.0 to 1.0, an optional short message).

        Stored with the job, so `queue-max inspect` and `handle.progress` show it from any
        process (outside a worker it is only kept on this context). `InvalidProgress` for a bad
        value, `LeaseLost` when another worker may own the job now."""
        if self.queue is None:
            self.progress = check_progress(fraction, message)
        else:
            self.progress = self.queue.set_progress(self.job, fraction, message)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early when the job is asked to stop; True if it was."""
        if self.cancelled:
            return True
        limit = seconds if self._deadline is None else min(seconds, self._deadline - time.monotonic())
        event = self._event
        if event is None:
            event = self._event = threading.Event()
            if self._reason is not None:  # cancelled between the check above and now
                event.set()
        if self.queue is None:
            event.wait(max(0.0, limit))
            return self.cancelled
        end = time.monotonic() + max(0.0, limit)
        # in slices, to see a cancel asked through storage while waiting
        while not event.wait(max(0.0, min(_POLL_EVERY, end - time.monotonic()))):
            if self._asked() or time.monotonic() >= end:
                break
        return self.cancelled

    def cancel(self, reason: str = "shutdown") -> None:
        """Ask the handler to stop (`reason`: "timeout", "shutdown", "lost" or "requested"); it decides when."""
        if self._reason is None:
            self._reason = reason
        event = self._event
        if event is not None:
            event.set()

    @property
    def cancel_reason(self) -> str | None:
        if self._reason is None and self.expired:
            return "timeout"
        return self._reason

    def __getattr__(self, name: str) -> object:
        # the Job's own fields (id, payload, attempts, ...) read through the context
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.job, name)

    def __repr__(self) -> str:
        return f"<JobContext job={self.job.id} worker={self.worker_id!r} remaining={self.remaining()!r}>"


class _Slot:
    """A thread's (or task's) pointer to the job it runs now; re-pointed per job, never re-set."""

    __slots__ = ("ctx",)

    def __init__(self) -> None:
        self.ctx: JobContext | None = None


_CURRENT: ContextVar[_Slot | None] = ContextVar("queue_max_current_job", default=None)


def current_job() -> JobContext | None:
    """The context of the job the calling handler runs (thread or asyncio task), or None."""
    slot = _CURRENT.get()
    return None if slot is None else slot.ctx


def enter(job: Job | None) -> Token[_Slot | None] | None:
    """Make `job` the current job, unless a worker already made it so (then None: nothing to
    undo); with None, no job is current. Pass the token back to `_CURRENT.reset`."""
    slot = _CURRENT.get()
    if job is not None and slot is not None and slot.ctx is not None and slot.ctx.job is job:
        return None  # a worker runs this job: its context (time limit, cancellation) is current
    fresh = _Slot()
    if job is not None:
        fresh.ctx = JobContext(job, "", None)
    return _CURRENT.set(fresh)


@contextmanager
def running(job: Job | None) -> Iterator[None]:
    """`enter(job)` for the duration of the block."""
    token = enter(job)
    try:
        yield
    finally:
        if token is not None:
            _CURRENT.reset(token)
