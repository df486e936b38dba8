"""What `durable=True` (synchronous=FULL) costs against the default synchronous=NORMAL.

    PYTHONPATH=src python tests/chaos/durability_cost.py [--repeat 3] [--jobs 3000]

A measurement for docs/reliability.md, not a test: it asserts nothing. Each workload runs on a
fresh 1-shard directory under --dir (default: a temporary directory on the same disk as /tmp;
point it at the disk you deploy on), the two settings alternating, and the table shows the
median rate of each and the ratio durable/default.

- enqueue: single `enqueue()` calls, one commit each;
- claim+complete: `pop_job` then `complete_job`, one job at a time (two commits per job);
- batch: `enqueue_batch` of 1000 jobs per call;
- Worker drain: a burst `Worker` with 4 threads runs no-op jobs (claims and acks grouped).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "src"))

from queue_max import Queue, Settings  # noqa: E402


def enqueue(queue: Queue, jobs: int) -> float:
    began = time.perf_counter()
    for n in range(jobs):
        queue.enqueue({"i": n})
    return jobs / (time.perf_counter() - began)


def claim_complete(queue: Queue, jobs: int) -> float:
    queue.enqueue_batch([{"payload": {"i": n}} for n in range(jobs)])
    began = time.perf_counter()
    for _ in range(jobs):
        job = queue.pop_job("w")
        assert job is not None
        queue.complete_job(job)
    return jobs / (time.perf_counter() - began)


def batch(queue: Queue, jobs: int) -> float:
    total = jobs * 10
    began = time.perf_counter()
    for start in range(0, total, 1000):
        queue.enqueue_batch([{"payload": {"i": n}} for n in range(start, start + 1000)])
    return total / (time.perf_counter() - began)


def worker_drain(queue: Queue, jobs: int) -> float:
    from queue_max.workers import Worker

    total = jobs * 3
    queue.enqueue_batch([{"payload": {"i": n}} for n in range(total)])
    worker = Worker("w", lambda payload: None, queue, concurrency=4, burst=True, poll_interval=0.01)
    began = time.perf_counter()
    worker.start()
    worker.wait()
    return total / (time.perf_counter() - began)


WORKLOADS: dict[str, Callable[[Queue, int], float]] = {
    "enqueue (1 commit/job)": enqueue, "claim+complete (2 commits/job)": claim_complete,
    "enqueue_batch x1000": batch, "Worker drain, 4 threads": worker_drain,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="queue-max-durable-", dir=args.dir))
    print(f"{'workload':<32} {'default jobs/s':>15} {'durable jobs/s':>15} {'durable/default':>16}")
    for name, workload in WORKLOADS.items():
        rates: dict[bool, list[float]] = {False: [], True: []}
        for run in range(args.repeat):
            for durable in ((False, True) if run % 2 == 0 else (True, False)):
                where = base / f"{workload.__name__}-{run}-{durable}"
                with Queue(data_dir=where, shards=1, rate_limit=0, durable=durable, settings=Settings()) as queue:
                    rates[durable].append(workload(queue, args.jobs))
        default, durable_rate = statistics.median(rates[False]), statistics.median(rates[True])
        print(f"{name:<32} {default:>15,.0f} {durable_rate:>15,.0f} {durable_rate / default:>16.2f}")
    print(f"(medians of {args.repeat} runs, {args.jobs} jobs per run; data in {base})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
