"""What the per-minute metrics rollup costs the hot path: the same workloads against two source
trees (this one, with the rollup, and a baseline without it), alternating, in fresh processes.

    python benchmarks/rollup_cost.py --baseline-src /path/to/tree-before/src --repeat 3
    python benchmarks/rollup_cost.py --statements [--baseline-src ...]

`--statements` counts instead of timing (deterministic, so it is fair on a loaded machine): SQL
statements per job of the same workloads, through `sqlite3`'s `set_trace_callback`, with the
jobs spread over two named queues.

Workloads (task payloads, 6 shards): `enqueue_single` (Queue.enqueue one at a time),
`claim_ack_grouped` (claim 32, complete_jobs: the workers' path), `claim_ack_single`
(claim 1, complete_job). Prints jobs/s medians and the ratio rollup/baseline. Nothing here
runs in CI; read the ratios, not the absolute figures."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OURS = HERE.parent / "src"

# what both children do after enqueueing: claim and ack until n jobs are done
_DRAIN = r"""
def drain(q, n, size):
    done = 0
    while done < n:
        jobs = q.claim_jobs("w", size)
        if not jobs:
            break
        if size == 1:
            q.complete_job(jobs[0])
        else:
            q.complete_jobs([(job, None) for job in jobs])
        done += len(jobs)
    return done
"""

_CHILD = _DRAIN + r"""
import json, sys, time
from queue_max import Queue
from queue_max.config import Settings
name, data, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = Queue(data_dir=data, shards=6, rate_limit=0, settings=Settings())
payload = {"__task__": "bench.task", "args": [1], "kwargs": {}}
if name == "enqueue_single":
    t = time.perf_counter()
    for _ in range(n):
        q.enqueue(payload)
else:
    q.enqueue_batch([{"payload": payload}] * n)
    t = time.perf_counter()
    n = drain(q, n, 32 if name == "claim_ack_grouped" else 1)
print(json.dumps({"rate": n / (time.perf_counter() - t)}))
q.close()
"""

WORKLOADS = {"enqueue_single": 20_000, "claim_ack_grouped": 60_000, "claim_ack_single": 20_000}

_COUNTING = _DRAIN + r"""
import json, sqlite3, sys
count = [0]
_connect = sqlite3.connect
def connect(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    last = [None]
    def seen(statement):
        # a trigger run reports the text of the statement that fired it again: not a statement
        if statement != last[0]:
            count[0] += 1
        last[0] = statement
    conn.set_trace_callback(seen)
    return conn
sqlite3.connect = connect
from queue_max import Queue
from queue_max.config import Settings
name, data, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = Queue(data_dir=data, shards=6, rate_limit=0, settings=Settings())
payload = {"__task__": "bench.task", "args": [1], "kwargs": {}}
queues = ["emails", "reports"]
if name == "enqueue_single":
    count[0] = 0
    for i in range(n):
        q.enqueue(payload, queue_name=queues[i % 2])
else:
    for queue_name in queues:
        q.enqueue_batch([{"payload": payload, "queue_name": queue_name}] * (n // 2))
    count[0] = 0
    drain(q, n, 32 if name == "claim_ack_grouped" else 1)
print(json.dumps({"per_job": count[0] / n}))
q.close()
"""


def run(src: Path, name: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as data:
        out = subprocess.run([sys.executable, "-c", _CHILD, name, data, str(n)], capture_output=True, text=True,
                             check=True, env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"})
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rate"])


def count(src: Path, name: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as data:
        out = subprocess.run([sys.executable, "-c", _COUNTING, name, data, str(n)], capture_output=True, text=True,
                             check=True, env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"})
    return float(json.loads(out.stdout.strip().splitlines()[-1])["per_job"])


def statements(baseline: Path | None) -> None:
    trees = [("this tree", OURS)] + ([("baseline", baseline)] if baseline is not None else [])
    print(f"{'workload':<20} " + " ".join(f"{label:>12}" for label, _ in trees) + "  (SQL statements per job)")
    for name in WORKLOADS:
        print(f"{name:<20} " + " ".join(f"{count(src, name, 960):>12.3f}" for _, src in trees))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-src", type=Path, help="src/ of a tree without the rollup (required to time)")
    parser.add_argument("--statements", action="store_true", help="count SQL statements per job instead of timing")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    if args.statements:
        statements(args.baseline_src)
        return
    if args.baseline_src is None:
        parser.error("--baseline-src is required unless --statements")
    print(f"{'workload':<20} {'baseline/s':>12} {'rollup/s':>12} {'ratio':>7}")
    for name, n in WORKLOADS.items():
        n = max(100, int(n * args.scale))
        base, ours = [], []
        for i in range(args.repeat):
            pair = [(args.baseline_src, base), (OURS, ours)]
            for src, sink in (pair if i % 2 == 0 else pair[::-1]):
                sink.append(run(src, name, n))
        b, o = statistics.median(base), statistics.median(ours)
        print(f"{name:<20} {b:>12,.0f} {o:>12,.0f} {o / b:>7.2f}")


if __name__ == "__main__":
    main()
