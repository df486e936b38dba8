"""The `@task` path against the plain one in CPU time per job, in one process: robust to a loaded machine.

    PYTHONPATH=src python benchmarks/task_cpu.py [--rounds 6] [--jobs 5000]

Wall-clock rates of two workloads run minutes apart on a shared machine differ by more than the
effect measured, so this alternates the two paths in one process and compares
``time.process_time()`` per job: ``Queue.enqueue`` against ``.delay()``, then a 4-thread ``Worker``
draining plain jobs against one draining task jobs.  Medians of ``--rounds``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from typing import Any

from queue_max import Queue, Worker, task


def _cpu_per_job(step: Any, n: int) -> float:
    start = time.process_time()
    for i in range(n):
        step(i)
    return (time.process_time() - start) / n * 1e6


def _drain_cpu(queue: Queue, n: int, handler: Any, done: list[int], reached: threading.Event) -> float:
    workers = [Worker(f"cpu-{k}", handler, queue, poll_interval=0.01) for k in range(4)]
    start = time.process_time()
    for worker in workers:
        worker.start()
    reached.wait(120)
    spent = time.process_time() - start
    for worker in workers:
        worker.stop(10)
    return spent / n * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--jobs", type=int, default=5000)
    args = p.parse_args()
    n = args.jobs
    with tempfile.TemporaryDirectory() as tmp:
        queue = Queue(shards=6, rate_limit=10**9, data_dir=tmp)
        state = {"count": 0, "reached": threading.Event()}
        lock = threading.Lock()

        def hit(_payload: Any = None) -> None:
            with lock:
                state["count"] += 1
                if state["count"] >= n:
                    state["reached"].set()

        noop = task(name="cpu_noop", queue=queue)(lambda i: None)
        counted = task(name="cpu_counted", queue=queue)(lambda i: hit())
        plain, tasks, plain_drain, task_drain = [], [], [], []
        for _ in range(args.rounds):
            plain.append(_cpu_per_job(lambda i: queue.enqueue({"i": i}), n))
            tasks.append(_cpu_per_job(noop.delay, n))
            for path, fill, handler in ((plain_drain, lambda: queue.enqueue_batch([{"payload": {"i": i}} for i in range(n)]), hit),
                                        (task_drain, lambda: counted.map(range(n)), None)):
                while queue.claim_jobs("cpu-sweep", 1000):
                    pass  # leftovers of the enqueue loops: claimed here, out of the way
                state["count"], state["reached"] = 0, threading.Event()
                fill()
                path.append(_drain_cpu(queue, n, handler, [], state["reached"]))
        queue.close()
    med = statistics.median
    print(f"enqueue {med(plain):.1f} us/job, .delay() {med(tasks):.1f} us/job: ratio {med(plain) / med(tasks):.2f}")
    print(f"plain drain {med(plain_drain):.1f} us/job, task drain {med(task_drain):.1f} us/job: "
          f"ratio {med(plain_drain) / med(task_drain):.2f}")


if __name__ == "__main__":
    main()
