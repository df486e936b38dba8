"""Dead-letter counts and lists by queue at depth, on either backend.

    python benchmarks/dead_counts.py build 100000 DIR      # 6 shards; or a postgresql:// URL
    python benchmarks/dead_counts.py measure DIR

`build` enqueues N jobs (chunks of 50k, every other one in queue "mail", the rest in "default"),
claims and buries them all (`ErrorInfo("ValueError", ...)`), then measures; `measure` opens the
same store and measures. To weigh a change, build with the tree before it, copy the directory
(SQLite), and `measure` the copies alternately with each tree: a newer tree migrates the copy it
opens, and the open's time is printed. PostgreSQL uses the schema QUEUE_MAX_DATABASE_SCHEMA names.
Each call is timed five times in the process and the median printed, with the load average.
Timed figures, never asserted anywhere.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from queue_max import Queue
from queue_max.models import ErrorInfo


def _open(target: str) -> Queue:
    if target.startswith("postgresql"):
        return Queue(database_url=target, rate_limit=0)
    return Queue(data_dir=target, shards=6, rate_limit=0)


def _build(queue: Queue, n: int) -> None:
    for low in range(0, n, 50_000):
        queue.enqueue_batch([{"payload": {"x": i}, "queue_name": "mail" if i % 2 else "default"}
                             for i in range(low, min(n, low + 50_000))])
    error = ErrorInfo("ValueError", "dead")
    while jobs := queue.backend.claim("dead", 256, 300.0, time.time()):
        for job in jobs:
            queue.backend.bury(job.lease, error, time.time())


def _calls(queue: Queue) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("get_stats()", lambda: queue.get_stats()["dead_letter"]),
        ("counts(queue_name=mail)", lambda: queue.counts(queue_name="mail")["dead_letter"]),
        ("dlq_count(queue_name=mail)", lambda: queue.dlq_count(queue_name="mail")),
        ("dlq_count()", lambda: queue.dlq_count()),
        ("dlq_count(queue_name=mail, error_type=ValueError)",
         lambda: queue.dlq_count(queue_name="mail", error_type="ValueError")),
        ("dlq_list(50, queue_name=mail)", lambda: len(queue.dlq_list(50, queue_name="mail"))),
    ]


def main(argv: list[str]) -> None:
    mode, target = argv[0], argv[-1]
    started = time.perf_counter()
    queue = _open(target)
    print(f"open: {(time.perf_counter() - started) * 1000:.0f} ms")
    if mode == "build":
        _build(queue, int(argv[1]))
    for label, call in _calls(queue):
        times = []
        for _ in range(5):
            started = time.perf_counter()
            result = call()
            times.append((time.perf_counter() - started) * 1000)
        print(f"{label}: median {statistics.median(times):.2f} ms -> {result}")
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    queue.close()


if __name__ == "__main__":
    main(sys.argv[1:])
