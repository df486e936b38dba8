"""`get_stats()` on PostgreSQL at depth: fill a fresh schema, VACUUM, time the stats calls.

    python benchmarks/pg_stats.py                       # 1M pending jobs in two queues
    python benchmarks/pg_stats.py --depth 100000 --src /path/to/other/tree/src

The queue is filled with `enqueue_batch` in chunks of 100k (half in queue "a", half in "b", one
in ten scheduled an hour ahead), the schema is VACUUM ANALYZEd (the test server runs with
autovacuum off), and `Queue.get_stats()` is timed five times in the same process; the first
call and the median are printed. `--dead N` adds N dead letters. `--src` imports queue_max from another tree (the figures
before a change). The schema is dropped afterwards. Timed figures, never asserted anywhere.

    python benchmarks/pg_stats.py --cost --depth 20000

`--cost` instead weighs what the server spends a job (the CPU time of the one server backend a
one-connection backend uses, from /proc, so the server must run on this host), for `--depth`
single enqueues, one batch enqueue of as many, and claim(32) + grouped ack of them all; with
`track_functions = pl` it also reports the calls of the tally triggers a job and their time.

    python benchmarks/pg_stats.py --contention --depth 20000

`--contention` drains `--depth` jobs with 4 threads (each its own one-connection backend,
claim(8) + grouped ack) once per choice of the tally row a backend adds to: its own (`pid`, what
the triggers do), one of 16 (`pid % 16`), or one per queue and status (`0`); a sampler reads
pg_stat_activity every 2 ms and reports the share of samples in which a drainer waited on a lock.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

CHUNK = 100_000
NOW = 1_800_000_000.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--depth", type=int, default=1_000_000)
    p.add_argument("--src", type=Path, default=Path(__file__).resolve().parent.parent / "src")
    p.add_argument("--dead", type=int, default=0, help="dead letters to add (straight into the table)")
    p.add_argument("--cost", action="store_true")
    p.add_argument("--contention", action="store_true")
    args = p.parse_args()
    sys.path.insert(0, str(args.src))
    if args.cost:
        return cost(args.dsn, args.depth, args.src)
    if args.contention:
        return contention(args.dsn, args.depth)
    import psycopg

    from queue_max import Queue
    from queue_max.config import Settings

    schema = f"qm_stats_{uuid.uuid4().hex[:12]}"
    queue = Queue(database_url=args.dsn, rate_limit=0,
                  settings=Settings().with_(database_schema=schema, log_level="ERROR"))
    try:
        start = time.perf_counter()
        for lo in range(0, args.depth, CHUNK):
            queue.enqueue_batch([{"payload": {"d": i}, "queue_name": "ab"[i % 2],
                                  **({"delay": 3600.0} if i % 10 == 0 else {})}
                                 for i in range(lo, min(args.depth, lo + CHUNK))])
        fill_s = time.perf_counter() - start
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f'INSERT INTO "{schema}".dead_letters (original_job_id, job_rowid, payload, failed_at, '
                         "attempts) SELECT i, i, '{}', 0, 1 FROM generate_series(1, %s) AS i", (args.dead,))
            conn.execute(f'VACUUM ANALYZE "{schema}".jobs, "{schema}".dead_letters')
        times, stats = [], {}
        for _ in range(5):
            t0 = time.perf_counter()
            stats = queue.get_stats()
            times.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({
            "src": str(args.src), "depth": args.depth, "fill_s": round(fill_s, 1),
            "get_stats_first_ms": round(times[0], 2), "get_stats_median_ms": round(statistics.median(times), 2),
            "pending": stats["pending"], "scheduled": stats["scheduled"], "dead_letter": stats["dead_letter"],
            "queues": {name: q["pending"] for name, q in stats["queues"].items()},
            "load": [round(x, 1) for x in os.getloadavg()]}))
    finally:
        queue.close()
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return 0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cost(dsn: str, n: int, src: Path) -> int:
    import psycopg

    from queue_max.models import NewJob
    from queue_max.storage.postgres import PostgresBackend, PostgresOptions

    os.environ["PGOPTIONS"] = "-c track_functions=pl"
    schema = f"qm_cost_{uuid.uuid4().hex[:12]}"
    backend = PostgresBackend(dsn, options=PostgresOptions(schema=schema, pool_min=1, pool_max=1, listen=False))
    out: dict[str, object] = {"src": str(src), "jobs": n}
    try:
        with backend.conn() as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        steps = {
            "single_enqueue": lambda: [backend.enqueue_many([NewJob('{"i": 1}')], NOW) for _ in range(n)],
            "batch_enqueue": lambda: backend.enqueue_many([NewJob('{"i": 1}')] * n, NOW),
            "claim32_ack": lambda: _drain(backend),
        }
        for name, step in steps.items():
            before = _cpu_s(pid)
            step()
            out[f"{name}_server_us"] = round((_cpu_s(pid) - before) * 1e6 / (n if name != "claim32_ack" else 2 * n), 1)
        backend.close()
        time.sleep(1.5)  # the server backend ends and reports its function statistics
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute("SELECT funcname, calls, self_time FROM pg_stat_user_functions "
                                "WHERE schemaname = %s ORDER BY funcname", (schema,)).fetchall()
        # calls: one a single enqueue, one the batch, one a claim and one an ack (of 32 jobs)
        out["triggers"] = {name: {"calls": calls, "self_ms": round(ms, 1), "us_per_call": round(ms * 1000 / calls, 1)}
                           for name, calls, ms in rows}
        out["load"] = [round(x, 1) for x in os.getloadavg()]
        print(json.dumps(out))
    finally:
        backend.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return 0


def _drain(backend: object) -> None:
    while jobs := backend.claim("bench", 32, 30.0, NOW):  # type: ignore[attr-defined]
        backend.complete_many([(job.lease, None) for job in jobs], NOW, 3600.0)  # type: ignore[attr-defined]


def contention(dsn: str, n: int) -> int:
    import threading

    import psycopg

    from queue_max.models import NewJob
    from queue_max.storage.postgres import PostgresBackend, PostgresOptions
    from queue_max.storage.postgres._tallies_sql import TALLIES_SCHEMA

    functions = [sql for sql in TALLIES_SCHEMA if "pg_backend_pid()" in sql]
    out: dict[str, object] = {"jobs": n, "threads": 4}
    for slot in ("pg_backend_pid()", "pg_backend_pid() % 16", "0"):
        schema = f"qm_cont_{uuid.uuid4().hex[:12]}"
        opts = PostgresOptions(schema=schema, pool_min=1, pool_max=1, listen=False)
        backends = [PostgresBackend(dsn, options=opts) for _ in range(4)]
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                for sql in functions:
                    conn.execute(sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
                                 .replace("pg_backend_pid()", slot).format(s=f'"{schema}"'))
            backends[0].enqueue_many([NewJob('{"i": 1}')] * n, NOW)
            pids = []
            for backend in backends:
                with backend.conn() as conn:
                    pids.append(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
            done = threading.Event()
            samples = [0, 0]

            def sample() -> None:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    while not done.is_set():
                        rows = conn.execute("SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') "
                                            "FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone()
                        samples[0] += 1
                        samples[1] += int(rows[0] > 0)  # type: ignore[index]
                        time.sleep(0.002)

            def drain(backend: object) -> None:
                while jobs := backend.claim("bench", 8, 30.0, NOW):  # type: ignore[attr-defined]
                    backend.complete_many([(job.lease, None) for job in jobs], NOW, 3600.0)  # type: ignore[attr-defined]

            sampler = threading.Thread(target=sample)
            sampler.start()
            threads = [threading.Thread(target=drain, args=(b,)) for b in backends]
            t0 = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - t0
            done.set()
            sampler.join()
            out[slot] = {"lock_wait_share": round(samples[1] / max(1, samples[0]), 3),
                         "rate": round(n / elapsed), "samples": samples[0]}
        finally:
            for backend in backends:
                backend.close()
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    out["load"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
