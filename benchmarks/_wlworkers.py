"""The worker workloads (issue 3): drains, enqueue-to-start latency, and a multi-process drain.

Each uses ``Worker(worker_id, process_function, queue, poll_interval=...)`` with ``start()`` and
``stop(timeout)``.  Worker processes are this same script run as ``_workloads.py _child``; they
meet the parent through files in a sync directory (ready-PID, go, stop) and append one
``"i time.time()"`` line per handler run to their own output file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

from _wlcommon import (
    WorkloadError,
    load_api,
    open_queue,
    percentile,
    prefill,
    queue_idle,
    rate,
    running,
    wait_until,
)

Result = dict[str, Any]
Payload = dict[str, Any]
Proc: TypeAlias = "subprocess.Popen[str]"
Handler = Callable[[Payload], Any]
SCRIPT = Path(__file__).with_name("_workloads.py")
IDLE_BEFORE_PRODUCING = 0.5  # seconds for workers to settle into their idle polling


def _make_workers(args: argparse.Namespace, queue: Any, handle: Handler | None) -> list[Any]:
    (worker_cls,) = load_api("Worker")
    return [
        worker_cls(f"bench-{os.getpid()}-{k}", handle, queue, poll_interval=args.poll_interval)
        for k in range(args.workers)
    ]


class _Completions:
    """Counts handler runs and signals when the expected number has been reached."""

    def __init__(self, expected: int) -> None:
        self.expected, self.count = expected, 0
        self.reached = threading.Event()
        self._lock = threading.Lock()

    def handle(self, payload: Payload) -> None:
        with self._lock:
            self.count += 1
            if self.count >= self.expected:
                self.reached.set()


def drain(args: argparse.Namespace) -> Result:
    """Thread workers drain n pre-enqueued no-op jobs; timed from start() until the queue idles."""
    load_api("Queue", "Worker")
    queue = open_queue(args.data_dir, args.shards)
    try:
        prefill(queue, args.n)
        done = _Completions(args.n)
        return _timed_drain(args, queue, done, done.handle)
    finally:
        queue.close()


def _timed_drain(args: argparse.Namespace, queue: Any, done: _Completions, handle: Handler | None) -> Result:
    workers = _make_workers(args, queue, handle)
    t0 = time.perf_counter()
    with running(workers):
        finished = done.reached.wait(args.time_cap)
        left = max(0.0, args.time_cap - (time.perf_counter() - t0))
        finished = finished and wait_until(lambda: queue_idle(queue), left, 0.002)
        seconds, count = time.perf_counter() - t0, done.count
    result = {"jobs": count, "seconds": seconds, "rate": rate(count, seconds)}
    return {**result, "workers": args.workers, "capped": not finished}


def drain_tasks(args: argparse.Namespace) -> Result:
    """``drain`` for jobs of a registered ``@task`` run by workers without a process_function."""
    (task,) = load_api("task")
    queue = open_queue(args.data_dir, args.shards)
    try:
        done = _Completions(args.n)
        counted = task(name="bench_counted", queue=queue)(lambda i: done.handle({}))
        for lo in range(0, args.n, 10_000):  # the envelope .delay() writes, enqueued in batches
            counted.map(range(lo, min(lo + 10_000, args.n)))
        return _timed_drain(args, queue, done, None)
    finally:
        queue.close()


def _produce(queue: Any, n: int, per_second: float, clock: Callable[[], float]) -> dict[int, float]:
    """Enqueue n jobs at a steady pace; return each job's ``clock()`` reading before enqueue."""
    sent: dict[int, float] = {}
    t0 = time.perf_counter()
    for k in range(n):
        pause = t0 + k / per_second - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sent[k] = clock()
        queue.enqueue({"i": k})
    return sent


def _latency_result(sent: dict[int, float], starts: dict[int, float]) -> Result:
    lat_ms = [(starts[i] - t) * 1000.0 for i, t in sent.items() if i in starts]
    return {
        "jobs": len(lat_ms),
        "missing": len(sent) - len(lat_ms),
        "p50_ms": percentile(lat_ms, 50),
        "p99_ms": percentile(lat_ms, 99),
        "max_ms": max(lat_ms, default=None),
    }


def latency_inproc(args: argparse.Namespace) -> Result:
    """Idle thread workers in this process; enqueue-to-handler-start latency at a steady rate."""
    load_api("Queue", "Worker")
    queue = open_queue(args.data_dir, args.shards)
    starts: dict[int, float] = {}

    def handle(payload: Payload) -> None:
        starts[payload["i"]] = time.perf_counter()

    try:
        with running(_make_workers(args, queue, handle)):
            time.sleep(IDLE_BEFORE_PRODUCING)
            sent = _produce(queue, args.n, args.rate, time.perf_counter)
            wait_until(lambda: len(starts) >= len(sent), args.time_cap)
    finally:
        queue.close()
    return {**_latency_result(sent, starts), "rate_offered": args.rate}


# --- worker processes --------------------------------------------------------------------------


