"""A coroutine task and a plain one, for the worker subprocesses of tests/system/test_python_versions.py."""

from __future__ import annotations

import asyncio

from queue_max.tasks import task

__all__ = ["doubled", "plus_one"]


@task(max_retries=0)
async def doubled(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@task(max_retries=0)
def plus_one(x: int) -> int:
    return x + 1
