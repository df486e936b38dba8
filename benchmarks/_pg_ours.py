"""PostgreSQL workloads for queue-max: `python _pg_ours.py WORKLOAD DSN N [OUT]`, prints one JSON line.

Workloads: single (N enqueue calls), batch (one enqueue_batch of N), drain (N pre-loaded no-op
jobs, 4 worker threads), claim_ack (N jobs, one thread claiming 32 and acking them together, results kept as workers do),
latency-worker (an idle worker that appends `start - enqueue` per job to OUT), latency-produce.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from queue_max import Queue  # noqa: E402
from queue_max.config import Settings  # noqa: E402
from queue_max.workers import Worker  # noqa: E402


def open_queue(dsn: str) -> Queue:
    return Queue(database_url=dsn, rate_limit=0, settings=Settings().with_(log_level="ERROR"))


def single(queue: Queue, n: int) -> dict[str, float]:
    for i in range(20):  # warm-up, not timed (every side does the same)
        queue.enqueue({"i": i})
    start = time.perf_counter()
    for i in range(n):
        queue.enqueue({"i": i})
    return {"rate": n / (time.perf_counter() - start)}


def batch(queue: Queue, n: int) -> dict[str, float]:
    items = [{"payload": {"i": i}} for i in range(n)]
    start = time.perf_counter()
    queue.enqueue_batch(items)
    return {"rate": n / (time.perf_counter() - start)}


def drain(queue: Queue, n: int) -> dict[str, float]:
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(n)])
    worker = Worker("bench", lambda payload: None, queue, concurrency=4, poll_interval=0.05)
    start = time.perf_counter()
    worker.start()
    queue.wait_until_empty(timeout=600, poll_interval=0.01)
    elapsed = time.perf_counter() - start
    worker.stop(10)
    return {"rate": n / elapsed}


def claim_ack(queue: Queue, n: int) -> dict[str, float]:
    queue.enqueue_batch([{"payload": {"i": i}} for i in range(n)])
    backend, done = queue.backend, 0
    start = time.perf_counter()
    while batch_ := backend.claim("bench", 32, 30.0, time.time()):
        backend.complete_many([(job.lease, None) for job in batch_], time.time(), queue.options.result_ttl)
        done += len(batch_)
    return {"rate": done / (time.perf_counter() - start)}


def latency_worker(queue: Queue, out: str) -> None:
    with open(out, "a", buffering=1) as sink:
        worker = Worker("lat", lambda payload: sink.write(f"{time.time() - payload['t']}\n"), queue,
                        concurrency=1, poll_interval=1.0)
        worker.start()
        worker.wait()


def latency_produce(queue: Queue, n: int) -> dict[str, float]:
    for _ in range(n):
        queue.enqueue({"t": time.time()})
        time.sleep(0.02)
    return {}


def main() -> None:
    workload, dsn, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    queue = open_queue(dsn)
    if workload == "latency-worker":
        latency_worker(queue, sys.argv[4])
        return
    run = {"single": single, "batch": batch, "drain": drain, "claim_ack": claim_ack,
           "latency-produce": latency_produce}[workload]
    print(json.dumps(run(queue, n)), flush=True)
    queue.close()


if __name__ == "__main__":
    main()
