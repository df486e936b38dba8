"""Claiming jobs and recording what happened to them: grouped completions, failures, releases.

Shared by thread and asyncio workers. Storage errors never escape: a claim that fails backs off,
and a job whose outcome could not be written keeps (or loses) its lease, and is then either
acknowledged later or recovered after the lease expires, so nothing is lost.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..errors import InvalidPayload, LeaseLost, QueueClosed, QueueMaxError
from ..handler import JobHandler
from ..models import Job, JobStatus
from ..queue import Queue

__all__ = ["Callbacks", "Tally", "claim", "complete", "fail", "release"]

log = logging.getLogger("queue_max.workers")
_OPEN = contextlib.nullcontext()


class Tally:
    """Counters of one runner (written by one thread only, summed for `get_stats`)."""

    __slots__ = ("processed", "failed", "retried", "lost", "released", "timed_out", "runtime")

    def __init__(self) -> None:
        self.processed = self.failed = self.retried = 0
        self.lost = self.released = self.timed_out = 0
        self.runtime = 0.0  # seconds spent in handlers


class Callbacks:
    """The reference's three hooks; a hook that raises is logged and never stops the worker."""

    __slots__ = ("worker_id", "start", "complete", "error")

    def __init__(self, worker_id: str, start: Any, complete: Any, error: Any) -> None:
        self.worker_id = worker_id
        self.start: Callable[..., Any] | None = start
        self.complete: Callable[..., Any] | None = complete
        self.error: Callable[..., Any] | None = error

    def call(self, hook: Callable[..., Any], *args: Any) -> None:
        try:
            hook(self.worker_id, *args)
        except Exception:
            log.exception("worker %s: callback %r failed (ignored)", self.worker_id, hook)


def claim(
    queue: Queue, worker_id: str, limit: int, failures: int, gate: AbstractContextManager[Any] = _OPEN,
    queues: Sequence[str] | None = None,
) -> tuple[list[Job] | None, float]:
    """Lease up to `limit` jobs from `queues` (None: every queue): (jobs, seconds to pause
    before the next try).

    Jobs is None when storage failed (pause is the back-off after `failures` failures in a row),
    empty with a pause while a host-wide rate limit holds claims back, and empty without one
    when nothing is ready. `QueueClosed` propagates.
    """
    try:
        with gate:
            jobs = queue.claim_jobs(worker_id, limit, queues=queues)
    except QueueClosed:
        raise
    except Exception:
        log.warning("worker %s: claiming failed; retrying", worker_id, exc_info=True)
        return None, min(5.0, 0.05 * 2 ** min(failures + 1, 7))
    if jobs:
        return jobs, 0.0
    return jobs, queue.flow.held_back()


def complete(
    queue: Queue, acks: Sequence[tuple[Job, Any]], tally: Tally, hooks: Callbacks,
    gate: AbstractContextManager[Any] = _OPEN,
) -> bool:
    """Complete `acks` in one transaction per shard; False if storage failed (retry later)."""
    unstorable: set[int] = set()
    try:
        with gate:
            lost = set(queue.complete_jobs(acks))
    except InvalidPayload:
        lost, unstorable = _complete_each(queue, acks, tally, hooks)
    except QueueClosed:
        log.warning("worker %s: queue closed with %d completions unrecorded; they will be redelivered",
                    hooks.worker_id, len(acks))
        return True
    except QueueMaxError:
        log.warning("worker %s: could not record %d completions; retrying", hooks.worker_id, len(acks),
                    exc_info=True)
        return False
    except Exception:
        tally.lost += len(acks)
        log.exception("worker %s: recording %d completions failed unexpectedly; those jobs will run "
                      "again once their leases expire", hooks.worker_id, len(acks))
        return True
    if lost:
        tally.lost += len(lost)
        log.warning("worker %s: the leases of jobs %s were lost before they completed (another worker "
                    "may run them again)", hooks.worker_id, sorted(lost))
    tally.processed += len(acks) - len(lost) - len(unstorable)
    hook = hooks.complete
    if hook is not None:
        for job, result in acks:
            if job.id not in lost and job.id not in unstorable:
                hooks.call(hook, job.id, result)
    return True


