"""The basic example of the queue-max 0.1.1 README ("Basic enqueue + worker"), runnable.

Two changes from the original: the shard files go to a temporary directory instead of ./data,
and instead of sleeping three seconds and hoping the jobs are done, it waits until the queue is
empty (at most ten seconds). `Worker` is imported from `queue_max.workers`.

    python examples/basic_usage.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    import queue_max  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from queue_max import Queue
from queue_max.workers import Worker


def process(payload: dict[str, Any]) -> str:
    print(f"Processing: {payload}")
    return "done"


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir, \
            Queue(shards=3, rate_limit=100, data_dir=data_dir) as queue:
        # Enqueue jobs
        for i in range(5):
            queue.enqueue({"task": f"job-{i}"}, priority=i % 3)

        # Process with a worker
        worker = Worker("example", process, queue, poll_interval=0.1)
        worker.start()
        drained = queue.wait_until_empty(timeout=10)   # the original slept 3 seconds here
        worker.stop()

        stats = queue.get_stats()
        print(f"Stats: {stats}")
        return 0 if drained and stats["completed"] == 5 and stats["pending"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
