"""Deterministic per-job costs: CPU instructions (callgrind) and SQL statements (counted per call).

    python benchmarks/instr.py claim_ack enqueue drain ceiling_drain   # instructions per job
    python benchmarks/instr.py --statements pop_complete claim_ack      # statements per job
    python benchmarks/instr.py --depth 1000000 claim_ack                 # at depth (pending jobs)
    python benchmarks/instr.py --scheduled 100000 claim_ack              # beside jobs due in an hour
    python benchmarks/instr.py --scheduled 100000 --n 10 cleanup_1s      # per maintenance cleanup pass
    python benchmarks/instr.py --n 1000 lone                             # one job enqueued, run, repeat
    python benchmarks/instr.py --n 1000 lone_4w                          # the same, four idle workers
    python benchmarks/instr.py drain_pinned                              # drain with batches pinned
    python benchmarks/instr.py --workers 1 --worker-thread drain_pinned  # its one worker thread alone

Timings on a shared 2-core machine move by 2-4x with the load; instruction counts do not.  Each
workload runs twice under ``valgrind --tool=callgrind`` in a fresh process and data directory,
once with N and once with 2N measured jobs (the same set-up in both), and the report is the
difference divided by N: start-up and set-up cancel out.  ``ceiling_drain`` runs the minimal
engine of ``ceiling.py`` the same way, so ours/ceiling in instructions per job is a
load-independent proxy for the drain row of ``peers.py``.  Statement counts wrap every
``sqlite3`` connection the process opens (`_Counting`: a trigger's run is not counted apart).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _refenv import REPO_ROOT, ours  # noqa: E402

WORKLOADS = ("enqueue", "delay", "claim_ack", "claim_ack_1s", "pop_complete", "drain", "drain_1s",
             "task_drain", "ceiling_drain", "cleanup_1s", "ceiling_enqueue", "stats", "lone", "lone_4w",
             "drain_pinned")
_STATEMENTS = [0]
_PATH = [0]  # lone workloads: statements from each enqueue call to its handler's start, summed


class _Counting(sqlite3.Connection):
    """A connection that counts the statements its caller runs: each `execute`, and each row of
    an `executemany`. A trigger's program is part of its statement, not counted apart.

    Not a trace callback: sqlite3 reports a trigger's run with the text of the statement that
    fired it, and telling that echo from a real repeat (a watcher polling `PRAGMA data_version`
    twice on one connection) by the text alone dropped the repeats, so the watcher's polls were
    undercounted about 2.5x."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        _STATEMENTS[0] += 1
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        rows = list(parameters)
        _STATEMENTS[0] += len(rows)
        return super().executemany(sql, rows)


def _count_statements() -> None:
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real(*args, factory=_Counting, **kwargs)

    sqlite3.connect = connect  # type: ignore[assignment]


def _fill(queue: Any, count: int, delay: float = 0.0) -> None:
    for lo in range(0, count, 100_000):
        items = range(lo, min(count, lo + 100_000))
        queue.enqueue_batch([{"payload": {"d": i}, "delay": delay} if delay else {"payload": {"d": i}} for i in items])


def _drain(queue: Any, n: int, handler: Any, seen: list[int]) -> None:
    from queue_max import Worker

    workers = [Worker(f"instr-{k}", handler, queue, poll_interval=0.01) for k in range(4)]
    for worker in workers:
        worker.start()
    deadline = time.time() + 600
    while seen[0] < n and time.time() < deadline:
        time.sleep(0.01)
    for worker in workers:
        worker.stop(10)


def _drain_pinned(queue: Any, handler: Any, done: threading.Event) -> None:
    """`_drain` with what the machine's speed decides pinned, so a count does not follow the
    load: 32-job claims (the batch target and hoard limit out of reach), acks in groups of 32
    (or at the batch's end), and the main thread waiting on an event instead of polling."""
    from queue_max import Worker
    from queue_max.workers import _runner

    _runner.BATCH_TARGET = _runner.HOARD_LIMIT = 1e9
    count = int(os.environ.get("INSTR_WORKERS", "4"))
    workers = [Worker(f"instr-{k}", handler, queue, poll_interval=0.01, prefetch=32, ack_interval=1e6)
               for k in range(count)]
    for worker in workers:
        worker.start()
    done.wait(600)
    for worker in workers:
        worker.stop(10)


