"""6 shards against 1: the 4-thread drain of peers.py, taking turns, with the CPU each run used.

    python benchmarks/shards.py --pairs 10                 # 20k jobs in batches of 10k (2 busy shards)
    python benchmarks/shards.py --pairs 8 --chunk 1000     # the same jobs spread over all six
    python benchmarks/shards.py --pairs 10 --base-tree /path/to/other/checkout   # both trees, in turn

Each run is ``_peerwork.py ours drain`` in a fresh process and data directory; the pairs alternate
which side goes first. The report is every pair's ratio (6-shard rate over 1-shard rate), their
median, and the CPU time (user + system) of each run. With ``--base-tree`` each round runs both
checkouts' pairs back to back (this one first in odd rounds) and also reports the per-round ratios
of this checkout to the other at 6 and at 1 shard. Timed on a shared machine: read the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _refenv import REPO_ROOT, ours  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "_peerwork.py"


def run(tree: Path, shards: int, n: int, chunk: int) -> tuple[float, float]:
    """One drain by `tree`'s code: (jobs/s, CPU seconds of the child)."""
    side = ours()
    env = dict(side.env, PYTHONPATH=str(tree / "src"))
    data = Path(tempfile.mkdtemp(prefix="shards-", dir=REPO_ROOT / ".bench"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run([side.python, str(SCRIPT), "ours", "drain", "--data-dir", str(data / "q"),
                               "--n", str(n), "--shards", str(shards), "--chunk", str(chunk)],
                              env=env, capture_output=True, text=True, timeout=600, check=True)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return float(result["rate"]), cpu


class Tree:
    """One checkout's runs: rates and CPU per shard count, and its 6-over-1 pair ratios."""

    def __init__(self, tree: Path) -> None:
        self.tree = tree
        self.rate: dict[int, list[float]] = {6: [], 1: []}
        self.cpu: dict[int, list[float]] = {6: [], 1: []}
        self.ratios: list[float] = []

    def pair(self, k: int, n: int, chunk: int) -> str:
        got = {s: run(self.tree, s, n, chunk) for s in ((6, 1) if k % 2 == 0 else (1, 6))}
        for s, (rate, cpu) in got.items():
            self.rate[s].append(rate)
            self.cpu[s].append(cpu)
        self.ratios.append(got[6][0] / got[1][0])
        return (f"6 shards {got[6][0]:,.0f}/s ({got[6][1]:.2f} s CPU), "
                f"1 shard {got[1][0]:,.0f}/s ({got[1][1]:.2f} s CPU), ratio {self.ratios[-1]:.3f}")

    def summary(self) -> str:
        med = statistics.median
        return (f"median pair ratio {med(self.ratios):.3f}, medians {med(self.rate[6]):,.0f} vs "
                f"{med(self.rate[1]):,.0f}/s, CPU {med(self.cpu[6]):.2f} vs {med(self.cpu[1]):.2f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--chunk", type=int, default=10_000, help="jobs a batch enqueue call")
    p.add_argument("--base-tree", type=Path, help="another checkout, run in turn with this one")
    args = p.parse_args(argv)
    (REPO_ROOT / ".bench").mkdir(exist_ok=True)
    this = Tree(REPO_ROOT)
    other = Tree(args.base_tree.resolve()) if args.base_tree else None
    for k in range(args.pairs):
        sides = [this] if other is None else ([this, other] if k % 2 == 0 else [other, this])
        for side in sides:
            label = "" if other is None else ("this " if side is this else "base ")
            print(f"pair {k + 1}: {label}{side.pair(k, args.n, args.chunk)}", flush=True)
    print(f"{args.pairs} pairs, batches of {args.chunk}, {os.getloadavg()[0]:.1f} load at the end")
    print(f"{'this: ' if other else ''}{this.summary()}")
    if other is not None:
        print(f"base ({other.tree}): {other.summary()}")
        for s in (6, 1):
            per = [a / b for a, b in zip(this.rate[s], other.rate[s])]
            print(f"this / base at {s} shard{'s' if s > 1 else ''}: median of round ratios "
                  f"{statistics.median(per):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