def _complete_each(
    queue: Queue, acks: Sequence[tuple[Job, Any]], tally: Tally, hooks: Callbacks
) -> tuple[set[int], set[int]]:
    """One by one, so that a result that cannot be stored fails only its own job.

    Returns (ids whose lease was lost, ids failed because their result is not JSON)."""
    lost: set[int] = set()
    unstorable: set[int] = set()
    for job, result in acks:
        try:
            lost.update(queue.complete_jobs([(job, result)]))
        except InvalidPayload as exc:
            bad = InvalidPayload(f"job {job.id} returned a result that cannot be stored as JSON: {exc}")
            fail(queue, job, bad, tally, hooks, permanent=True)
            unstorable.add(job.id)
    return lost, unstorable


def fail(
    queue: Queue, job: Job, error: BaseException, tally: Tally, hooks: Callbacks,
    *, handler: JobHandler | None = None, permanent: bool = False,
) -> None:
    """Record a failed attempt: retried per the policy, or dead-lettered.

    The handler's own `retry_on` and `policy` (a task's) are used over the queue's."""
    try:
        if handler is None:
            status = queue.fail_job(job, error=error, permanent=permanent)
        else:
            status = queue.fail_job(job, error=error, permanent=permanent, retry_on=handler.retry_on,
                                    policy=handler.policy)
    except LeaseLost:
        tally.lost += 1
        log.warning("worker %s: job %d failed, but its lease was already lost; not recorded",
                    hooks.worker_id, job.id)
        return
    except QueueClosed:
        log.warning("worker %s: the queue was closed before the failure of job %d (%s: %s) was recorded; "
                    "it will be recovered when its lease expires", hooks.worker_id, job.id,
                    type(error).__name__, error)
        return
    except Exception:
        # StorageBusy, or a surprise such as an error text SQLite cannot store: the worker goes
        # on, and the job comes back when its lease expires, the attempt counted
        log.exception("worker %s: could not record the failure of job %d (%s: %s); it will be "
                      "recovered when its lease expires", hooks.worker_id, job.id, type(error).__name__, error)
        return
    if status is JobStatus.CANCELLED:
        log.info("worker %s: job %d stopped as asked: it was cancelled while it ran", hooks.worker_id, job.id)
        return
    dead = status is JobStatus.FAILED
    if dead:
        tally.failed += 1
        log.error("worker %s: job %d failed for good (attempt %d of %d): %s: %s", hooks.worker_id,
                  job.id, job.tentativas, job.max_tentativas, type(error).__name__, error)
    else:
        tally.retried += 1
        log.warning("worker %s: job %d failed (attempt %d of %d), will retry: %s: %s", hooks.worker_id,
                    job.id, job.tentativas, job.max_tentativas, type(error).__name__, error)
    if hooks.error is not None:
        hooks.call(hooks.error, job.id, error, dead)


def release(queue: Queue, jobs: Sequence[Job], tally: Tally, worker_id: str) -> None:
    """Give jobs back untouched (attempt not counted): claimable by other workers at once."""
    for done, job in enumerate(jobs):
        try:
            if queue.release_job(job):
                tally.released += 1
        except QueueClosed:  # closed under a running worker: one line for the batch, not a traceback a job
            log.warning("worker %s: the queue was closed with %d claimed jobs not started (%s); they will "
                        "be recovered when their leases expire", worker_id, len(jobs) - done,
                        _ids(jobs[done:]))
            return
        except Exception:
            log.warning("worker %s: could not release job %d; it will be recovered when its lease "
                        "expires", worker_id, job.id, exc_info=True)


def _ids(jobs: Sequence[Job], most: int = 10) -> str:
    """`job ids` for a log line: the first `most`, then how many more."""
    shown = ", ".join(str(job.id) for job in jobs[:most])
    return shown if len(jobs) <= most else f"{shown} and {len(jobs) - most} more"
