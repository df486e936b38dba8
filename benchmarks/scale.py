"""Scale rows: how per-job costs, get_stats, disk and worker memory grow with queue depth.

    python benchmarks/scale.py [--depths 10000 1000000] [--dead 10000 100000] [--markdown FILE]

For each depth, in a fresh subprocess and data dir (6 shards, payload ``{"i": n}``): fill the queue
with that many pending jobs (or, for the scheduled rows, jobs due in an hour), then time single
enqueues, claim(32) + grouped ack, and ``get_stats()``, and weigh the shard files.  A separate
worker process then drains 20k jobs at that depth and reports its resident memory.  Dead-letter
rows fill the dead-letter queue instead.  Full-scale runs take minutes: never in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _refenv import REPO_ROOT, ours  # noqa: E402

RUNS = REPO_ROOT / ".bench" / "scale-runs"
MEASURED = 20_000  # jobs timed at each depth
CHUNK = 100_000


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _fill(queue: Any, kind: str, depth: int) -> None:
    for lo in range(0, depth, CHUNK):
        items = range(lo, min(depth, lo + CHUNK))
        if kind == "scheduled":
            queue.enqueue_batch([{"payload": {"d": i}, "delay": 3600.0} for i in items])
        else:
            queue.enqueue_batch([{"payload": {"d": i}} for i in items])


def _dead(queue: Any, count: int) -> None:
    """`count` dead letters: jobs claimed and buried one at a time, straight through the storage
    (through the Queue, the circuit breaker would rightly pause claims after so many failures)."""
    from queue_max.models import ErrorInfo

    for lo in range(0, count, CHUNK):
        queue.enqueue_batch([{"payload": {"x": i}} for i in range(lo, min(count, lo + CHUNK))])
    error = ErrorInfo("ValueError", "dead on purpose")
    while jobs := queue.backend.claim("dead", 256, 300.0, time.time()):
        for job in jobs:
            queue.backend.bury(job.lease, error, time.time())


def measure(kind: str, depth: int, data: Path) -> dict[str, Any]:
    from queue_max import Queue

    queue = Queue(shards=6, rate_limit=10**9, data_dir=str(data))
    if kind == "dead":
        _dead(queue, depth)
    else:
        _fill(queue, kind, depth)
    # the fill leaves up to wal_autocheckpoint pages of WAL per shard; folding them into the file
    # is the fill's cost (workers do it when idle), not the measured jobs' (it was 8 MB a shard at 1M)
    queue.backend.checkpoint()
    t0 = time.perf_counter()
    stats = queue.get_stats()
    stats_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    for i in range(MEASURED):
        queue.enqueue({"i": i})
    enqueue_rate = MEASURED / (time.perf_counter() - t0)
    t0, done = time.perf_counter(), 0
    while done < MEASURED:
        jobs = queue.claim_jobs("scale", 32)
        if not jobs:
            break
        queue.complete_jobs([(job, None) for job in jobs])
        done += len(jobs)
    drain_rate = done / (time.perf_counter() - t0)
    files = sum(p.stat().st_size for p in data.glob("shard_*.db*"))
    rows = depth + 2 * MEASURED  # the filled jobs, the enqueued ones and the completed ones
    queue.close()
    return {"kind": kind, "depth": depth, "get_stats_ms": stats_ms, "enqueue_rate": enqueue_rate,
            "claim_ack_rate": drain_rate, "bytes_per_job": files / rows, "counted": stats[
                "dead_letter" if kind == "dead" else "scheduled" if kind == "scheduled" else "pending"]}


def worker_rss(data: Path) -> dict[str, Any]:
    """In its own process: drain 20k more jobs on the filled queue with a 4-thread Worker."""
    from queue_max import Queue, Worker

    queue = Queue(rate_limit=10**9, data_dir=str(data))
    before = _rss_kib()
    queue.enqueue_batch([{"payload": {"w": i}} for i in range(MEASURED)])
    seen = [0]
    worker = Worker("rss", lambda payload: seen.__setitem__(0, seen[0] + 1), queue, concurrency=4,
                    poll_interval=0.01)
    worker.start()
    deadline = time.time() + 120
    while seen[0] < MEASURED and time.time() < deadline:
        time.sleep(0.05)
    worker.stop(10)
    queue.close()
    return {"rss_kib": _rss_kib(), "rss_at_open_kib": before, "ran": seen[0]}


def _child(args: argparse.Namespace) -> int:
    data = Path(args.data_dir)
    result = worker_rss(data) if args.kind == "rss" else measure(args.kind, args.depth, data)
    print(json.dumps(result), flush=True)
    return 0


def _run(kind: str, depth: int, data: Path) -> dict[str, Any]:
    side = ours()
    cmd = [side.python, __file__, "--child", kind, "--depth", str(depth), "--data-dir", str(data)]
    done = subprocess.run(cmd, env=side.env, capture_output=True, text=True, check=False, timeout=3600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depths", type=int, nargs="+", default=[10_000, 1_000_000])
    p.add_argument("--dead", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--markdown", type=Path)
    p.add_argument("--child", metavar="KIND", dest="kind")
    p.add_argument("--depth", type=int, default=0)
    p.add_argument("--data-dir")
    args = p.parse_args(argv)
    if args.kind:
        return _child(args)
    RUNS.mkdir(parents=True, exist_ok=True)
    lines = ["| rows | depth | single enqueue | claim(32)+ack | get_stats | bytes/job | worker RSS |",
             "|---|---|---|---|---|---|---|"]
    load = os.getloadavg()
    for kind, depths in (("pending", args.depths), ("scheduled", args.depths), ("dead", args.dead)):
        for depth in depths:
            with tempfile.TemporaryDirectory(dir=RUNS) as tmp:
                res = _run(kind, depth, Path(tmp) / "q")
                rss = _run("rss", depth, Path(tmp) / "q") if "error" not in res else {}
            if "error" in res:
                lines.append(f"| {kind} | {depth:,} | n/a ({res['error'][:80]}) | | | | |")
            else:
                lines.append(
                    f"| {kind} | {depth:,} | {res['enqueue_rate']:,.0f}/s | {res['claim_ack_rate']:,.0f}/s | "
                    f"{res['get_stats_ms']:.1f} ms | {res['bytes_per_job']:.0f} | "
                    f"{rss.get('rss_kib', 0) / 1024:.0f} MiB |")
            print(lines[-1], file=sys.stderr, flush=True)
    text = (f"_{time.strftime('%Y-%m-%d %H:%M')} UTC, load average at start {load[0]:.1f} / {load[1]:.1f} / "
            f"{load[2]:.1f}._\n\n" + "\n".join(lines))
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
