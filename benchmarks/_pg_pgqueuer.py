"""The same PostgreSQL workloads on pgqueuer 1.x (run with .bench/pgqueuer-venv's python)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import timedelta

import asyncpg
from pgqueuer import AsyncpgDriver, Queries, QueueManager
from pgqueuer.types import QueueExecutionMode

DSN = sys.argv[2]


async def single(queries: Queries, n: int) -> dict[str, float]:
    for i in range(20):  # warm-up, not timed (every side does the same)
        await queries.enqueue("noop", json.dumps({"i": i}).encode())
    start = time.perf_counter()
    for i in range(n):
        await queries.enqueue("noop", json.dumps({"i": i}).encode())
    return {"rate": n / (time.perf_counter() - start)}


async def batch(queries: Queries, n: int) -> dict[str, float]:
    payloads = [json.dumps({"i": i}).encode() for i in range(n)]
    start = time.perf_counter()
    await queries.enqueue(["noop"] * n, payloads, [0] * n)
    return {"rate": n / (time.perf_counter() - start)}


def manager(conn: asyncpg.Connection, handler) -> QueueManager:
    qm = QueueManager(Queries(AsyncpgDriver(conn)))
    qm.entrypoint("noop")(handler)
    return qm


async def drain(queries: Queries, n: int, conn: asyncpg.Connection) -> dict[str, float]:
    await batch(queries, n)

    async def noop(job) -> None:
        return None

    qm = manager(conn, noop)
    start = time.perf_counter()
    # 4 concurrent handlers; pgqueuer wants max_concurrent_tasks >= 2 x batch_size
    await qm.run(mode=QueueExecutionMode.drain, max_concurrent_tasks=4, batch_size=2,
                 dequeue_timeout=timedelta(seconds=1))
    return {"rate": n / (time.perf_counter() - start)}


async def latency_worker(conn: asyncpg.Connection, out: str) -> None:
    sink = open(out, "a", buffering=1)

    async def stamp(job) -> None:
        sink.write(f"{time.time() - json.loads(job.payload)['t']}\n")

    await manager(conn, stamp).run(max_concurrent_tasks=2, batch_size=1)


async def latency_produce(queries: Queries, n: int) -> dict[str, float]:
    for _ in range(n):
        await queries.enqueue("noop", json.dumps({"t": time.time()}).encode())
        await asyncio.sleep(0.02)
    return {}


async def main() -> None:
    workload, n = sys.argv[1], int(sys.argv[3])
    conn = await asyncpg.connect(DSN)
    queries = Queries(AsyncpgDriver(conn))
    if workload == "latency-worker":
        await latency_worker(conn, sys.argv[4])
        return
    if workload == "drain":
        result = await drain(queries, n, conn)
    else:
        result = await {"single": single, "batch": batch, "latency-produce": latency_produce}[workload](queries, n)
    print(json.dumps(result), flush=True)
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
