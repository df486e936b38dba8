"""Django's tasks framework: `django.tasks` on Django 6+, the `django-tasks` backport before it."""

from __future__ import annotations

__all__ = [
    "SOURCE",
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]

try:  # Django 6 and later ship the framework
    import django.tasks  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401

    SOURCE = "django.tasks"
except ImportError:
    SOURCE = "django_tasks"

if SOURCE == "django.tasks":
    from django.tasks import (  # type: ignore[import-not-found,import-untyped,no-redef,unused-ignore]
        TaskContext,
        TaskResult,
        TaskResultStatus,
        task_backends,
    )
    from django.tasks import exceptions as _exceptions  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from django.tasks.backends.base import (  # type: ignore[import-not-found,import-untyped,no-redef,unused-ignore]
        BaseTaskBackend,
    )
    from django.tasks.base import Task, TaskError  # type: ignore[import-not-found,import-untyped,no-redef,unused-ignore]
    from django.tasks.signals import (  # type: ignore[import-not-found,import-untyped,no-redef,unused-ignore]
        task_enqueued,
        task_finished,
        task_started,
    )
else:
    from django_tasks import (  # type: ignore[import-not-found,import-untyped,no-redef,unused-ignore]
        TaskContext,
        TaskResult,
        TaskResultStatus,
        task_backends,
    )
    from django_tasks import exceptions as _exceptions  # type: ignore[import-not-found,import-untyped,no-redef,unused-ignore]
    from django_tasks.backends.base import (  # type: ignore[import-not-found,import-untyped,no-redef,unused-ignore]
        BaseTaskBackend,
    )
    from django_tasks.base import Task, TaskError  # type: ignore[import-not-found,import-untyped,no-redef,unused-ignore]
    from django_tasks.signals import (  # type: ignore[import-not-found,import-untyped,no-redef,unused-ignore]
        task_enqueued,
        task_finished,
        task_started,
    )

# Django 6 names it InvalidTask; the backport's 0.x releases InvalidTaskError.
InvalidTask: type[Exception] = getattr(_exceptions, "InvalidTask", None) or _exceptions.InvalidTaskError
TaskResultDoesNotExist: type[Exception] = _exceptions.TaskResultDoesNotExist

