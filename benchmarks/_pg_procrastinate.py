"""The same PostgreSQL workloads on procrastinate 3.x (run with .bench/procrastinate-venv's python)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import procrastinate

DSN = sys.argv[2]
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))
OUT: list = []


@app.task(name="noop")
def noop(i: int) -> None:
    return None


@app.task(name="stamp")
def stamp(t: float) -> None:
    OUT[0].write(f"{time.time() - t}\n")


async def single(n: int) -> dict[str, float]:
    for i in range(20):  # warm-up, not timed (every side does the same)
        await noop.defer_async(i=i)
    start = time.perf_counter()
    for i in range(n):
        await noop.defer_async(i=i)
    return {"rate": n / (time.perf_counter() - start)}


async def batch(n: int) -> dict[str, float]:
    items = [{"i": i} for i in range(n)]
    start = time.perf_counter()
    await noop.batch_defer_async(*items)
    return {"rate": n / (time.perf_counter() - start)}


async def drain(n: int) -> dict[str, float]:
    await noop.batch_defer_async(*[{"i": i} for i in range(n)])
    start = time.perf_counter()
    await app.run_worker_async(concurrency=4, wait=False, install_signal_handlers=False, delete_jobs="always")
    return {"rate": n / (time.perf_counter() - start)}


async def latency_worker(out: str) -> None:
    OUT.append(open(out, "a", buffering=1))
    await app.run_worker_async(concurrency=1, install_signal_handlers=True, queues=["default"])


async def latency_produce(n: int) -> dict[str, float]:
    for _ in range(n):
        await stamp.defer_async(t=time.time())
        await asyncio.sleep(0.02)
    return {}


async def main() -> None:
    workload, n = sys.argv[1], int(sys.argv[3])
    async with app.open_async():
        if workload == "setup":
            await app.schema_manager.apply_schema_async()
            return
        if workload == "latency-worker":
            await latency_worker(sys.argv[4])
            return
        run = {"single": single, "batch": batch, "drain": drain, "latency-produce": latency_produce}[workload]
        print(json.dumps(await run(n)), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
