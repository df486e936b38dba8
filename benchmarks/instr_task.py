"""The @task path against the plain one in instructions a job: one thread, a frozen clock.

    python benchmarks/instr_task.py                    # all four
    python benchmarks/instr_task.py task plain         # a worker's side: @task jobs, plain jobs
    python benchmarks/instr_task.py delay enqueue      # Task.delay(i), Queue.enqueue({"i": i})
    python benchmarks/instr_task.py map batch          # Task.map(range(N)), enqueue_batch of N

`instr.py drain` / `task_drain` run four worker threads, whose claim and ack batch sizes follow
the wall time a job takes (stretched by callgrind), so they move by up to 10% between runs of the
same code; `task_drain` also counts the `Task.map` that fills the queue.  Here one `Runner` of a
(not started) `Worker` claims up to 32 jobs, runs each through `Runner._run_one` and
acknowledges them in one group, until the queue is empty, and callgrind collects only inside
that loop (`--toggle-collect=functools_reduce`: the loop is the one `functools.reduce` call).
``task`` jobs are those of a one-argument ``@task`` run by a worker without a process_function
(as ``instr.py task_drain``); ``plain`` jobs run a handler given to the worker (as ``drain``).
``delay`` and ``enqueue`` are N calls of ``instr.py``'s workloads of those names, in the same
collected loop; ``map`` and ``batch`` one call that enqueues N jobs (``map`` is how
``instr.py task_drain`` fills its queue, ``batch`` how ``drain`` does).  Each kind runs twice, with N and 2N jobs, and the report is the difference
divided by N.  The queue's clock and the metrics rollup's clock are frozen: the rollup's
once-a-second flush (which also folds the lone enqueues into the tallies) would otherwise add
a share that grows with the wall time of the run, which callgrind and the machine's load
stretch (``instr.py delay`` and ``enqueue`` move by several thousand instructions a job
between runs for that reason).  What is left out is that per-second work.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _refenv import REPO_ROOT, ours  # noqa: E402

KINDS = ("task", "plain", "delay", "enqueue", "map", "batch")


class FrozenClock:
    """A `queue_max` clock that never moves, read without a Python frame (as the system clock)."""

    __slots__ = ()
    time = staticmethod(itertools.repeat(1_800_000_000.0).__next__)
    monotonic = staticmethod(itertools.repeat(1_000.0).__next__)


def run(kind: str, n: int, data: str) -> None:
    """Fill the queue with `n` jobs of `kind`, then drain it with one runner (the measured loop);
    or, for `delay` and `enqueue`, make `n` such calls (the measured loop)."""
    from queue_max import Queue, Worker, task
    from queue_max._context import _CURRENT, _Slot
    from queue_max.storage.sqlite import _rollup
    from queue_max.workers._runner import Runner

    _rollup.time = FrozenClock  # type: ignore[assignment]  # its flush is due once, at the start

    queue = Queue(shards=6, rate_limit=0, data_dir=data, clock=FrozenClock())
    seen, lock = [0], threading.Lock()

    def hit(_payload: Any = None) -> None:
        with lock:
            seen[0] += 1

    counted = task(name="instr_counted", queue=queue)(lambda i: hit())
    if kind in ("delay", "enqueue", "map", "batch"):
        counted.delay(-1)  # the first call loads the task's signature
        queue.enqueue({"i": -1})

        def calls(_done: Any, _item: Any) -> None:
            if kind == "delay":
                for i in range(n):
                    counted.delay(i)
            elif kind == "enqueue":
                for i in range(n):
                    queue.enqueue({"i": i})
            elif kind == "map":
                counted.map(range(n))
            else:
                queue.enqueue_batch([{"payload": {"i": i}} for i in range(n)])

        functools.reduce(calls, [None], None)
        queue.close()
        return
    if kind == "task":
        counted.map(range(n))
        worker = Worker("instr", None, queue)
    else:
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(n)])
        worker = Worker("instr", hit, queue)
    # what Worker.start sets up for its runners, without their threads
    worker._tasks_direct = worker._fixed is None
    worker._open_board()
    runner = Runner(worker, 0)
    slot = _Slot()
    _CURRENT.set(slot)

    def loop(_done: Any, _item: Any) -> None:
        while True:
            jobs, _pause = runner._claim(32)
            if not jobs:
                return
            for job in jobs:
                runner._run_one(job, slot)
            runner._flush()

    functools.reduce(loop, [None], None)
    if seen[0] != n:
        raise SystemExit(f"{kind}: ran {seen[0]} of {n} jobs")
    worker._close_board()
    queue.close()


def _measure(kind: str, n: int) -> float:
    side = ours()
    counts = []
    for count in (n, 2 * n):
        with tempfile.TemporaryDirectory(dir=REPO_ROOT / ".bench") as tmp:
            cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce",
                   f"--callgrind-out-file={tmp}/cg.out", side.python, __file__, "--child", kind,
                   "--n", str(count), "--data-dir", str(Path(tmp) / "q")]
            done = subprocess.run(cmd, env=side.env, capture_output=True, text=True, check=False)
            found = re.search(r"Collected : (\d+)", done.stderr)
            if done.returncode != 0 or found is None:
                raise SystemExit(f"{kind}: {done.stderr.strip()[-2000:]}")
            counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kinds", nargs="*", choices=[*KINDS, []], default=[])
    p.add_argument("--n", type=int, default=1000, help="jobs a run (the second run does 2N)")
    p.add_argument("--child")
    p.add_argument("--data-dir")
    args = p.parse_args(argv)
    if args.child:
        run(args.child, args.n, args.data_dir)
        return 0
    (REPO_ROOT / ".bench").mkdir(exist_ok=True)
    for kind in args.kinds or KINDS:
        print(f"{kind:8} {_measure(kind, args.n):12,.1f} instructions/job (n={args.n})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
