"""DjangoWorker: a queue-max worker for a Django project, which also sends `task_finished`.

It runs every task job by name (Django tasks included, through `runner`); payloads that are not
task jobs go to `fallback`, if given. Each job runs as Django runs a request, as far as database
connections go (`close_old_connections` before and after). Django's `task_started` is sent by the runner as a task
starts; `task_finished` is sent here, once the outcome is stored (so a receiver that reads the
result sees it), for a success and for a failure that will not be retried.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ...handler import Handler
from ...models import Job, JobStatus
from ...queue import Queue
from ...workers import Worker
from . import runner  # noqa: F401 - registers the task that runs Django tasks
from ._results import envelope_fields, to_result
from .conf import get_queue

__all__ = ["DjangoWorker"]

Hook = Callable[..., Any] | None


def like_a_request(handler: Handler) -> Handler:
    """A worker `wrapper`: the handler runs as Django runs a request, as far as database
    connections go (those that broke or outlived CONN_MAX_AGE are closed before and after)."""

    def run(payload: dict[str, Any]) -> Any:
        from django.db import close_old_connections  # type: ignore[import-untyped,unused-ignore]

        close_old_connections()
        try:
            return handler(payload)
        finally:
            close_old_connections()

    return run


class DjangoWorker(Worker):
    """`DjangoWorker(worker_id, queue=None, *, fallback=None, **worker_options)`.

    `queue` defaults to the project's queue (`settings.QUEUE_MAX`); `worker_options` are
    `Worker`'s (concurrency, burst, max_jobs, poll_interval, job_timeout, ...), hooks included.
    """

    def __init__(
        self,
        worker_id: str,
        queue: Queue | None = None,
        *,
        fallback: Callable[[dict[str, Any]], Any] | None = None,
        on_job_start: Hook = None,
        on_job_complete: Hook = None,
        on_job_error: Hook = None,
        **options: Any,
    ) -> None:
        self._user = (on_job_start, on_job_complete, on_job_error)
        self._running: dict[int, dict[str, Any]] = {}
        self._running_lock = threading.Lock()
        options.setdefault("wrapper", like_a_request)
        super().__init__(worker_id, None, queue if queue is not None else get_queue(), fallback=fallback,
                         on_job_start=self._started, on_job_complete=self._completed,
                         on_job_error=self._errored, **options)

    def _clone_arguments(self) -> dict[str, Any]:
        arguments = super()._clone_arguments()
        del arguments["process_function"]
        start, complete, error = self._user
        return {**arguments, "on_job_start": start, "on_job_complete": complete, "on_job_error": error}

    def stop(self, timeout: float | None = None) -> bool:
        clean = super().stop(timeout)
        with self._running_lock:
            self._running.clear()  # released or lost jobs: their outcome is another worker's
        return clean

    # ── hooks (called after the outcome is stored; exceptions are logged by the worker) ──
    def _started(self, worker_id: str, job_id: int, payload: dict[str, Any]) -> None:
        fields = envelope_fields(payload)
        if fields is not None:
            with self._running_lock:
                self._running[job_id] = fields
        if self._user[0] is not None:
            self._user[0](worker_id, job_id, payload)

    def _completed(self, worker_id: str, job_id: int, result: Any) -> None:
        try:
            self._finished(job_id, JobStatus.COMPLETED, result)
        finally:
            if self._user[1] is not None:
                self._user[1](worker_id, job_id, result)

    def _errored(self, worker_id: str, job_id: int, error: BaseException, dead: bool) -> None:
        try:
            if dead:
                self._finished(job_id, JobStatus.FAILED, None)
            else:
                with self._running_lock:
                    self._running.pop(job_id, None)  # READY again: not finished
        finally:
            if self._user[2] is not None:
                self._user[2](worker_id, job_id, error, dead)

    def _finished(self, job_id: int, status: JobStatus, value: Any) -> None:
        from ._compat import task_backends, task_finished

        with self._running_lock:
            fields = self._running.pop(job_id, None)
        if fields is None:
            return
        job = self.queue.get_job(job_id)
        if job is None:  # RESULT_TTL = 0: the finished job is already gone
            job = _unstored(job_id, self.queue.shard_of(job_id), self.worker_id, status, value)
        result = to_result(job, fields)
        task_finished.send(type(task_backends[result.backend]), task_result=result)


def _unstored(job_id: int, shard_id: int, worker_id: str, status: JobStatus, value: Any) -> Job:
    """What is known of a finished job that storage no longer keeps (its times are unknown)."""
    import time

    now = time.time()
    return Job(id=job_id, shard_id=shard_id, payload={}, status=status, priority_int=0, tentativas=1,
               max_tentativas=1, created_ts=now, run_ts=now, worker_id=worker_id, started_ts=now,
               completed_ts=now, result=value)
