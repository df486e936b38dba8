"""Tasks: `@task`, `@periodic_task`, `@retryable_task`, result handles, and the worker's dispatch hooks.

    from queue_max.tasks import task

    @task(priority=2, max_retries=3)
    def send_email(to: str, subject: str) -> str: ...

    handle = send_email.delay("user@example.com", "Hello")   # runs on a worker
    handle.get(timeout=30)                                   # its result

See docs/tasks.md.
"""

from ._defaults import current_default_queue, eager, get_default_queue, is_eager, set_default_queue, set_eager
from ._options import CallOptions, TaskOptions, TaskOptionsDict
from .cron import CronExpression
from .dispatch import (
    TASK_KEY,
    TaskHandler,
    TaskRetryOptions,
    current_job,
    execute_task_payload,
    execute_task_payload_async,
    is_task_payload,
    make_envelope,
    process_task_job,
    resolve_handler,
    run_task,
    task_fail_kwargs,
    task_retry_options,
    task_timeout,
)
from .errors import (
    DuplicateTask,
    InvalidTaskArguments,
    MalformedTaskPayload,
    ResultTimeout,
    TaskCancelled,
    TaskFailed,
    UnknownTask,
)
from .handle import EagerHandle, TaskHandle
from .periodic import CronSchedule, Every, PeriodicTask, Scheduler, periodic_task, start_registered_scheduler
from .registry import Registry, registry
from .retryable import RetryableTask, retryable_task
from .task import Task, TaskCall, TaskStats, make_task, task

__all__ = [
    "CallOptions",
    "CronExpression",
    "CronSchedule",
    "DuplicateTask",
    "EagerHandle",
    "Every",
    "InvalidTaskArguments",
    "MalformedTaskPayload",
    "PeriodicTask",
    "Registry",
    "ResultTimeout",
    "RetryableTask",
    "Scheduler",
    "TASK_KEY",
    "Task",
    "TaskCall",
    "TaskCancelled",
    "TaskFailed",
    "TaskHandle",
    "TaskHandler",
    "TaskOptions",
    "TaskOptionsDict",
    "TaskRetryOptions",
    "TaskStats",
    "UnknownTask",
    "current_default_queue",
    "current_job",
    "eager",
    "execute_task_payload",
    "execute_task_payload_async",
    "get_default_queue",
    "is_eager",
    "is_task_payload",
    "make_envelope",
    "make_task",
    "periodic_task",
    "process_task_job",
    "registry",
    "resolve_handler",
    "retryable_task",
    "run_task",
    "set_default_queue",
    "set_eager",
    "start_registered_scheduler",
    "task",
    "task_fail_kwargs",
    "task_retry_options",
    "task_timeout",
]
