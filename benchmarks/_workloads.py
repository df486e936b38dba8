"""One benchmark workload per run, on whichever ``queue_max`` is importable; one JSON line out.

    python _workloads.py WORKLOAD --data-dir DIR [--n N] [--time-cap SECONDS] [...]

The driver (run.py) starts this script once per workload and side, with a fresh data dir each
time.  The core workloads (issue 2) live here; the worker workloads (issue 3) in _wlworkers.py.
Expected failures (API not there yet, queue never drained) print ``{"workload": ..., "error": ...}``
and exit 2, without a traceback; ``--debug`` lets the exception through instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _wlcommon import WorkloadError, load_api, open_queue, prefill, rate, timed_loop

Result = dict[str, Any]


def _timed_enqueues(queue: Any, args: argparse.Namespace) -> tuple[int, float]:
    """Untimed warm-up enqueues (connections, statement caches), then the timed loop."""
    for k in range(args.warmup):
        queue.enqueue({"i": args.n + k})
    return timed_loop(lambda k: queue.enqueue({"i": k}), args.n, args.time_cap)


def enqueue_single(args: argparse.Namespace) -> Result:
    """Single ``enqueue()`` calls on an (all but) empty queue."""
    queue = open_queue(args.data_dir, args.shards)
    try:
        done, seconds = _timed_enqueues(queue, args)
    finally:
        queue.close()
    return {"jobs": done, "seconds": seconds, "rate": rate(done, seconds)}


def enqueue_batch(args: argparse.Namespace) -> Result:
    """``enqueue_batch`` of n jobs in calls of ``--chunk`` items (one call by default)."""
    queue = open_queue(args.data_dir, args.shards)
    chunk = args.chunk or args.n
    try:
        t0 = time.perf_counter()
        prefill(queue, args.n, chunk=chunk)
        seconds = time.perf_counter() - t0
    finally:
        queue.close()
    return {"jobs": args.n, "seconds": seconds, "rate": rate(args.n, seconds), "chunk": chunk}


def pop_complete(args: argparse.Namespace) -> Result:
    """One thread: ``pop_job`` + ``complete_job`` until the pre-filled queue is empty."""
    queue = open_queue(args.data_dir, args.shards)

    def step(_: int) -> bool:
        job = queue.pop_job("bench-0")
        if job is None:
            return False
        queue.complete_job(job.id, job.shard_id)
        return True

    try:
        prefill(queue, args.n)
        done, seconds = timed_loop(step, args.n, args.time_cap)
    finally:
        queue.close()
    return {"jobs": done, "seconds": seconds, "rate": rate(done, seconds)}


def enqueue_at_depth(args: argparse.Namespace) -> Result:
    """Single ``enqueue()`` with ``--depth`` jobs pending, beside the loop on an empty queue."""
    base_args = argparse.Namespace(**{**vars(args), "data_dir": args.data_dir / "empty"})
    baseline = enqueue_single(base_args)
    queue = open_queue(args.data_dir / "deep", args.shards)
    try:
        prefill(queue, args.depth, start=args.n + args.warmup)
        done, seconds = _timed_enqueues(queue, args)
    finally:
        queue.close()
    at_depth = rate(done, seconds)
    return {
        "jobs": done,
        "seconds": seconds,
        "rate": at_depth,
        "depth": args.depth,
        "empty_rate": baseline["rate"],
        "depth_ratio": at_depth / baseline["rate"] if baseline["rate"] else None,
    }


def task_delay(args: argparse.Namespace) -> Result:
    """Single ``.delay(i)`` calls of a one-argument ``@task`` (ours only: 0.1.1 has no tasks)."""
    (task,) = load_api("task")
    queue = open_queue(args.data_dir, args.shards)
    try:
        noop = task(name="bench_noop", queue=queue)(lambda i: None)
        for k in range(args.warmup):
            noop.delay(args.n + k)
        done, seconds = timed_loop(lambda k: noop.delay(k), args.n, args.time_cap)
    finally:
        queue.close()
    return {"jobs": done, "seconds": seconds, "rate": rate(done, seconds)}


CORE: dict[str, Callable[[argparse.Namespace], Result]] = {
    "enqueue_single": enqueue_single,
    "enqueue_batch": enqueue_batch,
    "pop_complete": pop_complete,
    "enqueue_at_depth": enqueue_at_depth,
    "task_delay": task_delay,
}

# Per workload: (default n, default time cap in seconds).  Drains get a longer cap than the
# loops because duplicates and losses can only be counted once the queue is empty.
DEFAULTS: dict[str, tuple[int, float]] = {
    "enqueue_single": (20_000, 20.0),
    "enqueue_batch": (100_000, 60.0),
    "pop_complete": (20_000, 20.0),
    "enqueue_at_depth": (20_000, 20.0),
    "task_delay": (20_000, 20.0),
    "drain_tasks_4w_6s": (20_000, 60.0),
    "drain_4w_6s": (20_000, 60.0),
    "drain_16w_1s": (20_000, 60.0),
    "latency_inproc": (500, 30.0),
    "latency_xproc": (500, 30.0),
    "multiproc_drain": (50_000, 120.0),
}


def _workloads() -> dict[str, Callable[[argparse.Namespace], Result]]:
    import _wlworkers

    return {**CORE, **_wlworkers.WORKLOADS}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workload", help="one of: " + ", ".join(DEFAULTS) + " (or _child)")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--n", type=int, help="jobs to run (default per workload)")
    p.add_argument("--time-cap", type=float, help="seconds after which a timed loop stops")
    p.add_argument("--shards", type=int, help="shards (default 6; 1 for drain_16w_1s)")
    p.add_argument("--chunk", type=int, default=0, help="enqueue_batch items per call (0: all)")
    p.add_argument("--warmup", type=int, default=200, help="untimed enqueues before a loop")
    p.add_argument("--depth", type=int, default=200_000, help="pending jobs for enqueue_at_depth")
    p.add_argument("--workers", type=int, help="thread workers (per process)")
    p.add_argument("--procs", type=int, default=4, help="worker processes for multiproc_drain")
    p.add_argument("--poll-interval", type=float, default=0.01)
    p.add_argument("--rate", type=float, default=50.0, help="jobs/s offered by latency workloads")
    p.add_argument("--out", type=Path, help="_child: file to append 'i time' lines to")
    p.add_argument("--sync-dir", type=Path, help="_child: directory of ready/go/stop files")
    p.add_argument("--debug", action="store_true", help="raise instead of printing an error line")
    return p


def _fill_defaults(args: argparse.Namespace) -> None:
    n, cap = DEFAULTS.get(args.workload, (0, 60.0))
    args.n = n if args.n is None else args.n
    args.time_cap = cap if args.time_cap is None else args.time_cap
    if args.shards is None:
        args.shards = 1 if args.workload == "drain_16w_1s" else 6
    if args.workers is None:
        args.workers = 16 if args.workload == "drain_16w_1s" else 4


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _fill_defaults(args)
    workloads = _workloads()
    if args.workload not in workloads:
        print(f"unknown workload {args.workload!r}; known: {', '.join(workloads)}", file=sys.stderr)
        return 2
    head: Result = {"workload": args.workload, "n": args.n, "shards": args.shards}
    try:
        result = {**head, **workloads[args.workload](args)}
        code = 0
    except (WorkloadError, ImportError, AttributeError, TypeError, NotImplementedError) as exc:
        # The usual ways an unfinished implementation fails: report them, don't dump a traceback.
        if args.debug:
            raise
        result, code = {**head, "error": f"{type(exc).__name__}: {exc}"}, 2
    print(json.dumps(result), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
