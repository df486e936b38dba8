"""Dispatch by task name: the callable that runs a job when a worker has no process_function.

The contract for the task registry (`queue_max.tasks`, a later module): it exposes
`resolve_handler(job) -> Callable[[dict], Any]`, the callable a worker calls with the job's payload
(a task envelope: name, args, kwargs), and raises a `Permanent` error for a job it cannot run.
The callable may carry `timeout` (seconds), `retry_on` (exception types) and
`retry_delay(error, attempts) -> seconds | None`; workers use them over their own `job_timeout`
and the queue's retry policy. Without that module every such job fails permanently (`NoHandler`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..models import Job
from .errors import NoHandler

__all__ = ["Handler", "resolve_task"]

Handler = Callable[[dict[str, Any]], Any]

_REGISTRY = "queue_max.tasks"
_resolver: Callable[[Job], Handler] | None = None


def _find_resolver() -> Callable[[Job], Handler] | None:
    global _resolver
    if _resolver is None:
        try:
            module = importlib.import_module(_REGISTRY)
        except ModuleNotFoundError as exc:
            if exc.name != _REGISTRY:
                raise
            return None
        _resolver = getattr(module, "resolve_handler", None)
    return _resolver


def resolve_task(job: Job) -> Handler:
    """The registered task that runs `job`; raises `NoHandler` when there is none."""
    resolver = _find_resolver()
    if resolver is None:
        raise NoHandler(
            f"job {job.id}: the worker has no process_function and no task registry is "
            "installed; pass process_function= to the worker"
        )
    return resolver(job)
