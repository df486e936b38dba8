"""Load check of the dashboard: how long the overview (and the other pages) take with 1M jobs.

    python benchmarks/dashboard_load.py                 # builds .bench/dashboard-1m once, then measures
    python benchmarks/dashboard_load.py --jobs 200000   # a smaller queue

The queue holds `--jobs` jobs over 6 shards: 90% completed (kept with results), 9% pending,
1% dead letters, and a few running. Each page is requested `--repeat` times through the
framework-free core (no HTTP server, so the figure is the dashboard's own work); the table shows
the median and the slowest of a full page (200), and of the live-update check that the browser
sends every few seconds (`If-None-Match`, answered 304 while nothing changed). The first request
of a dashboard counts the jobs itself (shown apart as "first"); later ones read the snapshot that
a background thread refreshes (see dashboard.md).
The target of issue 12: the overview under 100 ms with 1M jobs. Nothing here runs in CI."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from queue_max import Queue  # noqa: E402
from queue_max.config import Settings  # noqa: E402
from queue_max.dashboard import Dashboard, Request  # noqa: E402
from queue_max.models import ErrorInfo  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent / ".bench"
PAGES = ["/", "/jobs", "/jobs?status=failed", "/dead-letters", "/workers", "/queues", "/metrics"]


def build(data: Path, jobs: int) -> None:
    queue = Queue(data_dir=data, shards=6, rate_limit=0, settings=Settings(), result_ttl=10 * 86400.0)
    batch = 50_000
    made = 0
    while made < jobs:
        n = min(batch, jobs - made)
        queue.enqueue_batch([{"payload": {"__task__": f"task.{i % 7}", "args": [made + i], "kwargs": {}}}
                             for i in range(n)])
        made += n
        done = int(n * 0.9)
        backend, now = queue.backend, time.time()
        while done > 0:  # storage verbs directly: the circuit breaker must not stop the build
            claimed = backend.claim("builder", min(1000, done), 60.0, now)
            if not claimed:
                break
            dead = claimed[: max(1, len(claimed) // 90)]
            backend.complete_many([(job.lease, '{"ok": 1}') for job in claimed[len(dead):]], now, 10 * 86400.0)
            for job in dead:
                backend.bury(job.lease, ErrorInfo("ValueError", "bad"), now)
            done -= len(claimed)
        print(f"  built {made:,} jobs", file=sys.stderr)
    queue.backend.claim("worker-live", 5, 3600.0, time.time())
    queue.close()


def measure(dashboard: Dashboard, path: str, repeat: int) -> tuple[list[float], list[float]]:
    target, _, query = path.partition("?")
    args = {k: [v] for k, v in (pair.split("=") for pair in query.split("&") if pair)}
    fresh, checks = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        response = dashboard.handle(Request("GET", target, query=args, headers={"host": "bench"}))
        fresh.append(time.perf_counter() - t)
        etag = dict(response.headers).get("ETag")
        if etag:
            t = time.perf_counter()
            again = dashboard.handle(Request("GET", target, query=args, headers={"host": "bench", "if-none-match": etag}))
            checks.append(time.perf_counter() - t)
            assert again.status in (200, 304)
    return fresh, checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    data = ROOT / f"dashboard-{args.jobs}"
    if not (data / "shard_0.db").exists():
        print(f"building {data} ...", file=sys.stderr)
        build(data, args.jobs)
    queue = Queue(data_dir=data, rate_limit=0, settings=Settings())
    dashboard = Dashboard(queue, allow_anonymous=True)
    t = time.perf_counter()
    dashboard.handle(Request("GET", "/", headers={"host": "bench"}))
    print(f"first overview (counts {args.jobs:,} jobs itself): {(time.perf_counter() - t) * 1000:.0f} ms")
    counts = queue.counts()
    print(f"{sum(counts[k] for k in ('pending', 'processing', 'completed', 'failed', 'cancelled')):,} jobs: {counts}")
    print(f"{'page':<22} {'median ms':>10} {'max ms':>8} {'304 check ms':>13}")
    for path in PAGES:
        fresh, checks = measure(dashboard, path, args.repeat)
        check = f"{statistics.median(checks) * 1000:>13.1f}" if checks else f"{'-':>13}"
        print(f"{path:<22} {statistics.median(fresh) * 1000:>10.1f} {max(fresh) * 1000:>8.1f} {check}")
    queue.close()


if __name__ == "__main__":
    main()