def child(args: argparse.Namespace) -> Result:
    """A worker process: thread workers that start on 'go', stop on 'stop', log each run."""
    queue = open_queue(args.data_dir, args.shards)
    lock = threading.Lock()
    out = open(args.out, "a", buffering=1 << 16)  # flushed at exit: appends stay off the clock

    def handle(payload: Payload) -> None:
        line = f"{payload['i']} {time.time():.6f}\n"
        with lock:
            out.write(line)

    try:
        workers = _make_workers(args, queue, handle)
        (args.sync_dir / f"ready-{os.getpid()}").touch()
        if not wait_until((args.sync_dir / "go").exists, 120.0, 0.002):
            raise WorkloadError("no 'go' from the parent within 120 s")
        with running(workers):
            wait_until((args.sync_dir / "stop").exists, args.time_cap + 120.0, 0.01)
    finally:
        out.close()
        queue.close()
    return {}


def _spawn(args: argparse.Namespace, db: Path, sync: Path, k: int) -> Proc:
    cmd = [sys.executable, str(SCRIPT), "_child", "--data-dir", str(db), "--sync-dir", str(sync)]
    cmd += ["--out", str(sync / f"out-{k}.txt"), "--shards", str(args.shards)]
    cmd += ["--workers", str(args.workers), "--poll-interval", str(args.poll_interval)]
    cmd += ["--time-cap", str(args.time_cap)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _child_error(proc: Proc) -> str:
    out = proc.stdout.read() if proc.stdout else ""
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return str(json.loads(line).get("error", f"exit code {proc.returncode}"))
    return f"worker process exited with code {proc.returncode}"


def _await_ready(procs: list[Proc], sync: Path, timeout: float = 60.0) -> None:
    def ready() -> bool:
        for proc in procs:
            if proc.poll() is not None:
                raise WorkloadError(f"worker process failed: {_child_error(proc)}")
        return len(list(sync.glob("ready-*"))) == len(procs)

    if not wait_until(ready, timeout, 0.01):
        raise WorkloadError(f"worker processes not ready within {timeout:.0f} s")


def _reap(procs: list[Proc], sync: Path) -> list[str]:
    """Tell the worker processes to stop and wait for them; return their errors, if any."""
    (sync / "stop").touch()
    errors = []
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.returncode != 0:
            errors.append(_child_error(proc))
    return errors


def _read_runs(sync: Path) -> list[tuple[int, float]]:
    runs = []
    for path in sorted(sync.glob("out-*.txt")):
        for line in path.read_text().splitlines():
            i, ts = line.split()
            runs.append((int(i), float(ts)))
    return runs


Body = Callable[[Any, Path, list[Proc]], Result]  # (queue, sync dir, worker processes)


def _with_processes(args: argparse.Namespace, body: Body) -> Result:
    """Open the queue here, start ``--procs`` worker processes on it, run ``body``, reap them."""
    load_api("Queue", "Worker")
    db, sync = args.data_dir / "db", args.data_dir / "sync"
    sync.mkdir(parents=True, exist_ok=True)
    queue = open_queue(db, args.shards)  # creates the shard files before any child opens them
    procs: list[Proc] = []
    try:
        procs = [_spawn(args, db, sync, k) for k in range(args.procs)]
        result = body(queue, sync, procs)
    finally:
        errors = _reap(procs, sync)
        queue.close()
    result = {**result, "procs": args.procs, "workers": args.workers}
    return {**result, "child_errors": errors} if errors else result


def latency_xproc(args: argparse.Namespace) -> Result:
    """Idle workers in another process; enqueue-to-start latency measured with ``time.time()``."""

    def body(queue: Any, sync: Path, procs: list[Proc]) -> Result:
        _await_ready(procs, sync)
        (sync / "go").touch()
        time.sleep(IDLE_BEFORE_PRODUCING)
        sent = _produce(queue, args.n, args.rate, time.time)
        wait_until(lambda: queue_idle(queue), args.time_cap, 0.02)
        return {"sent": sent}

    args.procs = 1
    result = _with_processes(args, body)
    sent = result.pop("sent")
    starts = dict(_read_runs(args.data_dir / "sync"))
    return {**result, **_latency_result(sent, starts), "rate_offered": args.rate}


def multiproc_drain(args: argparse.Namespace) -> Result:
    """``--procs`` processes of thread workers drain n jobs; count duplicates and lost jobs."""

    def body(queue: Any, sync: Path, procs: list[Proc]) -> Result:
        prefill(queue, args.n)
        _await_ready(procs, sync)
        t0 = time.perf_counter()
        (sync / "go").touch()
        finished = wait_until(lambda: queue_idle(queue), args.time_cap, 0.05)
        return {"seconds": time.perf_counter() - t0, "capped": not finished}

    result = _with_processes(args, body)
    ran = [i for i, _ in _read_runs(args.data_dir / "sync")]
    unique = set(ran)
    seconds = result["seconds"]
    lost = None if result["capped"] else len(set(range(args.n)) - unique)
    counts = {"jobs": len(unique), "rate": rate(len(unique), seconds)}
    return {**result, **counts, "duplicates": len(ran) - len(unique), "lost": lost}


WORKLOADS: dict[str, Callable[[argparse.Namespace], Result]] = {
    "drain_4w_6s": drain,
    "drain_16w_1s": drain,
    "drain_tasks_4w_6s": drain_tasks,
    "latency_inproc": latency_inproc,
    "latency_xproc": latency_xproc,
    "multiproc_drain": multiproc_drain,
    "_child": child,
}
