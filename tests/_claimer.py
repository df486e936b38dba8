"""A subprocess for the multi-process tests: claims (or produces) jobs on a shared directory."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from queue_max import Queue  # noqa: E402


def consume(data_dir: str, out: str, threads: int, batch: int) -> None:
    queue = Queue(data_dir=data_dir, rate_limit=0)
    seen: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        idle = 0
        while idle < 20:
            jobs = queue.claim_jobs(name, batch)
            if not jobs:
                idle += 1
                queue.wait_for_work(0.01)
                continue
            idle = 0
            with lock:
                seen.extend(job.payload["i"] for job in jobs)
            queue.complete_jobs([(job, None) for job in jobs])

    workers = [threading.Thread(target=work, args=(f"{out}-{n}",)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    Path(out).write_text("\n".join(map(str, seen)))
    queue.close()


def produce(data_dir: str, start: int, count: int, mode: str) -> None:
    queue = Queue(data_dir=data_dir, rate_limit=0)
    if mode == "single":
        for i in range(start, start + count):
            queue.enqueue({"i": i})
    else:
        for offset in range(start, start + count, 100):
            queue.enqueue_batch([{"payload": {"i": i}} for i in range(offset, min(offset + 100, start + count))])
    queue.close()


if __name__ == "__main__":
    if sys.argv[1] == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        produce(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
