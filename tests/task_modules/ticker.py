"""A periodic task with a short interval, fired by scheduler subprocesses."""

from __future__ import annotations

import os

from queue_max.tasks import periodic_task

__all__ = ["heartbeat"]


@periodic_task(interval=0.5, max_retries=0)
def heartbeat() -> int:
    return os.getpid()
