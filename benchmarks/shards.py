"""6 shards against 1: the 4-thread drain of peers.py, taking turns, with the CPU each run used.

    python benchmarks/shards.py --pairs 10                 # 20k jobs in batches of 10k (2 busy shards)
    python benchmarks/shards.py --pairs 8 --chunk 1000     # the same jobs spread over all six

Each run is ``_peerwork.py ours drain`` in a fresh process and data directory; the pairs alternate
which side goes first. The report is every pair's ratio (6-shard rate over 1-shard rate), their
median, and the CPU time (user + system) of each run. Timed on a shared machine: read the median.
"""

from __future__ import annotations

import argparse
import json
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


def run(shards: int, n: int, chunk: int) -> tuple[float, float]:
    """One drain: (jobs/s, CPU seconds of the child)."""
    side = ours()
    data = Path(tempfile.mkdtemp(prefix="shards-", dir=REPO_ROOT / ".bench"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run([side.python, str(SCRIPT), "ours", "drain", "--data-dir", str(data / "q"),
                               "--n", str(n), "--shards", str(shards), "--chunk", str(chunk)],
                              env=side.env, capture_output=True, text=True, timeout=600, check=True)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return float(result["rate"]), cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--chunk", type=int, default=10_000, help="jobs a batch enqueue call")
    args = p.parse_args(argv)
    (REPO_ROOT / ".bench").mkdir(exist_ok=True)
    ratios, six, one = [], [], []
    for k in range(args.pairs):
        got = {s: run(s, args.n, args.chunk) for s in ((6, 1) if k % 2 == 0 else (1, 6))}
        six.append(got[6][0])
        one.append(got[1][0])
        ratios.append(got[6][0] / got[1][0])
        print(f"pair {k + 1}: 6 shards {got[6][0]:,.0f}/s ({got[6][1]:.2f} s CPU), "
              f"1 shard {got[1][0]:,.0f}/s ({got[1][1]:.2f} s CPU), ratio {ratios[-1]:.3f}", flush=True)
    print(f"{args.pairs} pairs, batches of {args.chunk}: median pair ratio {statistics.median(ratios):.3f}, "
          f"medians {statistics.median(six):,.0f} vs {statistics.median(one):,.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
