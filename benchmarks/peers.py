"""Peer benchmark: ours, a minimal raw-sqlite3 engine (the ceiling), Huey and localqueue, same run.

    python benchmarks/peers.py [--repeat K] [--scale X] [--only WORKLOAD ...] [--markdown FILE]

Every (engine, workload) runs in a fresh subprocess and data dir, in the engine's own
interpreter: ours and the ceiling here with ``src/`` on the path, each peer in its own venv
under ``.bench/`` (pip-installed on first use).  Engines take turns going first; the table
shows medians over ``--repeat`` runs and the issue-14 ratios.  Read ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _refenv import REPO_ROOT, RefEnvError, Side, ours, peer

SCRIPT = Path(__file__).with_name("_peerwork.py")
RUNS = REPO_ROOT / ".bench" / "peer-runs"
ENGINES = ["ours", "ceiling", "huey", "huey-normal", "localqueue"]
SIDE_OF = {"ours": "ours", "ceiling": "ours", "huey": "huey", "huey-normal": "huey", "localqueue": "localqueue"}


@dataclass(frozen=True)
class Case:
    """One row of runs: a workload, its job count, durability and our shard count."""

    label: str
    workload: str
    n: int
    durable: bool = False
    shards: int = 6
    engines: tuple[str, ...] = tuple(ENGINES)


CASES = [
    Case("enqueue_single", "enqueue_single", 20_000),
    Case("enqueue_single, durable", "enqueue_single", 3_000, durable=True),
    Case("enqueue_batch (10k a call)", "enqueue_batch", 50_000),
    Case("enqueue_batch, durable", "enqueue_batch", 50_000, durable=True),
    Case("drain, 4 threads", "drain", 20_000),
    Case("drain, 4 threads, durable", "drain", 10_000, durable=True),
    Case("drain, 4 threads, 1 shard", "drain", 20_000, shards=1, engines=("ours",)),
    Case("drain, 4 threads, 1 shard, durable", "drain", 10_000, durable=True, shards=1, engines=("ours",)),
    Case("latency, 50 jobs/s", "latency", 300),
    Case("latency, 50 jobs/s, durable", "latency", 300, durable=True),
    Case("task .delay()", "task_delay", 20_000, engines=("ours", "huey", "huey-normal")),
    Case("task .delay(), durable", "task_delay", 3_000, durable=True, engines=("ours", "huey", "huey-normal")),
    Case("task drain, 4 threads", "task_drain", 20_000, engines=("ours", "huey", "huey-normal")),
    Case("task drain, 4 threads, durable", "task_drain", 10_000, durable=True,
         engines=("ours", "huey", "huey-normal")),
]


def run_one(side: Side, engine: str, case: Case, args: argparse.Namespace) -> dict[str, Any]:
    RUNS.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix=f"{engine}-{case.workload}-", dir=RUNS))
    n = max(1, round(case.n * args.scale)) if case.workload != "latency" else case.n
    cmd = [side.python, str(SCRIPT), engine, case.workload, "--data-dir", str(data / "q"),
           "--n", str(n), "--shards", str(case.shards)] + (["--durable"] if case.durable else [])
    try:
        done = subprocess.run(cmd, env=side.env, capture_output=True, text=True, timeout=900, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return json.loads(lines[-1]) if lines else {"error": tail[:200]}
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    finally:
        shutil.rmtree(data, ignore_errors=True)


def figure(result: dict[str, Any]) -> float | None:
    value = result.get("p50_ms", result.get("rate"))
    return float(value) if isinstance(value, (int, float)) else None


def run_all(cases: list[Case], sides: dict[str, Side], args: argparse.Namespace) -> dict[str, dict[str, list[Any]]]:
    raw: dict[str, dict[str, list[Any]]] = {c.label: {} for c in cases}
    for rep in range(args.repeat):
        for k, case in enumerate(cases):
            engines = [e for e in case.engines if SIDE_OF[e] in sides]
            for engine in engines if (rep + k) % 2 == 0 else engines[::-1]:
                res = run_one(sides[SIDE_OF[engine]], engine, case, args)
                raw[case.label].setdefault(engine, []).append(res)
                shown = res.get("error") or f"{figure(res) or 0:,.2f}"
                print(f"[peers] {rep + 1}/{args.repeat} {case.label:<28} {engine:<12} {shown}",
                      file=sys.stderr, flush=True)
    return raw


def medians(raw: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for label, per_engine in raw.items():
        for engine, results in per_engine.items():
            values = [v for v in (figure(r) for r in results) if v is not None]
            out.setdefault(label, {})[engine] = statistics.median(values) if values else None
    return out


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else ""


def render(med: dict[str, dict[str, float | None]]) -> str:
    head = ["workload", *ENGINES, "ours/ceiling", "ours/huey-normal", "ours/localqueue"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, row in med.items():
        unit = "ms p50" if label.startswith("latency") else "/s"
        cells = [label] + [("n/a" if row.get(e) is None else
                            f"{row[e]:.2f} ms" if unit == "ms p50" else f"{row[e]:,.0f}/s")
                           if e in row else "" for e in ENGINES]
        cells += [_ratio(row.get("ours"), row.get(o)) for o in ("ceiling", "huey-normal", "localqueue")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(med: dict[str, dict[str, float | None]]) -> list[str]:
    def get(label: str, engine: str = "ours") -> float | None:
        return med.get(label, {}).get(engine)

    checks = [
        ("task .delay() / enqueue_single", get("task .delay()"), get("enqueue_single"), 0.8, True),
        ("task drain / plain drain", get("task drain, 4 threads"), get("drain, 4 threads"), 0.8, True),
        ("drain / ceiling", get("drain, 4 threads"), get("drain, 4 threads", "ceiling"), 0.85, True),
        ("drain 6 shards / 1 shard", get("drain, 4 threads"), get("drain, 4 threads, 1 shard"), 1.0, True),
        ("drain / huey-normal", get("drain, 4 threads"), get("drain, 4 threads", "huey-normal"), 6.0, True),
        ("enqueue_single / huey-normal", get("enqueue_single"), get("enqueue_single", "huey-normal"), 2.0, True),
        ("latency p50 / huey-normal", get("latency, 50 jobs/s"), get("latency, 50 jobs/s", "huey-normal"), 0.5, False),
    ]
    out = []
    for name, a, b, limit, at_least in checks:
        if a is None or not b:
            out.append(f"| {name} | n/a | {'>=' if at_least else '<='} {limit:g} | n/a |")
            continue
        ok = a / b >= limit if at_least else a / b <= limit
        out.append(f"| {name} | {a / b:.2f} | {'>=' if at_least else '<='} {limit:g} | {'PASS' if ok else 'MISS'} |")
    return ["| target | ratio | wanted | result |", "|---|---|---|---|", *out]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--scale", type=float, default=1.0, help="multiply job counts (not latency's)")
    p.add_argument("--only", nargs="+", metavar="LABEL_PREFIX", help="cases whose label starts so")
    p.add_argument("--engines", nargs="+", choices=ENGINES, help="engines to run (default: all)")
    p.add_argument("--markdown", type=Path)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    cases = [c for c in CASES if not args.only or any(c.label.startswith(o) for o in args.only)]
    wanted = set(args.engines or ENGINES)
    cases = [Case(c.label, c.workload, c.n, c.durable, c.shards, tuple(e for e in c.engines if e in wanted))
             for c in cases]
    sides: dict[str, Side] = {"ours": ours()}
    for name in ("huey", "localqueue"):
        if any(SIDE_OF[e] == name for e in wanted):
            try:
                sides[name] = peer(name)
            except RefEnvError as exc:
                print(f"[peers] {name} skipped: {exc}", file=sys.stderr)
    load = os.getloadavg()
    raw = run_all(cases, sides, args)
    med = medians(raw)
    context = (f"{time.strftime('%Y-%m-%d %H:%M')} UTC, Python {platform.python_version()}, SQLite "
               f"{sqlite3.sqlite_version}, {os.cpu_count()} CPUs, load average at start "
               f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, median of {args.repeat}, scale {args.scale:g}")
    text = "\n".join([f"_{context}._", "", render(med), "", *targets(med)])
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps({"context": context, "runs": raw}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
