"""A worker subprocess for the task tests: runs task jobs until its stop file appears.

Usage: tasks_worker.py DATA_DIR TASK_MODULE STOP_FILE
Uses `queue_max.workers.Worker(..., process_function=run_task)` when it exists, else a small
claim loop around `process_task_job`.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE.parent)]

from queue_max import Queue, Settings  # noqa: E402
from queue_max.tasks import process_task_job, run_task  # noqa: E402

try:
    from queue_max.workers import Worker
except ImportError:  # the workers package is not there yet
    Worker = None  # type: ignore[assignment,misc]


def claim_loop(queue: Queue, stop: Path) -> None:
    while not stop.exists():
        jobs = queue.claim_jobs("tasks-worker", 4)
        if not jobs:
            time.sleep(0.02)
            continue
        for job in jobs:
            process_task_job(queue, job)


def with_worker(queue: Queue, stop: Path) -> None:
    worker = Worker("tasks-worker", run_task, queue, poll_interval=0.02)
    worker.start()
    while not stop.exists():
        time.sleep(0.02)
    worker.stop()


def main(data_dir: str, module: str, stop_file: str) -> None:
    importlib.import_module(module)
    queue = Queue(data_dir=data_dir, rate_limit=0, settings=Settings())
    try:
        (claim_loop if Worker is None else with_worker)(queue, Path(stop_file))
    finally:
        queue.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
