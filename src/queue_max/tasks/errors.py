"""The errors of the tasks layer: unknown tasks, failed results, bad task arguments."""

from __future__ import annotations

from ..errors import ConfigError, InvalidPayload, QueueMaxError
from ..retry import Permanent

__all__ = [
    "DuplicateTask",
    "InvalidTaskArguments",
    "MalformedTaskPayload",
    "ResultTimeout",
    "TaskCancelled",
    "TaskFailed",
    "UnknownTask",
]


class UnknownTask(Permanent):
    """A job names a task no module in this process registered; it is dead-lettered, not retried."""

    def __init__(self, name: str) -> None:
        self.task_name = name
        super().__init__(
            f"no task registered as {name!r}; the worker must import the module that defines it "
            "(queue-max worker --tasks module)"
        )


class MalformedTaskPayload(Permanent):
    """A job's payload has a `__task__` key but is not a valid task envelope; never retried."""


class DuplicateTask(ConfigError):
    """Two different functions were registered under the same task name."""


class InvalidTaskArguments(InvalidPayload, TypeError):
    """`.delay()` arguments do not fit the task's signature; nothing was enqueued."""


class TaskFailed(QueueMaxError):
    """The task raised; carries the original exception's type name, message and traceback.

    `error_type` is the qualified type name as stored (`"ValueError"`, `"app.errors.Declined"`);
    the original class is not re-created, so catch `TaskFailed` and compare `error_type`.
    """

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        job_id: int | None = None,
        traceback: str | None = None,
        attempts: int = 0,
    ) -> None:
        self.error_type = error_type
        self.error_message = message
        self.job_id = job_id
        self.traceback = traceback
        self.attempts = attempts
        super().__init__(f"{error_type}: {message}" if message else error_type)


class TaskCancelled(TaskFailed):
    """The job was cancelled before it ran; it has no result."""

    def __init__(self, job_id: int | None) -> None:
        super().__init__("Cancelled", f"job {job_id} was cancelled before it ran", job_id=job_id)


class ResultTimeout(QueueMaxError, TimeoutError):
    """`.get(timeout=...)` gave up waiting; the job may still run later."""

    def __init__(self, job_id: int, timeout: float, status: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"job {job_id} did not finish within {timeout}s (status: {status})")
