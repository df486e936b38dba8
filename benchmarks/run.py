"""Benchmark driver: each workload on our implementation and on queue-max 0.1.1, in the same run.

    python benchmarks/run.py [--suite core|workers|all] [--only NAME ...] [--repeat K]
                             [--skip-reference] [--markdown FILE] [--json FILE]

Every workload runs in a fresh subprocess with a fresh data dir, alternating sides, ``--repeat``
times; the table shows the median of each figure and the ratio ours/reference.  On a shared,
noisy machine the ratios are what to read, not the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _refenv import REFERENCE_SPEC, REPO_ROOT, RefEnvError, Side, ours, reference
from _report import ROWS, render_markdown, render_text, table
from _workloads import DEFAULTS

SCRIPT = Path(__file__).with_name("_workloads.py")
RUNS_DIR = REPO_ROOT / ".bench" / "runs"
SUITES = {
    "core": ["enqueue_single", "enqueue_batch", "pop_complete", "enqueue_at_depth"],
    "workers": [
        "drain_4w_6s", "drain_16w_1s", "latency_inproc", "latency_xproc", "multiproc_drain",
    ],
    "tasks": ["enqueue_single", "task_delay", "drain_4w_6s", "drain_tasks_4w_6s"],
}
SUITES["all"] = SUITES["core"] + SUITES["workers"] + ["task_delay", "drain_tasks_4w_6s"]

Figures = dict[str, Any]
Raw = dict[str, dict[str, list[Figures]]]  # side -> workload -> one result per run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", choices=sorted(SUITES), default="core")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run just these workloads")
    p.add_argument("--repeat", type=int, default=1, metavar="K", help="runs per side (median)")
    p.add_argument("--skip-reference", action="store_true", help="run our side only")
    p.add_argument("--skip-ours", action="store_true", help="run the reference side only")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every workload's job count")
    p.add_argument("--time-cap", type=float, help="override every workload's time cap (seconds)")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as markdown")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every raw result")
    p.add_argument("--keep", action="store_true", help="keep the data dirs under .bench/runs")
    args = p.parse_args(argv)
    unknown = [w for w in args.only or [] if w not in DEFAULTS]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
    if args.repeat < 1:
        p.error(f"--repeat must be at least 1, got {args.repeat}")
    return args


def pick_sides(args: argparse.Namespace) -> tuple[list[Side], list[str]]:
    """The sides to run and notes about any that cannot run."""
    sides, notes = [], []
    if not args.skip_ours:
        sides.append(ours())
    if not args.skip_reference:
        try:
            sides.append(reference())
        except RefEnvError as exc:
            notes.append(f"reference side skipped: {exc}")
    return sides, notes


def _command(side: Side, workload: str, data: Path, args: argparse.Namespace) -> list[str]:
    n = max(1, round(DEFAULTS[workload][0] * args.scale))
    cmd = [side.python, str(SCRIPT), workload, "--data-dir", str(data / "q"), "--n", str(n)]
    return cmd + (["--time-cap", str(args.time_cap)] if args.time_cap else [])


def _parse(workload: str, out: str, err: str, code: int) -> Figures:
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            parsed: Figures = json.loads(line)
            return parsed
    tail = err.strip().splitlines()[-1:] or [f"exit code {code}"]
    return {"workload": workload, "error": tail[0][:300]}


def run_one(side: Side, workload: str, args: argparse.Namespace) -> Figures:
    """One workload on one side, in a subprocess of its own session and a fresh data dir."""
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix=f"{workload}-{side.name}-", dir=RUNS_DIR))
    cap = args.time_cap or DEFAULTS[workload][1]
    proc = subprocess.Popen(_command(side, workload, data, args), env=side.env, cwd=data,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=3 * cap + 600)
        result = _parse(workload, out, err, proc.returncode)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the workload and any worker processes it started
        proc.communicate()
        result = {"workload": workload, "error": "timed out"}
    finally:
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    return result


def _summary(res: Figures) -> str:
    if "error" in res:
        return f"n/a ({res['error']})"
    if "p50_ms" in res and res["p50_ms"] is not None:
        return f"p50 {res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms"
    jobs, seconds = res.get("jobs"), res.get("seconds", 0.0)
    text = f"{res.get('rate', 0):,.0f} jobs/s ({jobs} jobs, {seconds:.2f} s)"
    return text + (" CAPPED" if res.get("capped") else "")


def run_all(workloads: list[str], sides: list[Side], args: argparse.Namespace) -> Raw:
    """side -> workload -> list of raw results, sides alternating which goes first."""
    raw: Raw = {s.name: {w: [] for w in workloads} for s in sides}
    for rep in range(args.repeat):
        for k, workload in enumerate(workloads):
            order = sides if (rep + k) % 2 == 0 else sides[::-1]
            for side in order:
                res = run_one(side, workload, args)
                raw[side.name][workload].append(res)
                where = f"{rep + 1}/{args.repeat} {workload:<17} {side.name:<9}"
                print(f"[bench] {where} {_summary(res)}", file=sys.stderr, flush=True)
    return raw


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def median_figures(runs: list[Figures]) -> Figures:
    """The median of every numeric figure over the runs that did not fail."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0]["error"]} if runs else {}
    keys = [k for k, v in ok[0].items() if _is_number(v)]
    med = {k: statistics.median(r[k] for r in ok if _is_number(r.get(k))) for k in keys
           if all(_is_number(r.get(k)) for r in ok)}
    return {**med, "capped": any(r.get("capped") for r in ok), "runs": len(ok)}


def notes_for(medians: dict[str, dict[str, Figures]]) -> list[str]:
    notes = []
    for side, per_workload in medians.items():
        for workload, figs in per_workload.items():
            if "error" in figs:
                notes.append(f"{side} {workload}: n/a, {figs['error']}")
            elif figs.get("capped"):
                notes.append(f"{side} {workload}: hit the time cap; rate is over the jobs done")
    return notes


def context_line(args: argparse.Namespace, sides: list[Side]) -> str:
    names = " vs ".join("ours (src/)" if s.name == "ours" else REFERENCE_SPEC for s in sides)
    return (f"{time.strftime('%Y-%m-%d %H:%M')}, {names}; Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs; median of {args.repeat} "
            f"run(s) per side, scale {args.scale:g}")


def write_markdown(path: Path, context: str, cells: list[list[str]], notes: list[str]) -> None:
    parts = [f"_{context}._", "", render_markdown(cells), ""]
    parts += ["Ratios are ours/reference (for latencies, lower is better)."]
    parts += [""] + [f"- {n}" for n in notes] if notes else []
    path.write_text("\n".join(parts) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workloads = args.only or SUITES[args.suite]
    sides, notes = pick_sides(args)
    if not sides:
        print("nothing to run: both sides skipped", file=sys.stderr)
        return 2
    raw = run_all(workloads, sides, args)
    medians = {side: {w: median_figures(r) for w, r in per.items()} for side, per in raw.items()}
    rows = [row for row in ROWS if row.workload in workloads]
    cells = table(rows, medians.get("ours", {}), medians.get("reference", {}))
    notes += notes_for(medians)
    context = context_line(args, sides)
    print(f"\n{context}\n\n{render_text(cells)}\n")
    print("\n".join(f"note: {n}" for n in notes))
    if args.markdown:
        write_markdown(args.markdown, context, cells, notes)
    if args.json:
        dump = {"context": context, "runs": raw, "medians": medians}
        args.json.write_text(json.dumps(dump, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