def _lone(queue: Any, n: int, workers: int = 1) -> None:
    """`workers` running Workers on the queue's shards; enqueue one job with `Queue.enqueue` once
    they are all idle (parked on their hub), wait until its handler ran, repeat `n` times: the
    wake-to-start path of a lone job, then its ack and the worker's look for more (a
    deterministic proxy of the latency benchmark's p50, whose timings the shared machine
    scatters; that benchmark runs four workers)."""
    from queue_max import Worker

    ran = threading.Semaphore(0)
    sent = [0]  # the statement count when the current job's enqueue was called

    def handler(_payload: Any) -> None:
        _PATH[0] += _STATEMENTS[0] - sent[0]
        ran.release()

    started = [Worker(f"instr-lone-{k}", handler, queue) for k in range(workers)]
    for worker in started:
        worker.start()
    hub = started[0].hub
    for i in range(n):
        deadline = time.monotonic() + 60
        while not (hub is not None and len(hub._idle) == workers):  # idle, as between sparse jobs
            if time.monotonic() > deadline:
                raise SystemExit(f"lone: the worker did not go idle before job {i}")
            time.sleep(0.0002)
        sent[0] = _STATEMENTS[0]
        queue.enqueue({"i": i})
        if not ran.acquire(timeout=60):
            raise SystemExit(f"lone: job {i} did not run within 60 s")
    for worker in started:
        worker.stop(10)


def run(name: str, n: int, depth: int, data: Path, scheduled: int = 0) -> dict[str, Any]:
    """Set up, then (after a STATEMENTS mark) run `n` jobs of workload `name`."""
    if name == "ceiling_drain":
        return _ceiling(n, data)
    if name == "ceiling_enqueue":
        return _ceiling_enqueue(n, data)
    from queue_max import Queue, task

    shards = 1 if name.endswith("_1s") else 6
    queue = Queue(shards=shards, rate_limit=0, data_dir=str(data))
    _fill(queue, depth)
    _fill(queue, scheduled, 3600.0)
    seen, lock, done = [0], threading.Lock(), threading.Event()

    def hit(_payload: Any = None) -> None:
        with lock:
            seen[0] += 1
            if seen[0] >= n:
                done.set()

    counted = task(name="instr_counted", queue=queue)(lambda i: hit())
    if name in ("claim_ack", "claim_ack_1s", "pop_complete", "drain", "drain_1s", "drain_pinned"):
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(n)])
    elif name == "task_drain":
        counted.map(range(n))
    elif name == "cleanup_1s":  # n cleanup passes (as maintenance runs them) over 1,000 kept results
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(1000)])
        while jobs := queue.claim_jobs("instr", 100):
            queue.complete_jobs([(job, None) for job in jobs])
    before, _PATH[0] = _STATEMENTS[0], 0
    if name == "enqueue":
        for i in range(n):
            queue.enqueue({"i": i})
    elif name == "delay":
        for i in range(n):
            counted.delay(i)
    elif name in ("claim_ack", "claim_ack_1s"):
        done = 0
        while done < n and (jobs := queue.claim_jobs("instr", 32)):
            queue.complete_jobs([(job, None) for job in jobs])
            done += len(jobs)
    elif name == "pop_complete":
        while (job := queue.pop_job("instr")) is not None:
            queue.complete_job(job)
    elif name in ("drain", "drain_1s"):
        _drain(queue, n, hit, seen)
    elif name == "drain_pinned":
        _drain_pinned(queue, hit, done)
    elif name == "task_drain":
        _drain(queue, n, None, seen)
    elif name == "lone":
        _lone(queue, n)
    elif name == "lone_4w":
        _lone(queue, n, 4)
    elif name == "stats":
        for _ in range(n):
            queue.get_stats()
    elif name == "cleanup_1s":
        for _ in range(n):
            queue.backend.cleanup(time.time(), float("-inf"))
    statements = _STATEMENTS[0] - before
    queue.close()
    return {"statements": statements, "path": _PATH[0] if name.startswith("lone") else None}


def _ceiling(n: int, data: Path) -> dict[str, Any]:
    from ceiling import Ceiling

    engine = Ceiling(data)
    engine.enqueue_many([{"i": i} for i in range(n)])
    seen, lock = [0], threading.Lock()

    def hit(_payload: Any) -> None:
        with lock:
            seen[0] += 1

    engine.start(4, hit)
    while seen[0] < n:
        time.sleep(0.01)
    engine.stop()
    engine.close()
    return {"statements": 0}


def _ceiling_enqueue(n: int, data: Path) -> dict[str, Any]:
    from ceiling import Ceiling

    engine = Ceiling(data)
    for i in range(n):
        engine.enqueue({"i": i})
    engine.close()
    return {"statements": n}


def _child(args: argparse.Namespace) -> int:
    if args.count_statements:
        _count_statements()
    result = run(args.child, args.n, args.depth, Path(args.data_dir), args.scheduled)
    print(json.dumps(result), flush=True)
    return 0


