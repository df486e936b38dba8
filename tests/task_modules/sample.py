"""Tasks that the cross-process tests enqueue and a worker subprocess runs."""

from __future__ import annotations

import time

from queue_max.tasks import task

__all__ = ["Declined", "add", "clock", "fail_with"]


class Declined(Exception):
    """A task-specific error whose qualified name travels back to the caller."""


@task(max_retries=0)
def add(a: int, b: int) -> int:
    return a + b


@task(max_retries=0)
def fail_with(kind: str, message: str) -> None:
    errors: dict[str, type[Exception]] = {"ValueError": ValueError, "Declined": Declined}
    raise errors[kind](message)


@task
def clock() -> float:
    """When the worker ran the job (epoch seconds)."""
    return time.time()
