"""One "host" of the multi-host PostgreSQL tests: `pg_host.py CONFIG_JSON`, a Worker until SIGTERM.

CONFIG: url, schema, host (the host's name), threads, clock_ahead (seconds this host's clock runs
ahead of the server's), job_sleep (seconds per job), lease, heartbeat, recovery, max_retries.
Every run of a job is recorded in the schema's `runs` table (job id, host, attempt), committed
before the job is acknowledged, so the test can count duplicates and losses.
A payload {"poison": true} raises every time.
"""

from __future__ import annotations

import faulthandler
import json
import signal
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE), str(HERE.parent)]

import psycopg  # noqa: E402

from _pg import AheadClock  # noqa: E402
from queue_max import Queue  # noqa: E402
from queue_max.config import Settings  # noqa: E402
from queue_max.workers import Worker, current_job  # noqa: E402


def main(config: dict) -> int:
    faulthandler.register(signal.SIGUSR1)  # a hung host dumps its threads' stacks
    settings = Settings().with_(database_schema=config["schema"], database_pool_size=config["threads"] + 2)
    queue = Queue(database_url=config["url"], settings=settings, rate_limit=0, clock=AheadClock(config["clock_ahead"]),
                  lease_timeout=config["lease"], heartbeat_interval=config["heartbeat"],
                  recovery_interval=config["recovery"], max_retries=config["max_retries"], retry_backoff=0.01,
                  retry_backoff_max=0.05)
    local = threading.local()
    host = config["host"]

    def record(payload: dict) -> str:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(config["url"], autocommit=True)
        job = current_job()
        conn.execute(f'INSERT INTO "{config["schema"]}".runs VALUES (%s, %s, %s)', (job.id, host, job.attempts))
        time.sleep(config["job_sleep"])
        if payload.get("poison"):
            raise RuntimeError("poison")
        return host

    worker = Worker(f"{host}-{__import__('os').getpid()}", record, queue, concurrency=config["threads"],
                    poll_interval=0.05, shutdown_timeout=5)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    print("ready", flush=True)
    while not stop.wait(0.2):  # a timed wait: the handler runs between the waits
        pass
    worker.stop(5)
    queue.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
