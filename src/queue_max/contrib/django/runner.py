"""The queue-max task that runs Django tasks on a worker, and sends `task_started` for each.

A Django task enqueued through `QueueMaxBackend` is stored as a job of this one registered
task, whose keyword arguments name the Django task (its dotted path) and its call. So every
queue-max worker that imports this module and has Django set up can run Django tasks; the
`queue_worker` management command is such a worker (and it also sends `task_finished`).
"""

from __future__ import annotations

from typing import Any

from ...tasks import current_job, task
from ._results import RUNNER_NAME, NotJSONResult, load_task, to_json, to_result

__all__ = ["RUNNER_NAME", "run_task"]


def _sender(alias: str) -> type[Any]:
    from ._compat import task_backends

    return type(task_backends[alias])


@task(name=RUNNER_NAME)
def run_task(path: str, args: list[Any], kwargs: dict[str, Any], backend: str = "default",
             queue_name: str = "default", run_after: str | None = None) -> Any:
    """Run the Django task at `path` with `args` and `kwargs`; its result, as JSON."""
    from django.db import close_old_connections  # type: ignore[import-untyped,unused-ignore]

    from ._compat import TaskContext, task_started

    django_task = load_task(path)
    fields = {"path": path, "args": args, "kwargs": kwargs, "backend": backend,
              "queue_name": queue_name, "run_after": run_after}
    ctx = current_job()
    result = to_result(ctx.job, fields, django_task) if ctx is not None else None
    # a worker thread is like a request: connections that timed out or broke are replaced
    close_old_connections()
    try:
        if result is not None:
            task_started.send(sender=_sender(backend), task_result=result)
        if django_task.takes_context:
            if result is None:
                raise TypeError(f"Django task {path!r} takes a context, which only a worker can give "
                                "(it ran outside a worker, e.g. in queue-max's eager mode)")
            value = django_task.call(TaskContext(task_result=result), *args, **kwargs)
        else:
            value = django_task.call(*args, **kwargs)
    finally:
        close_old_connections()
    return to_json(value, f"the return value of Django task {path!r}", NotJSONResult)