def _measure(name: str, n: int, depth: int, statements: bool, scheduled: int = 0,
             worker_thread: bool = False) -> tuple[float, float | None]:
    """Per job: instructions or statements, and for a lone workload's statements those from the
    enqueue call to the handler's start (else None). `worker_thread`: the instructions of the
    busiest thread but the main one (with one worker thread, its runner: the count then leaves
    out the watcher, heartbeat and main threads, whose work follows the wall clock)."""
    side = ours()

    def command(count: int, data: Path) -> list[str]:
        return [side.python, __file__, "--child", name, "--n", str(count), "--depth", str(depth),
                "--scheduled", str(scheduled), "--data-dir", str(data / "q")]

    if not statements:
        return per_job_instructions(command, n, side.env, worker_thread=worker_thread, what=name), None
    with tempfile.TemporaryDirectory(dir=REPO_ROOT / ".bench") as tmp:
        done = subprocess.run([*command(n, Path(tmp)), "--count-statements"], env=side.env,
                              capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{name}: {done.stderr.strip()[-2000:]}")
    result = json.loads(lines[-1])
    path = result.get("path")
    return result["statements"] / n, None if path is None else path / n


def _json_line(stdout: str, _count: int) -> bool:
    return any(line.startswith("{") for line in stdout.splitlines())


def per_job_instructions(command: Callable[[int, Path], list[str]], n: int, env: dict[str, str], *,
                         worker_thread: bool = False, what: str = "",
                         finished: Callable[[str, int], bool] = _json_line) -> float:
    """Instructions a job: `command(count, data_dir)` run under callgrind in a fresh directory
    under `.bench/`, with N and then 2N jobs, the difference over N (start-up and set-up cancel
    out). `worker_thread`: count the busiest thread but the main one (`_busiest_thread`) instead
    of the whole process. `finished(stdout, count)` tells a run that did its work (default: it
    printed a JSON line); any other run stops the script with its stderr. Shared by the scripts
    that count instructions (`budget.py`, `tally_cost.py`)."""
    counts = []
    for count in (n, 2 * n):
        with tempfile.TemporaryDirectory(dir=REPO_ROOT / ".bench") as tmp:
            cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
                   *(["--separate-threads=yes"] if worker_thread else []), *command(count, Path(tmp))]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0 or not finished(done.stdout, count):
                raise SystemExit(f"{what}: {done.stderr.strip()[-2000:]}")
            if worker_thread:
                counts.append(_busiest_thread(Path(tmp)))
                continue
            found = re.search(r"Collected : (\d+)", done.stderr)
            if found is None:
                raise SystemExit(f"{what}: no callgrind summary in {done.stderr[-500:]}")
            counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / n


def _busiest_thread(out_dir: Path) -> int:
    """The instructions of the busiest thread but the first (main) one, from callgrind's
    per-thread files (`cg.out-01`, `cg.out-02`, ...)."""
    totals = []
    for path in out_dir.glob("cg.out-*"):
        if path.name.endswith("-01"):
            continue
        for line in path.read_text().splitlines():
            if line.startswith("summary:"):
                totals.append(int(line.split()[1]))
                break
    if not totals:
        raise SystemExit(f"no per-thread callgrind files in {out_dir}")
    return max(totals)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workloads", nargs="*", choices=[*WORKLOADS, []], default=[])
    p.add_argument("--n", type=int, default=2000, help="measured jobs (the second run does 2N)")
    p.add_argument("--depth", type=int, default=0, help="pending jobs filled in before measuring")
    p.add_argument("--scheduled", type=int, default=0, help="jobs due in an hour filled in before measuring")
    p.add_argument("--statements", action="store_true", help="SQL statements per job instead")
    p.add_argument("--workers", type=int, default=4, help="drain_pinned: worker threads")
    p.add_argument("--worker-thread", action="store_true",
                   help="instructions of the busiest thread but the main one (use with --workers 1)")
    p.add_argument("--child")
    p.add_argument("--count-statements", action="store_true")
    p.add_argument("--data-dir")
    args = p.parse_args(argv)
    if args.child:
        return _child(args)
    (REPO_ROOT / ".bench").mkdir(exist_ok=True)
    os.environ["INSTR_WORKERS"] = str(args.workers)  # read by the child (drain_pinned)
    unit = "statements/job" if args.statements else "instructions/job"
    for name in args.workloads or WORKLOADS:
        value, path = _measure(name, args.n, args.depth, args.statements, args.scheduled, args.worker_thread)
        extra = f", scheduled={args.scheduled}" if args.scheduled else ""
        extra += "" if path is None else f"; {path:.1f} of them from the enqueue call to the handler's start"
        print(f"{name:14} {value:12,.1f} {unit} (n={args.n}, depth={args.depth}{extra})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
