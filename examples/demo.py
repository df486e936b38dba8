"""queue-max demo: a real queue on the embedded SQLite storage, in a temporary directory.

Enqueues single, batch, delayed and deduplicated jobs, drains them with three worker threads
that use `pop_job` / `complete_job` / `fail_job`, and shows a retry, a dead letter, a stored
result and the queue's stats. Runs in a few seconds:

    python examples/demo.py

(A `Worker` class that runs this loop for you is on its way; see docs/workers.md.)
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

try:
    import queue_max  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from queue_max import Job, JobPriority, Permanent, Queue

WORKERS = 3


# ── the work: task name -> handler(payload, job) ──
def send_email(payload: dict[str, Any], job: Job) -> dict[str, Any]:
    time.sleep(0.01)  # pretend to talk to an SMTP server
    return {"sent_to": payload["to"]}


def resize_image(payload: dict[str, Any], job: Job) -> dict[str, Any]:
    time.sleep(0.005)
    return {"thumbnail": f"thumbs/{payload['image']}"}


def flaky_api(payload: dict[str, Any], job: Job) -> str:
    # The first attempt times out; the retry succeeds.
    if job.attempts == 1:
        raise TimeoutError("upstream API timed out")
    return f"ok on attempt {job.attempts}"


def charge_card(payload: dict[str, Any], job: Job) -> None:
    # Retrying a declined card cannot help: Permanent sends the job straight to the DLQ.
    raise Permanent(f"card {payload['card']} declined")


def sync_inventory(payload: dict[str, Any], job: Job) -> None:
    # Fails every time: retried once (max_retries=1), then dead-lettered.
    raise ConnectionError(f"warehouse {payload['warehouse']} unreachable")


def report(payload: dict[str, Any], job: Job) -> str:
    return f"report for {payload['day']} built"


HANDLERS = {
    "send_email": send_email,
    "resize_image": resize_image,
    "flaky_api": flaky_api,
    "charge_card": charge_card,
    "sync_inventory": sync_inventory,
    "report": report,
}


def work(queue: Queue, worker_id: str, stop: threading.Event, done: Counter[str]) -> None:
    """One worker thread: claim, run, acknowledge; sleep briefly when nothing is ready."""
    while not stop.is_set():
        job = queue.pop_job(worker_id)
        if job is None:
            queue.wait_for_work(0.05)  # wakes at once when this process enqueues
            continue
        handler = HANDLERS[job.payload["task"]]
        try:
            result = handler(job.payload, job)
        except Exception as exc:
            status = queue.fail_job(job, error=exc)  # retried (PENDING) or dead-lettered (FAILED)
            done[f"failed -> {status.value}"] += 1
        else:
            queue.complete_job(job, result=result)
            done["completed"] += 1


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="queue-max-demo-") as tmp:
        return run(Path(tmp) / "data")


def run(data_dir: Path) -> int:
    print(f"queue-max demo: 4 shards in {data_dir}")
    with Queue(
        data_dir=data_dir,
        shards=4,
        rate_limit=0,          # no rate limiting in the demo (0 disables the limiter)
        max_retries=2,
        retry_backoff=0.2,     # retry after ~0.2s, then ~0.4s (default 120s, 240s, ...)
        retry_backoff_max=1.0,
        result_ttl=3600,       # keep results for an hour
    ) as queue:
        events: Counter[str] = Counter()
        for name in ("job_completed", "job_retried", "job_failed"):
            queue.on(name, lambda *args, name=name: events.update([name]))

        # ── enqueue ──
        welcome = queue.enqueue({"task": "send_email", "to": "ada@example.com"},
                                priority=JobPriority.HIGH)
        print(f"enqueued one job: id={welcome['id']} in shard {welcome['shard_id']}")

        batch = queue.enqueue_batch([{"payload": {"task": "resize_image", "image": f"img{i}.png"}}
                                     for i in range(20)])
        print(f"enqueued a batch of {batch['total']} jobs in one call")

        nightly = queue.enqueue({"task": "report", "day": "2024-06-01"}, delay=1.0)
        print(f"enqueued job {nightly['id']} to run in 1s; "
              f"scheduled now: {queue.get_stats()['scheduled']}")

        first = queue.enqueue({"task": "send_email", "to": "bob@example.com"}, dedupe_key="welcome:bob")
        again = queue.enqueue({"task": "send_email", "to": "bob@example.com"}, dedupe_key="welcome:bob")
        print(f"dedupe: the same key twice gives one job: {first['id']} == {again['id']} "
              f"-> {first['id'] == again['id']}")

        flaky = queue.enqueue({"task": "flaky_api", "url": "https://api.example.com"})
        card = queue.enqueue({"task": "charge_card", "card": "4000-0000-0000-0002"})
        sync = queue.enqueue({"task": "sync_inventory", "warehouse": "north"}, max_retries=1)

        # ── process with worker threads ──
        stop, done = threading.Event(), Counter[str]()
        threads = [threading.Thread(target=work, args=(queue, f"worker-{n}", stop, done))
                   for n in range(1, WORKERS + 1)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        drained = queue.wait_until_empty(timeout=20)
        stop.set()
        for thread in threads:
            thread.join()
        print(f"{WORKERS} worker threads drained the queue in {time.monotonic() - started:.2f}s "
              f"(drained={drained}): {dict(sorted(done.items()))}")

        # ── look at the results ──
        job = queue.get_job(welcome["id"])
        assert job is not None
        print(f"job {job.id}: status={job.status.value} result={job.result}")

        job = queue.get_job(nightly["id"])
        assert job is not None
        print(f"delayed job {job.id}: ran {job.claimed_at.timestamp() - job.enqueued_at.timestamp():.1f}s "
              f"after it was enqueued, result={job.result!r}")

        job = queue.get_job(flaky["id"])
        assert job is not None
        errors = [f"{error.type}: {error.message}" for error in job.errors]
        print(f"retried job {job.id}: status={job.status.value} after {job.attempts} attempts, "
              f"result={job.result!r}, earlier errors={errors}")

        for dead in queue.dlq_list():
            print(f"dead letter: job {dead.original_job_id} ({dead.error_type}: {dead.error}) "
                  f"after {dead.attempts} attempt(s)")
        for ref in (card, sync):
            job = queue.get_job(ref["id"])
            assert job is not None and job.is_failed

        stats = queue.get_stats()
        print("stats:")
        for key in ("pending", "processing", "completed", "failed", "dead_letter", "num_shards",
                    "circuit_state", "is_healthy"):
            print(f"  {key:<14} {stats[key]}")
        print(f"events: {dict(sorted(events.items()))}")

        ok = (drained and stats["completed"] == 24 and stats["dead_letter"] == 2
              and stats["pending"] == 0 and stats["processing"] == 0)
    print("demo finished OK" if ok else "demo finished with unexpected counts")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
