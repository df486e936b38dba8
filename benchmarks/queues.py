"""Issue 10's benchmark rows: named queues and host-wide limits, with ratios from one run.

    python benchmarks/queues.py [--base REV] [--repeat K] [--scale F] [--seconds S]

- `enqueue_single` and `drain_4w_6s` (from `_workloads.py`) on this checkout and on REV, the
  commit before named queues (default: found by its subject), alternating: the ratio says
  whether the claim and enqueue paths got slower (no limit configured on either side).
- `filtered_claim` vs `single_queue_claim`: claim+complete 20k jobs of one queue among 10 queues
  of 20k jobs, against the same claims from a directory of 200k jobs all in that one queue.
- `rate_limited_4p`: 4 worker processes x 2 threads under one host-wide limit; jobs started
  over the limit's allowance (burst + rate x elapsed). Within 5% means 0.95 .. 1.00.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH = ROOT / ".bench"
_SUBJECT = "Named queues and host-wide flow control"


def base_rev() -> str:
    found = subprocess.run(["git", "log", "--format=%H", f"--grep={_SUBJECT}", "--reverse"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    if not found:
        raise SystemExit(f"no commit with subject {_SUBJECT!r}; pass --base REV")
    return found[0] + "^"


def export(rev: str) -> Path:
    """The `src/` of `rev`, unpacked under .bench/base-<sha>/ (once)."""
    sha = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    target = BENCH / f"base-{sha[:12]}"
    if not (target / "src").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "src"], cwd=ROOT, capture_output=True, check=True).stdout
        with tempfile.TemporaryFile() as tmp:
            tmp.write(archive)
            tmp.seek(0)
            with tarfile.open(fileobj=tmp) as tar:
                tar.extractall(target, filter="data")
    return target / "src"


def run(src: Path, script: str, workload: str, *extra: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=BENCH) as data:
        env = {"PYTHONPATH": str(src), "QUEUE_MAX_LOG_LEVEL": "ERROR", "PATH": "/usr/bin:/bin"}
        done = subprocess.run([sys.executable, str(HERE / script), workload, "--data-dir", f"{data}/q", *extra],
                              cwd=data, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": done.stderr.strip()[-300:]}


def median(results: list[dict[str, Any]], key: str = "rate") -> float:
    values = [r[key] for r in results if key in r]
    return statistics.median(values) if values else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", help="the revision to compare with (default: before named queues)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.0, help="multiply the job counts")
    p.add_argument("--seconds", type=float, default=30.0, help="length of the rate-limited run")
    args = p.parse_args()
    BENCH.mkdir(exist_ok=True)
    ours, base = ROOT / "src", export(args.base or base_rev())
    n = str(max(100, round(20_000 * args.scale)))
    rows: list[tuple[str, str]] = []
    for workload in ("enqueue_single", "drain_4w_6s"):
        got: dict[str, list[dict[str, Any]]] = {"ours": [], "base": []}
        for rep in range(args.repeat):
            for side in (("ours", "base") if rep % 2 == 0 else ("base", "ours")):
                got[side].append(run(ours if side == "ours" else base, "_workloads.py", workload, "--n", n))
        a, b = median(got["ours"]), median(got["base"])
        rows.append((f"{workload} (no limit)", f"{a:,.0f} vs {b:,.0f} jobs/s before: ratio {a / b:.2f}"))
    filtered = [run(ours, "_wlqueues.py", "filtered_claim", "--n", n) for _ in range(args.repeat)]
    single = [run(ours, "_wlqueues.py", "single_queue_claim", "--n", n) for _ in range(args.repeat)]
    a, b = median(filtered), median(single)
    rows.append(("claim from 1 of 10 queues x n jobs", f"{a:,.0f} vs {b:,.0f} jobs/s from one queue of as many jobs: ratio {a / b:.2f}"))
    limited = run(ours, "_wlqueues.py", "rate_limited_4p", "--n", n, "--seconds", str(args.seconds))
    rows.append(("4 processes under 600/min, burst 10",
                 f"{limited.get('jobs')} started in {limited.get('seconds', 0):.1f}s, allowed "
                 f"{limited.get('allowed', 0):.0f}: ratio {limited.get('ratio_to_limit', float('nan')):.3f}"))
    width = max(len(name) for name, _ in rows)
    for name, text in rows:
        print(f"{name:<{width}}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
