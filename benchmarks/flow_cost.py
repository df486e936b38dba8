"""What flow control costs a queue with no limit configured, counted, not timed: SQL statements
per job (and how many of them touch the flow-control tables) through `sqlite3`'s trace callback,
in a fresh process per row, on a clock that stands still (so no time-driven promotion look or
maintenance runs inside the count).

    python benchmarks/flow_cost.py [--baseline-src /path/to/tree-before/src]

Rows: `pop_complete` (Queue.pop_job + complete_job, one job at a time) and `claim32_grouped`
(claim_jobs(32) + complete_jobs: the workers' path), each on 1 and on 6 shards, every shard
holding jobs. Deterministic, so it is fair on a loaded machine. Nothing here runs in CI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OURS = HERE.parent / "src"
ROWS = [("pop_complete", 1), ("pop_complete", 6), ("claim32_grouped", 1), ("claim32_grouped", 6)]
JOBS = 3000

_COUNTING = r"""
import json, sys
from queue_max import Queue
from queue_max._clock import FakeClock
from queue_max.config import Settings
name, data, shards, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
q = Queue(data_dir=data, shards=shards, rate_limit=0, settings=Settings(), clock=FakeClock())
q.enqueue_batch([{"payload": {"n": i}} for i in range(2 * n + 100 * shards)])
for _ in range(3 * shards):  # each shard's first claim looks for due jobs once
    q.complete_job(q.pop_job("w"))
seen = []
for shard in q.backend.shards:
    shard.conn().set_trace_callback(seen.append)
done = 0
while done < n:
    if name == "pop_complete":
        q.complete_job(q.pop_job("w"))
        done += 1
    else:
        jobs = q.claim_jobs("w", 32)
        q.complete_jobs([(job, None) for job in jobs])
        done += len(jobs)
flow = sum("flow_" in s for s in seen)
print(json.dumps({"per_job": len(seen) / done, "flow_per_job": flow / done}))
q.close()
"""


def count(src: Path, name: str, shards: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data:
        out = subprocess.run([sys.executable, "-c", _COUNTING, name, data, str(shards), str(JOBS)],
                             capture_output=True, text=True, check=True,
                             env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"})
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-src", type=Path, help="src/ of another tree, counted beside this one")
    args = parser.parse_args()
    trees = [("this tree", OURS)] + ([("baseline", args.baseline_src)] if args.baseline_src else [])
    print(f"{'row':<24}" + "".join(f"{label:>23}" for label, _ in trees) + "   (statements per job: all / flow tables)")
    for name, shards in ROWS:
        cells = [count(src, name, shards) for _, src in trees]
        print(f"{name + f' {shards} shard' + ('s' if shards > 1 else ''):<24}"
              + "".join(f"{c['per_job']:>15.3f} / {c['flow_per_job']:.3f}" for c in cells))


if __name__ == "__main__":
    main()
