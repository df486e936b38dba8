"""A plain `Worker` (or `AsyncWorker`) process for the worker-process tests:
`python crash_worker.py CONFIG_JSON`.

CONFIG: data_dir, or database_url and schema (PostgreSQL); worker_id, prefetch, threads, queue
(Queue keyword arguments), out (a directory), and optionally handler (`module:function`, importable
from tests/) with async (run it in an AsyncWorker). The default handler appends "i job_id attempt"
to `out/<pid>.txt` before doing what the payload asks: `first_sleep` seconds on its first attempt,
or `poison` (SIGKILL its own process). Once its signal handlers are in place the process touches
`out/<worker_id>.<pid>.ready`; it runs until it is killed or stopped.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS.parent / "src"), str(TESTS)]

from queue_max import Queue, Settings
from queue_max.loading import load_function
from queue_max.workers import AsyncWorker, Worker, current_job


def main(config: dict[str, Any]) -> int:
    out = Path(config["out"])

    def handler(payload: dict[str, Any]) -> None:
        ctx = current_job()
        assert ctx is not None
        with open(out / f"{os.getpid()}.txt", "a") as f:
            f.write(f"{payload['i']} {ctx.job.id} {ctx.job.tentativas}\n")
        if payload.get("poison"):
            os.kill(os.getpid(), signal.SIGKILL)
        if ctx.job.tentativas == 1:
            time.sleep(payload.get("first_sleep", 0))

    url = config.get("database_url")
    settings = Settings(database_url=url, database_schema=config.get("schema", "queue_max"))
    queue = Queue(data_dir=config.get("data_dir"), settings=settings, **config.get("queue", {}))
    kind = AsyncWorker if config.get("async") else Worker
    function = load_function(config["handler"]) if config.get("handler") else handler
    worker = kind(config["worker_id"], function, queue, concurrency=config.get("threads", 1),
                  prefetch=config.get("prefetch", 8), poll_interval=0.05)
    worker.start(handle_signals=True)
    (out / f"{config['worker_id']}.{os.getpid()}.ready").touch()  # SIGTERM now stops it gracefully
    while not worker.wait(0.2):
        pass
    queue.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
