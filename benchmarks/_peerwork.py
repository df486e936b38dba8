"""One peer-benchmark run: one engine, one workload, a fresh data dir; one JSON line out.

    python _peerwork.py ENGINE WORKLOAD --data-dir DIR [--n N] [--threads 4] [--durable] [--shards 6]

Run by peers.py in the engine's own interpreter (its virtual environment).  Workloads use only
the `Engine` interface of _engines.py; payloads are ``{"i": n}``, handlers do nothing but count.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _engines import ENGINES, Engine, wait_for
from _wlcommon import percentile, rate

Result = dict[str, Any]
CHUNK = 10_000
IDLE_BEFORE_PRODUCING = 0.5


class Counter:
    """Counts handler runs; `reached` is set at the n-th."""

    def __init__(self, n: int) -> None:
        self.n, self.count = n, 0
        self.reached = threading.Event()
        self.lock = threading.Lock()

    def hit(self, _payload: Any = None) -> None:
        with self.lock:
            self.count += 1
            if self.count >= self.n:
                self.reached.set()


def _loop(step: Callable[[int], Any], n: int) -> Result:
    t0 = time.perf_counter()
    for k in range(n):
        step(k)
    seconds = time.perf_counter() - t0
    return {"jobs": n, "seconds": seconds, "rate": rate(n, seconds)}


def enqueue_single(engine: Engine, args: argparse.Namespace) -> Result:
    for k in range(200):  # warm-up: connections, statement caches
        engine.enqueue({"i": -k})
    return _loop(lambda k: engine.enqueue({"i": k}), args.n)


def enqueue_batch(engine: Engine, args: argparse.Namespace) -> Result:
    t0 = time.perf_counter()
    _fill(engine, args.n, args.chunk)
    seconds = time.perf_counter() - t0
    return {"jobs": args.n, "seconds": seconds, "rate": rate(args.n, seconds)}


def _fill(engine: Engine, n: int, chunk: int = CHUNK) -> None:
    for lo in range(0, n, chunk):
        engine.enqueue_many([{"i": i} for i in range(lo, min(n, lo + chunk))])


def _drain(engine: Engine, args: argparse.Namespace, counter: Counter, handler: Any) -> Result:
    t0 = time.perf_counter()
    engine.start(args.threads, handler)
    try:
        finished = counter.reached.wait(args.time_cap)
        seconds = time.perf_counter() - t0
    finally:
        engine.stop()
    return {"jobs": counter.count, "seconds": seconds, "rate": rate(counter.count, seconds),
            "capped": not finished}


def drain(engine: Engine, args: argparse.Namespace) -> Result:
    """Threads drain n pre-enqueued jobs; timed from start to the n-th handler run."""
    _fill(engine, args.n, args.chunk)
    counter = Counter(args.n)
    return _drain(engine, args, counter, counter.hit)


def latency(engine: Engine, args: argparse.Namespace) -> Result:
    """Idle workers; jobs enqueued at a steady 50/s; enqueue-to-handler-start times."""
    starts: dict[int, float] = {}
    engine.start(args.threads, lambda payload: starts.__setitem__(payload["i"], time.perf_counter()))
    sent: dict[int, float] = {}
    try:
        time.sleep(IDLE_BEFORE_PRODUCING)
        t0 = time.perf_counter()
        for k in range(args.n):
            pause = t0 + k / 50.0 - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent[k] = time.perf_counter()
            engine.enqueue({"i": k})
        wait_for(lambda: len(starts) >= args.n, args.time_cap, 0.01)
    finally:
        engine.stop()
    lat = [(starts[k] - t) * 1000 for k, t in sent.items() if k in starts]
    return {"jobs": len(lat), "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)}


def task_delay(engine: Engine, args: argparse.Namespace) -> Result:
    delay = engine.task(_noop)
    for k in range(200):
        delay(-k)
    return _loop(delay, args.n)


def _noop(i: int) -> None:
    return None


def task_drain(engine: Engine, args: argparse.Namespace) -> Result:
    """Threads drain n jobs of a task (enqueued with its delay call) that counts its runs."""
    counter = Counter(args.n)

    def counted(i: int) -> None:
        counter.hit()

    delay = engine.task(counted)
    for k in range(args.n):
        delay(k)
    return _drain(engine, args, counter, None)


WORKLOADS: dict[str, Callable[[Engine, argparse.Namespace], Result]] = {
    "enqueue_single": enqueue_single,
    "enqueue_batch": enqueue_batch,
    "drain": drain,
    "latency": latency,
    "task_delay": task_delay,
    "task_drain": task_drain,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("engine", choices=sorted(ENGINES))
    p.add_argument("workload", choices=sorted(WORKLOADS))
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--shards", type=int, default=6)
    p.add_argument("--durable", action="store_true")
    p.add_argument("--chunk", type=int, default=CHUNK, help="jobs a batch enqueue call (each lands on one shard)")
    p.add_argument("--time-cap", type=float, default=120.0)
    args = p.parse_args(argv)
    head = {"engine": args.engine, "workload": args.workload, "n": args.n, "durable": args.durable}
    args.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        engine = ENGINES[args.engine]()(args.data_dir, args.durable, args.shards)
        if args.workload.startswith("task") and not engine.has_tasks:
            raise NotImplementedError(f"{args.engine} has no task decorator")
        try:
            result = WORKLOADS[args.workload](engine, args)
        finally:
            engine.close()
    except (ImportError, NotImplementedError) as exc:
        print(json.dumps({**head, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 2
    print(json.dumps({**head, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
