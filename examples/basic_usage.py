"""The basic example of the queue-max 0.1.1 README, adapted to run to completion.

The original starts a `Worker` and sleeps three seconds. Until the `Worker` class lands
(docs/workers.md), this version drains the queue with `pop_job` / `complete_job`, and keeps its
shard files in a temporary directory instead of ./data.

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


def process(payload: dict[str, Any]) -> str:
    print(f"Processing: {payload}")
    return "done"


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir, \
            Queue(shards=3, rate_limit=100, data_dir=data_dir) as queue:
        # Enqueue jobs
        for i in range(5):
            queue.enqueue({"task": f"job-{i}"}, priority=i % 3)

        # Process them (what a Worker does for you): highest priority first within a shard
        while (job := queue.pop_job("example")) is not None:
            result = process(job.payload)
            queue.complete_job(job.id, job.shard_id, result=result)

        stats = queue.get_stats()
        print(f"Stats: {stats}")
        return 0 if stats["completed"] == 5 and stats["pending"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
