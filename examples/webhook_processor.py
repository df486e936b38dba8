"""Deliver webhooks with `requests`: retries for 500 and 429, the dead-letter queue for a 404.

The example starts its own webhook receiver on 127.0.0.1 (a free port), so it needs nothing
else. The receiver answers each delivery by its path:

    /hooks/ok          200 at once
    /hooks/flaky       500 twice, then 200          -> retried with backoff, delivered
    /hooks/throttled   429 (Retry-After: 1), then 200 -> retried after the delay it asked for
    /hooks/gone        404 every time                -> permanent: straight to the dead letters

A `Worker` with four threads sends them with `requests.post(...).raise_for_status()`; the queue
classifies the `requests.HTTPError` by status (4xx other than 429 is permanent). Needs
`pip install queue-max[webhook]`; runs in about two seconds:

    python examples/webhook_processor.py
"""

from __future__ import annotations

import http.server
import json
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

try:
    import queue_max  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import requests

from queue_max import Queue, Retry
from queue_max.workers import Worker


# ── the webhook receiver the deliveries go to ──
class Receiver(http.server.ThreadingHTTPServer):
    """A local HTTP server that fails some deliveries on purpose, and counts every hit."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)  # port 0: any free port
        self.hits: Counter[str] = Counter()
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.hits[self.path] += 1
            hit = self.server.hits[self.path]
        if self.path == "/hooks/flaky" and hit <= 2:
            self.answer(500, {"error": "database hiccup"})
        elif self.path == "/hooks/throttled" and hit == 1:
            self.answer(429, {"error": "slow down"}, {"Retry-After": "1"})
        elif self.path == "/hooks/gone":
            self.answer(404, {"error": "no such endpoint"})
        else:
            with self.server.lock:
                self.server.received.append(body)
            self.answer(200, {"ok": True})

    def answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the example's output readable


# ── the job: one webhook delivery ──
def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    """POST the event to its URL. Raising is how a job fails; the queue decides about retries."""
    response = requests.post(payload["url"], json=payload["event"], timeout=5)
    if response.status_code == 429:
        # Honour the receiver's Retry-After instead of the exponential backoff.
        raise Retry(delay=float(response.headers.get("Retry-After", "1")), message="429 Too Many Requests")
    response.raise_for_status()  # 5xx: retried; 4xx: permanent, dead-lettered at once
    return {"status": response.status_code}


def main() -> int:
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, name="receiver", daemon=True).start()
    print(f"webhook receiver listening on {receiver.url}")

    with tempfile.TemporaryDirectory() as data_dir, \
            Queue(shards=2, data_dir=data_dir, rate_limit=0, max_retries=3,
                  retry_backoff=0.05, retry_backoff_max=0.5) as queue:
        # Print each failed attempt as it happens (these callbacks run on the worker threads).
        queue.on("job_retried", lambda job_id, shard, error: print(f"  job {job_id}: failed, will retry: {error}"))
        queue.on("job_failed", lambda job_id, shard, error: print(f"  job {job_id}: dead-lettered: {error}"))

        jobs = {}
        for name in ("ok", "flaky", "throttled", "gone"):
            event = {"type": "order.paid", "order": f"order-{name}"}
            jobs[name] = queue.enqueue({"url": f"{receiver.url}/hooks/{name}", "event": event})["id"]
        print(f"enqueued {len(jobs)} webhook deliveries")

        worker = Worker("webhooks", deliver, queue, concurrency=4, poll_interval=0.05)
        worker.start()
        finished = queue.wait_until_empty(timeout=30)
        worker.stop()
        receiver.shutdown()

        print("\nresults:")
        outcome = {}
        for name, job_id in jobs.items():
            job = queue.get_job(job_id)
            assert job is not None
            outcome[name] = (job.status.value, job.attempts)
            print(f"  /hooks/{name:<10} job {job_id}: {job.status.value} after {job.attempts} "
                  f"attempt(s); receiver hit {receiver.hits[f'/hooks/{name}']} time(s)")
        print("\ndead-letter queue:")
        dead = queue.dlq_list()
        for entry in dead:
            print(f"  job {entry.original_job_id}: {entry.error_type}: {entry.error}")
        print(f"\nworker: {worker.get_stats()['processed']} delivered, {worker.get_stats()['retried']} "
              f"retried attempts, {worker.get_stats()['failed']} dead-lettered")

        expected = {"ok": ("completed", 1), "flaky": ("completed", 3),
                    "throttled": ("completed", 2), "gone": ("failed", 1)}
        ok = finished and outcome == expected and [e.original_job_id for e in dead] == [jobs["gone"]]
        print("webhook example finished OK" if ok else f"unexpected outcome: {outcome}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
