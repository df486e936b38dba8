"""The one-at-a-time bound: ``pop_job`` + ``complete_job`` on ours and on queue-max 0.1.1 beside a
raw-``sqlite3`` loop doing the least such a loop can (`ceiling.Ceiling.pop_complete`), same run.

    python benchmarks/onejob_bound.py --repeat 5          # ~1 min on an idle machine

Issue 14 asks for ours >= 3.5x of 0.1.1 on this row. The raw loop shows what that asks: it keeps
one table, one partial index, a lease and a result, and nothing of priorities, queues, fencing
tokens, retries, tallies, events or metrics, yet it is the most any engine on this SQLite can do
with two statements a job. Each run is a fresh subprocess and data dir, the three alternating;
the table gives medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _refenv import REPO_ROOT, Side, ours, reference

HERE = Path(__file__).resolve().parent
N = 20_000


def _raw_child(data_dir: Path, n: int) -> None:
    from ceiling import Ceiling

    engine = Ceiling(data_dir)
    engine.enqueue_many([{"i": i} for i in range(n)])
    done, seconds = engine.pop_complete(n)
    engine.close()
    print(json.dumps({"jobs": done, "seconds": seconds, "rate": done / seconds}))


def _run(cmd: list[str], env: dict[str, str]) -> float:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{cmd[1:3]}: {done.stderr.strip()[-1000:]}")
    result = json.loads(lines[-1])
    if "error" in result:
        raise SystemExit(f"{cmd[1:3]}: {result['error']}")
    return float(result["rate"])


def _side_cmd(side: Side, data: Path, n: int) -> list[str]:
    return [side.python, str(HERE / "_workloads.py"), "pop_complete", "--data-dir", str(data / "q"), "--n", str(n)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--n", type=int, default=N)
    p.add_argument("--raw-child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.raw_child:
        _raw_child(args.raw_child, args.n)
        return 0
    our, ref = ours(), reference()
    raw_env = {**our.env, "PYTHONPATH": str(HERE)}
    rates: dict[str, list[float]] = {"ours": [], "0.1.1": [], "raw": []}
    (REPO_ROOT / ".bench").mkdir(exist_ok=True)
    for k in range(args.repeat):
        order = ["ours", "0.1.1", "raw"] if k % 2 == 0 else ["raw", "0.1.1", "ours"]
        for name in order:
            with tempfile.TemporaryDirectory(dir=REPO_ROOT / ".bench") as tmp:
                if name == "raw":
                    cmd = [our.python, __file__, "--raw-child", str(Path(tmp) / "raw"), "--n", str(args.n)]
                    rates[name].append(_run(cmd, raw_env))
                else:
                    side = our if name == "ours" else ref
                    rates[name].append(_run(_side_cmd(side, Path(tmp), args.n), side.env))
            print(f"{k + 1}/{args.repeat} {name:6} {rates[name][-1]:10,.0f} jobs/s", file=sys.stderr, flush=True)
    med = {name: statistics.median(values) for name, values in rates.items()}
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, median of {args.repeat}, n={args.n}\n")
    print("| loop | jobs/s | / 0.1.1 | / raw |\n|---|---|---|---|")
    for name in ("ours", "0.1.1", "raw"):
        print(f"| {name} | {med[name]:,.0f} | {med[name] / med['0.1.1']:.2f}x | {med[name] / med['raw']:.2f} |")
    print(f"\n3.5x of 0.1.1 = {3.5 * med['0.1.1']:,.0f} jobs/s = {3.5 * med['0.1.1'] / med['raw']:.2f} of the raw loop")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
