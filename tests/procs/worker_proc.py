"""A worker process for the worker tests: `python worker_proc.py CONFIG_JSON`.

CONFIG: data_dir, shards, queue (Queue keyword arguments), handler (a name in worker_handlers),
threads, prefetch, poll_interval, shutdown_timeout, ready (a file touched once started) and stats
(a file that receives the worker's get_stats() as JSON when it stops). It handles SIGTERM and
SIGINT like a deployed worker: the first finishes running jobs, the second stops at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE)]

import worker_handlers

from queue_max import Queue, Settings
from queue_max.workers import Worker


def main(config: dict) -> int:
    queue = Queue(data_dir=config["data_dir"], shards=config.get("shards"), settings=Settings(),
                  **config.get("queue", {}))
    # prefetch: the Worker's own default unless the test sets one, as a deployed worker runs
    own = {"prefetch": config["prefetch"]} if "prefetch" in config else {}
    worker = Worker(
        config.get("worker_id", "proc-worker"), getattr(worker_handlers, config.get("handler", "record")), queue,
        poll_interval=config.get("poll_interval", 0.05), concurrency=config.get("threads", 1),
        shutdown_timeout=config.get("shutdown_timeout", 10.0), **own,
    )
    worker.start(handle_signals=True)
    Path(config["ready"]).touch()
    while not worker.wait(0.2):
        pass
    Path(config["stats"]).write_text(json.dumps(worker.get_stats()))
    queue.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
