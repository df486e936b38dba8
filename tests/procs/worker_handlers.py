"""Job handlers for the worker process tests (imported by worker processes as `worker_handlers`).

Each writes lines "KIND i job_id pid" to $QM_TEST_OUT/<pid>.txt: R when a job ran, S and E
around a job that sleeps.
"""

from __future__ import annotations

import os
import time
from typing import Any

from queue_max.workers import current_job


def _write(kind: str, payload: dict[str, Any]) -> None:
    ctx = current_job()
    job_id = ctx.job.id if ctx is not None else 0
    with open(os.path.join(os.environ["QM_TEST_OUT"], f"{os.getpid()}.txt"), "a") as out:
        out.write(f"{kind} {payload.get('i')} {job_id} {os.getpid()}\n")


def record(payload: dict[str, Any]) -> None:
    """Record the run. `crash`: kill the process without any cleanup instead."""
    if payload.get("crash"):
        os._exit(13)
    _write("R", payload)


def phases(payload: dict[str, Any]) -> None:
    """Record the start, sleep `sleep` seconds, record the end."""
    _write("S", payload)
    time.sleep(payload.get("sleep", 0))
    _write("E", payload)


def hang(payload: dict[str, Any]) -> None:
    """Record the start of a `hang` job, then ignore every request to stop; others just run."""
    if not payload.get("hang"):
        _write("R", payload)
        return
    _write("S", payload)
    time.sleep(3600)


def read_lines(out_dir: str) -> list[tuple[str, int, int, int]]:
    """Every line the handlers wrote: (kind, i, job_id, pid)."""
    lines = []
    for name in sorted(os.listdir(out_dir)):
        with open(os.path.join(out_dir, name)) as f:
            for line in f:
                kind, i, job_id, pid = line.split()
                lines.append((kind, int(i), int(job_id), int(pid)))
    return lines
