"""A scheduler subprocess for the periodic-task tests: fires ticks for SECONDS, then exits.

Usage: tasks_scheduler.py DATA_DIR TASK_MODULE SECONDS READY_FILE
Writes READY_FILE once its queue is open, then waits for GO_FILE (READY_FILE + ".go") so that
several schedulers start together.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE.parent)]

from queue_max import Queue, Settings  # noqa: E402
from queue_max.tasks import Scheduler  # noqa: E402


def main(data_dir: str, module: str, seconds: str, ready_file: str) -> None:
    importlib.import_module(module)
    queue = Queue(data_dir=data_dir, rate_limit=0, settings=Settings())
    scheduler = Scheduler.for_registered(queue)
    Path(ready_file).touch()
    go = Path(ready_file + ".go")
    while not go.exists():
        time.sleep(0.01)
    scheduler.start()
    time.sleep(float(seconds))
    scheduler.stop()
    queue.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
