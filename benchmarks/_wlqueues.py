"""Workloads of issue 10 (named queues, host-wide limits); ours only, run by `queues.py`.

    python _wlqueues.py NAME --data-dir DIR [--n N] [--seconds S]

prints one JSON line, as `_workloads.py` does.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["noop"]

HERE = Path(__file__).resolve().parent


def noop(payload: dict[str, Any]) -> None:
    """The handler of the rate-limited drain (imported by the worker processes)."""


def _claim_rate(queue: Any, n: int, queues: list[str] | None) -> dict[str, Any]:
    done, started = 0, time.perf_counter()
    while done < n:
        jobs = queue.claim_jobs("bench", 32, queues=queues)
        if not jobs:
            break
        queue.complete_jobs([(job, None) for job in jobs])
        done += len(jobs)
    seconds = time.perf_counter() - started
    return {"jobs": done, "seconds": seconds, "rate": done / seconds if seconds else 0.0}


def filtered_claim(args: argparse.Namespace) -> dict[str, Any]:
    """Claim+complete N jobs of one queue among 10 queues of N jobs each (6 shards)."""
    from queue_max import Queue

    queue = Queue(data_dir=args.data_dir, shards=6, rate_limit=0)
    for q in range(10):
        queue.enqueue_batch([{"payload": {"i": i}, "queue_name": f"q{q}"} for i in range(args.n)])
    return _claim_rate(queue, args.n, ["q5"])


def single_queue_claim(args: argparse.Namespace) -> dict[str, Any]:
    """The same claim loop (N jobs) on a directory of as many jobs, all in that one queue."""
    from queue_max import Queue

    queue = Queue(data_dir=args.data_dir, shards=6, rate_limit=0)
    for _ in range(10):
        queue.enqueue_batch([{"payload": {"i": i}, "queue_name": "q5"} for i in range(args.n)])
    return _claim_rate(queue, args.n, ["q5"])


def rate_limited_4p(args: argparse.Namespace) -> dict[str, Any]:
    """`queue-max worker --processes 4 --threads 2` under --rate-limit R for S seconds: how many
    jobs started, against the most the limit allows (burst + R/60 x elapsed)."""
    from queue_max import Queue

    per_minute, burst = args.rate, args.burst
    with Queue(data_dir=args.data_dir, shards=6, rate_limit=0) as queue:
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(args.n)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.environ.get("PYTHONPATH", ""), str(HERE)])}
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "queue_max", "--data-dir", str(args.data_dir), "worker", "--function",
         "_wlqueues:noop", "--processes", "4", "--threads", "2", "--poll-interval", "0.05",
         "--rate-limit", str(per_minute), "--rate-limit-burst", str(burst)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(args.seconds)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    elapsed = time.time() - started
    with Queue(data_dir=args.data_dir, rate_limit=0) as queue:
        ran = sum(1 for job in queue.list_jobs(limit=args.n) if job.started_ts is not None)
    allowed = burst + per_minute / 60.0 * elapsed
    return {"jobs": ran, "seconds": elapsed, "rate": ran / elapsed, "allowed": allowed,
            "ratio_to_limit": ran / allowed}


WORKLOADS = {"filtered_claim": filtered_claim, "single_queue_claim": single_queue_claim,
             "rate_limited_4p": rate_limited_4p}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workload", choices=sorted(WORKLOADS))
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rate", type=int, default=600, help="rate_limited_4p: jobs per minute")
    p.add_argument("--burst", type=int, default=10, help="rate_limited_4p: bucket size")
    args = p.parse_args()
    print(json.dumps({"workload": args.workload, **WORKLOADS[args.workload](args)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
