"""Django task results read from queue-max jobs: the job envelope, statuses, errors and timestamps."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ...models import ErrorInfo, Job, JobStatus
from ...retry import Permanent
from ...tasks import TASK_KEY
from ._compat import Task, TaskError, TaskResult, TaskResultStatus

__all__ = [
    "RUNNER_NAME",
    "DjangoTaskNotFound",
    "NotJSONResult",
    "envelope_fields",
    "load_task",
    "make_fields",
    "to_json",
    "to_result",
]

# The queue-max task that runs Django tasks; its job's kwargs name the Django task and its call.
RUNNER_NAME = "queue_max.contrib.django:run_task"

_STATUS = {
    JobStatus.PENDING: TaskResultStatus.READY,  # also while scheduled or waiting for a retry
    JobStatus.PROCESSING: TaskResultStatus.RUNNING,
    JobStatus.COMPLETED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.CANCELLED: TaskResultStatus.FAILED,  # Django has no "cancelled"
}
_FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


class DjangoTaskNotFound(Permanent):
    """A job names a Django task this process cannot import; retrying cannot help."""


class NotJSONResult(Permanent, TypeError):
    """A Django task returned a value without a JSON form; running it again cannot help."""


def to_json(value: Any, what: str, error: type[TypeError] = TypeError) -> Any:
    """`value` after the JSON round trip Django's tasks framework promises (tuples become lists,
    non-string keys strings); `error` naming `what` if it has no JSON form."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise error(f"{what} must be JSON-serializable: {exc}") from None


def make_fields(task: Any, args: list[Any], kwargs: dict[str, Any], backend: str,
                run_after: datetime | None) -> dict[str, Any]:
    """The keyword arguments of the runner's job: which Django task, with what call."""
    return {"path": task.module_path, "args": args, "kwargs": kwargs, "backend": backend,
            "queue_name": task.queue_name,
            "run_after": None if run_after is None else run_after.isoformat()}


def envelope_fields(payload: object) -> dict[str, Any] | None:
    """The Django call a job payload carries, or None if it is not a Django task job."""
    if not isinstance(payload, dict) or payload.get(TASK_KEY) != RUNNER_NAME:
        return None
    fields = payload.get("kwargs")
    if not isinstance(fields, dict) or not isinstance(fields.get("path"), str):
        return None
    return fields


def load_task(path: str) -> Any:
    """The Django `Task` at dotted `path`; `DjangoTaskNotFound` (permanent) if there is none."""
    from django.utils.module_loading import import_string  # type: ignore[import-untyped,unused-ignore]

    try:
        found = import_string(path)
    except Exception as exc:  # noqa: BLE001 - ImportError, or the module failing as it loads
        # (e.g. a task bound to a TASKS alias this process lacks): fix and requeue from the DLQ
        raise DjangoTaskNotFound(
            f"Django task {path!r} cannot be imported in this process: {type(exc).__name__}: {exc}") from None
    if not isinstance(found, Task):
        raise DjangoTaskNotFound(
            f"{path!r} is a {type(found).__name__}, not a Django task (define it with @task from "
            "django.tasks, or django_tasks on Django 5.2)")
    return found


def _call_task(task: Any, job: Job | None, fields: dict[str, Any]) -> Any:
    """The task as it was enqueued: `.using()` its priority, queue, backend and run_after."""
    changes: dict[str, Any] = {"queue_name": fields.get("queue_name") or task.queue_name,
                               "backend": fields.get("backend") or task.backend}
    if job is not None:
        changes["priority"] = job.priority_int
    run_after = fields.get("run_after")
    if run_after:
        changes["run_after"] = datetime.fromisoformat(run_after)
    if all(getattr(task, key) == value for key, value in changes.items()):
        return task
    return task.using(**changes)


def _errors(job: Job) -> list[Any]:
    infos = list(job.errors)
    if not infos and job.error_type:
        infos = [ErrorInfo(job.error_type, job.last_error or "", job.error_stack)]
    errors = []
    for info in infos:
        path = info.type if "." in info.type else f"builtins.{info.type}"
        trace = info.traceback or f"{info.type}: {info.message}\n"
        errors.append(TaskError(exception_class_path=path, traceback=trace))
    if job.status is JobStatus.CANCELLED:
        errors.append(TaskError(exception_class_path="queue_max.tasks.errors.TaskCancelled",
                                traceback=f"job {job.id} was cancelled before it ran\n"))
    return errors


def _workers(job: Job) -> list[str]:
    """One worker id per attempt that started: those that failed (kept with their error), then
    the one running or that completed the job."""
    ids = [info.worker_id or "unknown" for info in job.errors]
    if job.status in (JobStatus.PROCESSING, JobStatus.COMPLETED):
        ids.append(job.worker_id or "unknown")
    elif not ids and job.tentativas:
        ids = [job.worker_id or "unknown"] * job.tentativas  # errors not read back: count attempts
    return ids


def to_result(job: Job, fields: dict[str, Any], task: Any = None) -> Any:
    """The Django `TaskResult` of a stored job (`fields`: its `envelope_fields`)."""
    task = _call_task(task if task is not None else load_task(fields["path"]), job, fields)
    status = _STATUS[job.status]
    started = job.claimed_at
    result = TaskResult(
        task=task,
        id=str(job.id),
        status=status,
        enqueued_at=job.enqueued_at,
        started_at=started,
        last_attempted_at=started,
        finished_at=job.finished_at if status in _FINISHED else None,
        args=list(fields.get("args") or []),
        kwargs=dict(fields.get("kwargs") or {}),
        backend=fields.get("backend") or task.backend,
        errors=_errors(job),
        worker_ids=_workers(job),
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.result)
    return result
