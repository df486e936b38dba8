"""One claimer process of the PostgreSQL tally tests: `pg_tally_claimer.py URL SCHEMA N`.

Prints "ready", waits for a line on stdin, then drains the queue: claims 16 at a time, completes
most (kept or deleted), retries or buries two, releases one, and folds the tallies every tenth
batch. Exits 0 when no job is left to claim.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src")]

from queue_max.models import ErrorInfo  # noqa: E402
from queue_max.storage.postgres import PostgresBackend, PostgresOptions  # noqa: E402

NOW = 1_800_000_000.0


def main(url: str, schema: str, me: int) -> int:
    backend = PostgresBackend(url, options=PostgresOptions(schema=schema, pool_max=2, listen=False))
    print("ready", flush=True)
    sys.stdin.readline()
    bad, rounds = ErrorInfo("ValueError", "bad"), 0
    try:
        while jobs := backend.claim(f"p{me}", 16, 30.0, NOW):
            rounds += 1
            backend.complete_many([(j.lease, None) for j in jobs[:13]], NOW, 0.0 if rounds % 2 else 60.0)
            for job in jobs[13:15]:
                if job.attempts < 3:
                    backend.retry(job.lease, NOW, bad, NOW)
                else:
                    backend.bury(job.lease, bad, NOW)
            backend.release([j.lease for j in jobs[15:]], NOW)
            if rounds % 10 == 0:
                backend.fold_tallies()
    finally:
        backend.close()
    print(f"done {rounds}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
