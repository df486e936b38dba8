"""Tasks for `queue-max worker --tasks cli_fixtures.tasks`."""

from __future__ import annotations

import os

from queue_max.tasks import task

__all__ = ["add", "whoami"]


@task(name="cli.add", max_retries=0)
def add(a: int, b: int) -> int:
    return a + b


@task(name="cli.whoami", max_retries=0)
def whoami() -> int:
    """The pid of the process that ran the job."""
    return os.getpid()
