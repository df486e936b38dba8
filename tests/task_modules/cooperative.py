"""Tasks and handlers that report progress and stop when cancelled, for the worker-process tests.

Each writes what it saw to the trace file named in its arguments, one line at a time, so that the
test process can read what happened inside a worker process."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from queue_max.tasks import task
from queue_max.workers import JobCancelled, current_job

__all__ = ["async_handler", "async_loop_until_cancelled", "async_report_then_wait", "loop_until_cancelled",
           "report_then_wait"]


def _trace(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(f"{line} {os.getpid()}\n")


@task(max_retries=3)
def report_then_wait(total: int, gate: str, trace: str) -> int:
    """Report half-way, wait for the `gate` file to exist, report done."""
    ctx = current_job()
    assert ctx is not None
    ctx.set_progress(0.5, f"{total // 2} of {total} rows")
    _trace(trace, "reported")
    while not os.path.exists(gate):
        ctx.wait(0.05)
    ctx.set_progress(1.0, "done")
    return total


@task(max_retries=3)
def loop_until_cancelled(trace: str) -> None:
    """Check for a cancel between short steps, forever."""
    ctx = current_job()
    assert ctx is not None
    ctx.set_progress(0.1, "looping")
    _trace(trace, "started")
    try:
        while True:
            ctx.check()
            ctx.wait(0.05)
    except JobCancelled as exc:
        _trace(trace, f"stopped {type(exc).__name__}")
        raise


async def async_report_then_wait(payload: dict[str, Any]) -> int:
    """`report_then_wait` for an AsyncWorker (a plain handler: payload keys total, gate, trace)."""
    ctx = current_job()
    assert ctx is not None
    ctx.set_progress(0.5, f"{payload['total'] // 2} of {payload['total']} rows")
    _trace(payload["trace"], "reported")
    while not os.path.exists(payload["gate"]):
        await asyncio.sleep(0.05)
    ctx.set_progress(1.0, "done")
    return int(payload["total"])


async def async_loop_until_cancelled(payload: dict[str, Any]) -> None:
    """`loop_until_cancelled` for an AsyncWorker (payload key trace)."""
    ctx = current_job()
    assert ctx is not None
    ctx.set_progress(0.1, "looping")
    _trace(payload["trace"], "started")
    try:
        while True:
            ctx.check()
            await asyncio.sleep(0.05)
    except JobCancelled as exc:
        _trace(payload["trace"], f"stopped {type(exc).__name__}")
        raise


async def async_handler(payload: dict[str, Any]) -> Any:
    """The AsyncWorker's handler: payload `run` names what to do ("report" or "loop")."""
    run = {"report": async_report_then_wait, "loop": async_loop_until_cancelled}[payload["run"]]
    return await run(payload)
