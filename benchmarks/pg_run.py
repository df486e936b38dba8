"""queue-max on PostgreSQL against procrastinate 3.x and pgqueuer 1.x, in the same run, same server.

    python benchmarks/pg_run.py                          # every workload, one run per side
    python benchmarks/pg_run.py --repeat 3 --markdown /tmp/pg.md
    python benchmarks/pg_run.py --scale 0.1              # quick smoke run

The peers are installed from PyPI on first use into `.bench/procrastinate-venv` and
`.bench/pgqueuer-venv` (gitignored). Each workload runs in a fresh database (`qm_bench`, dropped
and created again) in its own subprocess, sides in turn; the table shows medians. Nothing here
runs in CI, and no figure is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent / ".bench"
PEERS = {
    "procrastinate": ["procrastinate>=3,<4", "psycopg[binary,pool]"],
    "pgqueuer": ["pgqueuer>=1,<2", "asyncpg", "psycopg[binary]"],
}
# workload -> jobs at scale 1
WORKLOADS = {"single": 2000, "batch": 100_000, "drain": 20_000, "claim_ack": 20_000, "latency": 200}
SIDES = ["ours", "procrastinate", "pgqueuer"]


def python_of(side: str) -> str:
    if side == "ours":
        return sys.executable
    folder = BENCH / f"{side}-venv"
    python = folder / "bin" / "python"
    if not python.exists():
        print(f"[bench] installing {' '.join(PEERS[side])} into {folder} ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(folder)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS[side]], check=True)
    return str(python)


def script_of(side: str) -> str:
    return str(HERE / f"_pg_{side}.py")


def fresh_database(admin_dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def prepare(side: str, dsn: str) -> None:
    if side == "procrastinate":
        subprocess.run([python_of(side), script_of(side), "setup", dsn, "0"], check=True)
    elif side == "pgqueuer":
        subprocess.run([python_of(side), "-m", "pgqueuer", "--pg-dsn", dsn, "install"], check=True,
                       capture_output=True)


def run_one(side: str, workload: str, dsn: str, n: int) -> dict[str, float] | None:
    if workload == "claim_ack" and side != "ours":
        return None
    if workload == "latency":
        return latency(side, dsn, n)
    done = subprocess.run([python_of(side), script_of(side), workload, dsn, str(n)], capture_output=True,
                          text=True, timeout=900, check=False)
    if done.returncode != 0:
        print(f"[bench] {side} {workload} failed:\n{done.stderr[-1500:]}", file=sys.stderr)
        return None
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def latency(side: str, dsn: str, n: int) -> dict[str, float] | None:
    out = BENCH / f"latency-{side}.txt"
    out.unlink(missing_ok=True)
    worker = subprocess.Popen([python_of(side), script_of(side), "latency-worker", dsn, "0", str(out)])
    try:
        time.sleep(3.0)  # the worker connects and goes idle
        subprocess.run([python_of(side), script_of(side), "latency-produce", dsn, str(n)], check=True,
                       capture_output=True, timeout=300)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().split()) < n):
            time.sleep(0.1)
    finally:
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
    values = sorted(float(v) * 1000 for v in out.read_text().split()) if out.exists() else []
    if len(values) < n:
        print(f"[bench] {side} latency: {len(values)} of {n} jobs started", file=sys.stderr)
        return None
    return {"p50_ms": statistics.median(values), "p95_ms": values[int(len(values) * 0.95) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    dsn = args.admin_dsn.rsplit("/", 1)[0] + "/qm_bench"
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for workload in args.only:
        n = max(10, int(WORKLOADS[workload] * args.scale))
        for round_ in range(args.repeat):
            for side in SIDES[round_ % 3:] + SIDES[: round_ % 3]:  # each side goes first in turn
                fresh_database(args.admin_dsn, "qm_bench")
                prepare(side, dsn)
                result = run_one(side, workload, dsn, n)
                if result is not None:
                    results.setdefault(workload, {}).setdefault(side, []).append(result)
                    print(f"[bench] {workload:10} {side:14} {result}", file=sys.stderr)
    table = render(results)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


def render(results: dict[str, dict[str, list[dict[str, float]]]]) -> str:
    lines = ["| workload | queue-max | procrastinate | pgqueuer | queue-max vs best peer |",
             "|---|---|---|---|---|"]
    for workload, sides in results.items():
        key, unit, better = ("p50_ms", "ms p50", min) if workload == "latency" else ("rate", "jobs/s", max)
        medians = {side: statistics.median(r[key] for r in runs) for side, runs in sides.items()}
        cells = [f"{medians[s]:,.1f} {unit}" if s in medians else "n/a" for s in SIDES]
        peers = [medians[s] for s in SIDES[1:] if s in medians]
        if "ours" in medians and peers:
            best = better(peers)
            ratio = best / medians["ours"] if workload == "latency" else medians["ours"] / best
            cells.append(f"{ratio:.2f}x")
        else:
            cells.append("-")
        lines.append(f"| {workload} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
