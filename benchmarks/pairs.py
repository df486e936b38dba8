"""Alternating pairs of one `run.py` workload on this checkout and on another checkout.

    python benchmarks/pairs.py --base-tree /path/to/checkout-of-57d078c [--only drain_4w_6s]
                               [--pairs 8] [--scale 3]

The machine's speed drifts by 2x between minutes, so a comparison of two commits is only as good
as the interleaving: each pair runs both sides back to back (the order alternates from pair to
pair), each side with its own checkout's `run.py` and interpreter (`<tree>/.venv/bin/python`,
else this interpreter with `PYTHONPATH=<tree>/src`). The report gives each side's median and
range, and the median of the per-pair ratios (ours / base), which cancels the drift best.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _python(tree: Path) -> tuple[str, dict[str, str]]:
    env = dict(os.environ)
    venv = tree / ".venv" / "bin" / "python"
    if venv.exists():
        return str(venv), env
    env["PYTHONPATH"] = str(tree / "src")
    return sys.executable, env


def _rate(tree: Path, workload: str, scale: float) -> float:
    python, env = _python(tree)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        cmd = [python, str(tree / "benchmarks" / "run.py"), "--only", workload, "--repeat", "1",
               "--skip-reference", "--scale", str(scale), "--json", str(out)]
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            raise SystemExit(f"{tree}: run.py failed:\n{done.stderr[-2000:]}")
        return float(json.loads(out.read_text())["medians"]["ours"][workload]["rate"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-tree", type=Path, required=True, help="a checkout of the commit to compare with")
    p.add_argument("--only", default="drain_4w_6s", help="the run.py workload")
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--scale", type=float, default=3.0)
    args = p.parse_args(argv)
    ours: list[float] = []
    base: list[float] = []
    for k in range(args.pairs):
        order = [(ROOT, ours), (args.base_tree, base)]
        for tree, into in order if k % 2 == 0 else reversed(order):
            into.append(_rate(tree, args.only, args.scale))
        print(f"pair {k + 1}: ours {ours[-1]:,.0f}/s  base {base[-1]:,.0f}/s  ratio {ours[-1] / base[-1]:.3f}",
              flush=True)
    ratios = [a / b for a, b in zip(ours, base)]
    print(f"{args.only} x{args.scale:g}, {args.pairs} pairs: ours median {statistics.median(ours):,.0f}/s "
          f"({min(ours):,.0f}-{max(ours):,.0f}), base median {statistics.median(base):,.0f}/s "
          f"({min(base):,.0f}-{max(base):,.0f}); ratio of medians {statistics.median(ours) / statistics.median(base):.3f}, "
          f"median of pair ratios {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
