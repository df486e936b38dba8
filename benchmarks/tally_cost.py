"""What the exact tallies cost the one-at-a-time path: our own claim + ack statements on a real
shard, with the tallies' status trigger as shipped, dropped, replaced by one whose WHEN is false, or
split into one trigger per common transition.

    python benchmarks/tally_cost.py                      # instructions, WAL writes, then jobs/s
    python benchmarks/tally_cost.py --rounds 6 --n 20000 # more wall-clock rounds
    python benchmarks/tally_cost.py --api                # the same through Queue.pop_job + complete_job

`pop_job` + `complete_job` is two statements a job, each its own write transaction, and the
status trigger counts each of them in `tallies` (see `TALLIES_SCHEMA` in the SQLite storage).
This script runs `Q.claim_one` and `Q.complete` on raw `sqlite3` over a shard that `Queue`
created and filled, so that what differs between the variants is the trigger alone:

- instructions a job under callgrind (N and 2N jobs, the difference; they do not move with the
  machine's load);
- `pwrite` calls a job (`strace -c`, when strace is installed): a WAL frame is two writes, its
  header and its page, so a commit that changes one more page writes two more;
- jobs/s, the variants taking turns, medians, and the median of each round's ratio to the
  shipped trigger (these move with the load, by 20% between back-to-back runs on a quiet 2-core
  machine: read the instructions first, and the ratios over many rounds).

`--api` runs the public loop instead (`Queue.pop_job` + `complete_job`, 6 shards, as run.py's
`pop_complete` row), with the trigger dropped on every shard for the other variants.

With the trigger dropped the counts go wrong: the variant only prices what counting buys.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _refenv import REPO_ROOT, ours  # noqa: E402
from instr import per_job_instructions  # noqa: E402

VARIANTS = ("shipped", "dropped", "false-when", "per-transition")


def _retrigger(conn: Any, variant: str) -> None:
    from queue_max.storage.sqlite._sql import _COUNTED_ROW, TALLY_STATUSES

    if variant != "shipped":
        conn.execute("DROP TRIGGER fila_tally_status")
    if variant == "false-when":
        conn.execute("CREATE TRIGGER stub AFTER UPDATE OF status ON fila WHEN NEW.tallied IS OLD.tallied "
                     "AND 0 BEGIN SELECT 1; END")
    if variant == "per-transition":  # a body of two plain additions for the two moves of this loop
        counted = f"NEW.tallied IS OLD.tallied AND OLD.queue_name = NEW.queue_name AND {_COUNTED_ROW.format('OLD')}"
        moves = {("pending", "processing"): "t_claim", ("processing", "completed"): "t_done"}
        for (old, new), name in moves.items():
            conn.execute(f"CREATE TRIGGER {name} AFTER UPDATE OF status ON fila WHEN OLD.status = '{old}' AND "
                         f"NEW.status = '{new}' AND {counted} BEGIN UPDATE tallies SET {old} = {old} - 1, "
                         f"{new} = {new} + 1 WHERE queue_name = NEW.queue_name; END")
        others = " AND ".join(f"NOT (OLD.status = '{old}' AND NEW.status = '{new}')" for old, new in moves)
        conn.execute(f"CREATE TRIGGER t_rest AFTER UPDATE OF status ON fila WHEN OLD.status IS NOT NEW.status "
                     f"AND {others} AND {counted} BEGIN UPDATE tallies SET "
                     + ", ".join(f"{s} = {s} + (NEW.status = '{s}') - (OLD.status = '{s}')" for s in TALLY_STATUSES)
                     + " WHERE queue_name = NEW.queue_name; END")


def _api_child(variant: str, n: int, data: Path) -> dict[str, float]:
    from queue_max import Queue

    queue = Queue(shards=6, rate_limit=0, data_dir=str(data))
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(n)])
    for shard in queue.backend.shards:
        _retrigger(shard.conn(), variant)
    done = 0
    t0 = time.perf_counter()
    while (job := queue.pop_job("bench-0")) is not None:
        queue.complete_job(job.id, job.shard_id)
        done += 1
    seconds = time.perf_counter() - t0
    completed = queue.get_stats()["completed"]
    queue.close()
    return {"jobs": done, "rate": done / seconds, "counted": completed}


def _child(variant: str, n: int, data: Path) -> dict[str, float]:
    import sqlite3

    from queue_max import Queue
    from queue_max.storage.sqlite._sql import Q

    queue = Queue(shards=1, rate_limit=0, data_dir=str(data))
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(n)])
    path = queue.backend.shards[0].path
    queue.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    _retrigger(conn, variant)
    now = time.time()
    claim = {"worker": "w", "now": now, "until": now + 300, "limit": 1}
    done = 0
    t0 = time.perf_counter()
    while rows := conn.execute(Q.claim_one, claim).fetchall():
        job_id, token = rows[0][0], rows[0][7]  # JOB_COLUMNS: id first, lease_token eighth
        conn.execute(Q.complete, {"id": job_id, "token": token, "now": now, "expires": now + 3600, "result": None})
        done += 1
    seconds = time.perf_counter() - t0
    completed = conn.execute("SELECT completed FROM tallies").fetchone()[0]
    conn.close()
    return {"jobs": done, "rate": done / seconds, "counted": completed}


def _child_cmd(variant: str, n: int, data: Path, api: bool) -> list[str]:
    return [ours().python, __file__, "--child", variant, "--n", str(n), "--data-dir", str(data / "q"),
            *(["--api"] if api else [])]


def _run(variant: str, n: int, api: bool, strace: bool = False) -> tuple[dict[str, float], str]:
    """One child run: its result, and with `strace` the `strace -c` table of its `pwrite`s."""
    side = ours()
    tmp = Path(tempfile.mkdtemp(dir=REPO_ROOT / ".bench"))
    try:
        wrap = ["strace", "-f", "-c", "-e", "trace=pwrite64", "-o", str(tmp / "strace.out")] if strace else []
        done = subprocess.run([*wrap, *_child_cmd(variant, n, tmp, api)], env=side.env, capture_output=True,
                              text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise SystemExit(f"{variant}: {done.stderr.strip()[-1500:]}")
        return json.loads(lines[-1]), (tmp / "strace.out").read_text() if strace else ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _instructions(variant: str, n: int, api: bool) -> float:
    return per_job_instructions(lambda count, data: _child_cmd(variant, count, data, api), n, ours().env,
                                what=variant)


def _pwrites(variant: str, n: int, api: bool) -> float:
    counts = []
    for count in (n, 2 * n):
        _result, out = _run(variant, count, api, strace=True)
        # strace -c's row: % time, seconds, usecs/call, calls, [errors,] syscall
        rows = [line.split() for line in out.splitlines() if line.endswith(" pwrite64")]
        counts.append(int(rows[0][3]) if rows else 0)
    return (counts[1] - counts[0]) / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20_000, help="jobs a wall-clock run")
    p.add_argument("--rounds", type=int, default=4, help="wall-clock rounds (each runs every variant)")
    p.add_argument("--instr-n", type=int, default=1000, help="jobs of the smaller callgrind/strace run")
    p.add_argument("--api", action="store_true", help="Queue.pop_job + complete_job on 6 shards instead")
    p.add_argument("--child", choices=VARIANTS)
    p.add_argument("--data-dir", type=Path)
    args = p.parse_args(argv)
    if args.child:
        child = _api_child if args.api else _child
        print(json.dumps(child(args.child, args.n, args.data_dir)), flush=True)
        return 0
    (REPO_ROOT / ".bench").mkdir(exist_ok=True)
    instr = {v: _instructions(v, args.instr_n, args.api) for v in VARIANTS} if shutil.which("valgrind") else {}
    writes = {v: _pwrites(v, args.instr_n, args.api) for v in VARIANTS} if shutil.which("strace") else {}
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for k in range(args.rounds):
        for variant in VARIANTS if k % 2 == 0 else VARIANTS[::-1]:
            result, _ = _run(variant, args.n, args.api)
            rates[variant].append(result["rate"])
            print(f"{k + 1}/{args.rounds} {variant:10} {result['rate']:9,.0f} jobs/s "
                  f"(tallies count {result['counted']:,} completed of {result['jobs']:,})", file=sys.stderr, flush=True)
    loop = "Queue.pop_job + complete_job, 6 shards" if args.api else "raw Q.claim_one + Q.complete, 1 shard"
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}, {loop}, "
          f"n={args.n}, {args.rounds} rounds (medians)\n")
    # "/ shipped": the median of the rounds' ratios (each round runs every variant back to back),
    # which cancels the machine's drift between rounds better than a ratio of medians
    print("| status trigger | instructions a job | pwrite calls a job | jobs/s | / shipped (range) |\n"
          "|---|---|---|---|---|")
    for v in VARIANTS:
        ratios = [a / b for a, b in zip(rates[v], rates["shipped"])]
        ins = f"{instr[v] / 1000:,.1f}k" if v in instr else "n/a"
        wr = f"{writes[v]:.1f}" if v in writes else "n/a"
        print(f"| {v} | {ins} | {wr} | {statistics.median(rates[v]):,.0f} | "
              f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
