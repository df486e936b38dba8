"""The cost of a batch claim by how many claimed jobs sit ahead of it in the run order.

    python benchmarks/inflight.py                      # 0, 128, 512 and 2048 jobs in flight
    python benchmarks/inflight.py --inflight 0 512 --rounds 200

A claim does not take its jobs out of the run-order index (`fila_ready`: a claim then rewrites
only the table row), so the next claim walks past every job still in flight, one table lookup
each, to reach the first pending one. Workers in flight hold about threads x prefetch jobs: 512
for 4 threads of the default 128 (128 with the 32 of before 2026-12-06), 2048 for 16. This times `claim(32)` + its grouped ack on one shard of 200k
pending jobs with N jobs claimed ahead and held; the report is each N's fastest and median claim.
Timed on a shared machine: read the fastest, and the growth with N.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from queue_max import Queue  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inflight", type=int, nargs="+", default=[0, 128, 512, 2048])
    p.add_argument("--rounds", type=int, default=60, help="claims timed at each level")
    p.add_argument("--pending", type=int, default=200_000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        queue = Queue(shards=1, rate_limit=0, data_dir=tmp)
        try:
            queue.enqueue_batch([{"payload": {"i": i}} for i in range(args.pending)])
            backend = queue.backend
            for inflight in args.inflight:
                held = []
                while len(held) < inflight:
                    held += backend.claim("held", min(32, inflight - len(held)), 300.0, time.time())
                times = []
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    jobs = backend.claim("bench", 32, 300.0, time.time())
                    times.append(time.perf_counter() - t0)
                    queue.complete_jobs([(job, None) for job in jobs])
                print(f"{inflight:5d} in flight: claim(32) fastest {min(times) * 1e6:,.0f} us, "
                      f"median {statistics.median(times) * 1e6:,.0f} us", flush=True)
                queue.complete_jobs([(job, None) for job in held])
        finally:
            queue.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
