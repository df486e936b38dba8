"""The `task` decorator for Django projects: queue-max tasks bound to the queue of `settings.QUEUE_MAX`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from typing_extensions import Unpack

from ...tasks import Task, TaskCall, TaskOptionsDict
from ...tasks import make_task

if TYPE_CHECKING:
    from ...queue import Queue

__all__ = ["DjangoTask", "DjangoTaskCall", "task"]

P = ParamSpec("P")
R = TypeVar("R")


class _OnCommit:
    """`delay_on_commit`: enqueue once the current database transaction commits."""

    _task: Task[Any, Any]
    _call: dict[str, Any]

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        """Enqueue this call when the default database's transaction commits (at once outside
        one; never if it rolls back). The arguments are checked now; nothing is returned, because
        the job does not exist yet."""
        from django.db import transaction  # type: ignore[import-untyped,unused-ignore]

        task = self._task
        task._check_args(f"{task.name}.delay_on_commit()", args, kwargs)
        transaction.on_commit(functools.partial(task._submit, self._call, args, kwargs, "delay_on_commit"))


class DjangoTask(_OnCommit, Task[P, R]):
    """A queue-max task whose jobs go to the Django project's queue (`settings.QUEUE_MAX`)."""

    @property
    def queue(self) -> Queue:
        """The task's `queue=`, else the project's queue, built from settings on first use."""
        if self.options.queue is not None:
            return self.options.queue
        from .conf import get_queue

        return get_queue()

    def with_options(self, **options: Any) -> DjangoTaskCall[P, R]:
        call = super().with_options(**options)
        return DjangoTaskCall(call._task, call._call)


class DjangoTaskCall(_OnCommit, TaskCall[P, R]):
    """A Django task with per-call options; enqueue with `.delay()` or `.delay_on_commit()`."""

    def with_options(self, **options: Any) -> DjangoTaskCall[P, R]:
        call = super().with_options(**options)
        return DjangoTaskCall(call._task, call._call)


@overload
def task(fn: Callable[P, R], /) -> DjangoTask[P, R]: ...


@overload
def task(fn: None = None, /, **options: Unpack[TaskOptionsDict]) -> Callable[[Callable[P, R]], DjangoTask[P, R]]: ...


def task(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """`queue_max.task` for Django: `@task` or `@task(priority=2, max_retries=5, ...)`.

    The same options as `queue_max.task`; jobs go to the queue of `settings.QUEUE_MAX` (unless
    `queue=` is given) and the task gains `.delay_on_commit(...)`.
    """
    if fn is not None:
        return make_task(fn, options, "@task", DjangoTask)

    def decorate(func: Callable[P, R]) -> DjangoTask[P, R]:
        built: DjangoTask[P, R] = make_task(func, options, "@task(...)", DjangoTask)
        return built

    return decorate
