"""Result handles: what `.delay()` returns, to follow a task's job and fetch its result."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._validate import check_wait_timeout
from ..errors import JobNotFound
from ..models import Job, JobProgress, JobStatus
from .errors import ResultTimeout, TaskCancelled, TaskFailed

if TYPE_CHECKING:
    from ..queue import Queue

__all__ = ["EagerHandle", "TaskHandle"]

R = TypeVar("R")

_KEYS = ("id", "shard_id")
_FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
_FINISH_EVENTS = ("job_completed", "job_failed", "job_cancelled")


def _failure(job: Job) -> TaskFailed:
    if job.status is JobStatus.CANCELLED:
        return TaskCancelled(job.id)
    return TaskFailed(job.error_type or "Error", job.last_error or "", job_id=job.id,
                      traceback=job.error_stack, attempts=job.tentativas)


class _DictView:
    """Reads like `Queue.enqueue`'s `{"id": ..., "shard_id": ...}` (but `.get` waits for the result)."""

    id: int
    shard_id: int

    def __getitem__(self, key: str) -> int:
        if key == "id":
            return self.id
        if key == "shard_id":
            return self.shard_id
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in _KEYS

    def keys(self) -> tuple[str, ...]:
        return _KEYS

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __len__(self) -> int:
        return len(_KEYS)

    def as_dict(self) -> dict[str, int]:
        """`{"id": ..., "shard_id": ...}`, as `Queue.enqueue` returns."""
        return {"id": self.id, "shard_id": self.shard_id}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _DictView):
            return (self.id, self.shard_id) == (other.id, other.shard_id)
        if isinstance(other, Mapping):
            return dict(other) == self.as_dict()
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.id, self.shard_id))


class TaskHandle(_DictView, Generic[R]):
    """A stored task job: `.id`, `.status`, `.get(timeout=)`, `.cancel()`; usable from any process.

    Rebuild one from a job id you kept with `TaskHandle(queue, job_id)`.
    """

    def __init__(self, queue: Queue, job_id: int, shard_id: int | None = None,
                 task_name: str | None = None, *, created: bool = True) -> None:
        self.queue = queue
        self.id = job_id
        self.shard_id = queue.shard_of(job_id) if shard_id is None else shard_id
        self.task_name = task_name
        # False when a dedupe key (and window) matched an existing job instead of adding one
        self.created = created

    def job(self) -> Job:
        """A fresh snapshot of the job; raises `JobNotFound` once it was cleaned up."""
        job = self.queue.get_job(self.id)
        if job is None:
            raise JobNotFound(self.id, f"job {self.id} no longer exists: it finished more than the "
                                       "queue's result_ttl ago and was cleaned up, or it was purged")
        return job

    @property
    def progress(self) -> JobProgress | None:
        """What the task last reported with `current_job().set_progress(...)`, or None."""
        return self.queue.job_progress(self.id)

    @property
    def status(self) -> JobStatus:
        """pending (also while scheduled or waiting to retry), processing, completed, failed, cancelled."""
        return self.job().status

    def ready(self) -> bool:
        """Whether the job finished (completed, failed or cancelled)."""
        return self.job().status in _FINISHED

    def get(self, timeout: float | None = None, *, poll_interval: float = 0.005,
            max_poll_interval: float = 0.25) -> R:
        """Wait for the job to finish; return its result or raise `TaskFailed`.

        `timeout` None waits forever; past it, `ResultTimeout` is raised (the job may still
        run). A job waiting to retry is still waited for. Storage is polled with backoff from
        `poll_interval` to `max_poll_interval`; a worker of this process wakes it at once.
        """
        limit = check_wait_timeout(timeout)
        deadline = None if limit is None else time.monotonic() + limit
        finished = threading.Event()

        def wake(job_id: int, *_: Any) -> None:
            if job_id == self.id:
                finished.set()

        for event in _FINISH_EVENTS:
            self.queue.on(event, wake)
        try:
            return self._wait(deadline, limit, finished, poll_interval, max_poll_interval)
        finally:
            for event in _FINISH_EVENTS:
                self.queue.off(event, wake)

    def _wait(self, deadline: float | None, limit: float | None, finished: threading.Event,
              interval: float, max_interval: float) -> R:
        while True:
            job = self.job()
            if job.status is JobStatus.COMPLETED:
                result: R = job.result
                return result
            if job.status in _FINISHED:
                raise _failure(job)
            wait = interval
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ResultTimeout(self.id, limit or 0.0, job.status.value)
                wait = min(interval, left)
            finished.wait(wait)
            finished.clear()
            interval = min(interval * 1.5, max_interval)

    def cancel(self) -> bool:
        """Cancel the job if it has not started (True); a running one is marked and stops at its
        next `current_job().check()` (False: not cancelled yet); False if it finished."""
        return self.queue.cancel(self.id)

    def __repr__(self) -> str:
        return f"<TaskHandle id={self.id} shard_id={self.shard_id} task={self.task_name!r}>"


_eager_ids = itertools.count(1)


class EagerHandle(TaskHandle[R]):
    """The finished handle of a task run inline in eager mode; no job was stored.

    Its `id` is negative (-1, -2, ...) and its `shard_id` -1, so it never names a stored job.
    """

    def __init__(self, task_name: str, result: Any = None, error: TaskFailed | None = None) -> None:
        self.queue = None  # type: ignore[assignment]  # no queue was involved
        self.id = -next(_eager_ids)
        self.shard_id = -1
        self.task_name = task_name
        self._result = result
        self._error = error
        self.created = True

    @property
    def progress(self) -> JobProgress | None:
        return None  # nothing was stored

    def job(self) -> Job:
        raise JobNotFound(self.id, f"handle {self.id} comes from eager mode: no job was stored")

    @property
    def status(self) -> JobStatus:
        return JobStatus.FAILED if self._error is not None else JobStatus.COMPLETED

    def ready(self) -> bool:
        return True

    def get(self, timeout: float | None = None, *, poll_interval: float = 0.005,
            max_poll_interval: float = 0.25) -> R:
        check_wait_timeout(timeout)
        if self._error is not None:
            raise self._error
        result: R = self._result
        return result

    def cancel(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<EagerHandle id={self.id} task={self.task_name!r} status={self.status.value}>"
