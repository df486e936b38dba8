"""An `AsyncWorker` process: `python async_worker_proc.py CONFIG_JSON`.

CONFIG: data_dir, worker_id, handler (`module:function`, importable from tests/) and ready (a file
touched once its signal handlers are in place). It runs until SIGTERM.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS.parent / "src"), str(TESTS)]

from queue_max import Queue, Settings
from queue_max.loading import load_function
from queue_max.workers import AsyncWorker


def main(config: dict) -> int:
    queue = Queue(data_dir=config["data_dir"], settings=Settings(), rate_limit=0)
    worker = AsyncWorker(config["worker_id"], load_function(config["handler"]), queue, poll_interval=0.05)
    worker.start(handle_signals=True)
    Path(config["ready"]).touch()
    while not worker.wait(0.2):
        pass
    queue.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
