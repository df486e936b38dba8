"""What the drain's bookkeeping costs a job, in instructions: one worker thread drains with a
part knocked out (monkeypatched), beside the minimal engine of `ceiling.py` on one thread.

    python benchmarks/budget.py                          # ~5 min: every row, N=4000 and 2N
    python benchmarks/budget.py --only none tallies      # some rows

Each row runs under callgrind twice in a fresh process and data directory, with N and 2N jobs
(6 shards, payload {"i": n}, a handler that counts), and reports the difference over N of the
worker thread's own instructions (the busiest thread but the main one, as `instr.py
--worker-thread`), so start-up, set-up and the threads that run by the clock (watcher,
heartbeats, the main thread's wait) stay out. The batch size is pinned as in `instr.py drain_pinned` (claims
of `--prefetch`, acks at each batch's end), so the count does not follow the machine's speed.
The parts a row knocks out:

- `scoreboard`: the per-job slot writes that let a supervisor tell a crashed worker's started
  jobs (`Scoreboard.begin` / `end` made no-ops);
- `metrics`: the per-minute attempt counts the dashboard and `event_metrics` read (the rollup's
  folds and writes made no-ops; the facts a claim keeps for them stay);
- `tallies`: the exact per-status counts behind `get_stats()` (the batch statements' own counts
  made no-ops and the three tally triggers dropped);
- `all`: the three.

A knocked-out part leaves the queue wrong in what that part keeps: these rows only price what
each part buys. Benchmark code only; the package never imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _refenv import REPO_ROOT, ours  # noqa: E402
from instr import per_job_instructions  # noqa: E402

PARTS = ("scoreboard", "metrics", "tallies")
ROWS = ("none", *PARTS, "all", "ceiling")


def _knock_out(parts: set[str]) -> None:
    from queue_max import _scoreboard
    from queue_max.storage.sqlite import _complete, _rollup, _tally, manager

    def noop(*_args: Any, **_kwargs: Any) -> None:
        return None

    if "scoreboard" in parts:
        _scoreboard.Scoreboard.begin = noop  # type: ignore[method-assign]
        _scoreboard.Scoreboard.end = noop  # type: ignore[method-assign]
    if "metrics" in parts:
        _rollup.Rollup.attempts = noop  # type: ignore[method-assign]
        _rollup.Rollup.attempt = noop  # type: ignore[method-assign]
        _rollup.Rollup.write = noop  # type: ignore[method-assign]
    if "tallies" in parts:
        for module in (manager, _complete, _tally):
            for name in ("fold_tail", "tally_moved", "tally_claimed", "tally_completed"):
                if hasattr(module, name):
                    setattr(module, name, noop)


def _child(row: str, n: int, prefetch: int, data: Path) -> None:
    seen, lock, done = [0], threading.Lock(), threading.Event()

    def hit(_payload: Any) -> None:
        with lock:
            seen[0] += 1
            if seen[0] >= n:
                done.set()

    if row == "ceiling":
        from ceiling import Ceiling

        engine = Ceiling(data)
        engine.enqueue_many([{"i": i} for i in range(n)])
        engine.start(1, hit)
        done.wait(600)
        engine.stop()
        engine.close()
        print(seen[0])
        return
    parts = set(PARTS) if row == "all" else {row} & set(PARTS)
    _knock_out(parts)
    from queue_max import Queue, Worker
    from queue_max.workers import _runner

    queue = Queue(shards=6, rate_limit=0, data_dir=str(data))
    if "tallies" in parts:
        for shard in queue.backend.shards:
            for trigger in ("fila_tally_status", "fila_tally_delete", "fila_tally_queue"):
                shard.conn().execute(f"DROP TRIGGER IF EXISTS {trigger}")
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(n)])
    _runner.BATCH_TARGET = _runner.HOARD_LIMIT = 1e9  # batches of `prefetch`, whatever the speed
    worker = Worker("budget", hit, queue, poll_interval=0.01, concurrency=1, prefetch=prefetch, ack_interval=1e6)
    worker.start()
    done.wait(600)
    worker.stop(10)
    queue.close()
    print(seen[0])


def _instructions(row: str, n: int, prefetch: int) -> float:
    side = ours()
    env = {**side.env, "PYTHONPATH": os.pathsep.join([side.env.get("PYTHONPATH", ""), str(HERE)])}

    def command(count: int, data: Path) -> list[str]:
        return [side.python, __file__, "--child", row, "--n", str(count), "--prefetch", str(prefetch),
                "--data-dir", str(data / "q")]

    return per_job_instructions(command, n, env, worker_thread=True, what=row,
                                finished=lambda stdout, count: stdout.strip() == str(count))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=ROWS, help="rows to run (default: all)")
    p.add_argument("--n", type=int, default=4000, help="jobs of the smaller run (the other runs 2N)")
    p.add_argument("--prefetch", type=int, default=128, help="our claim size (the ceiling's is 32)")
    p.add_argument("--child", choices=ROWS)
    p.add_argument("--data-dir", type=Path)
    args = p.parse_args(argv)
    if args.child:
        _child(args.child, args.n, args.prefetch, args.data_dir)
        return 0
    (REPO_ROOT / ".bench").mkdir(exist_ok=True)
    rows = args.only or ROWS
    figures = {}
    for row in rows:
        figures[row] = _instructions(row, args.n, args.prefetch)
        print(f"{row:10} {figures[row]:10,.0f} instructions a job", file=sys.stderr, flush=True)
    base = figures.get("none")
    print(f"\none worker thread, 6 shards, prefetch {args.prefetch}, N={args.n} and 2N\n")
    print("| knocked out | instructions a job | saved against none |\n|---|---|---|")
    for row in rows:
        saved = "" if base is None or row in ("none", "ceiling") else f"{base - figures[row]:,.0f}"
        print(f"| {row} | {figures[row]:,.0f} | {saved} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
