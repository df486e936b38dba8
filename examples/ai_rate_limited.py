"""Call a (fake) AI API at most 120 times a minute, and back off while it is down.

The queue's token bucket paces how fast workers *claim* jobs: it starts full (a burst of 120
calls), then refills at 2 tokens a second, so the calls past the burst go out ~0.5 s apart,
however many worker threads there are. A short outage of the API (503 "overloaded") part-way
through opens the circuit breaker after 3 failures in a row: workers stop claiming for half a
second, then the breaker lets a trial through and closes again; the failed calls are retried,
and as every call spends a token, the last ones wait for the bucket to refill.

Every prompt is a `@task` call (`summarize.map(...)`), run by a 4-thread `Worker`; the results
come back through the task handles. Runs in about three seconds:

    python examples/ai_rate_limited.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

try:
    import queue_max  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from queue_max import Queue
from queue_max.tasks import set_default_queue, task
from queue_max.workers import Worker

RATE_PER_MINUTE = 120
PROMPTS = 120  # as many as the burst; the calls retried after the outage wait for the refill


class Overloaded(ConnectionError):
    """503 from the API: retryable (a ConnectionError), and it counts against the breaker."""


class FakeAI:
    """Stands in for an LLM API: 5 ms per call, and an outage of `outage_s` seconds that begins
    at call number `outage_at`. Records when each call arrived."""

    def __init__(self, outage_at: int = 30, outage_s: float = 0.2) -> None:
        self.calls: list[float] = []
        self.failures = 0
        self._outage_at = outage_at
        self._outage_s = outage_s
        self._outage_ends = 0.0
        self._lock = threading.Lock()

    def complete(self, prompt: str) -> str:
        now = time.monotonic()
        with self._lock:
            self.calls.append(now)
            if len(self.calls) == self._outage_at:
                self._outage_ends = now + self._outage_s
            down = now < self._outage_ends
            self.failures += down
        time.sleep(0.005)
        if down:
            raise Overloaded("503 Service Unavailable: model overloaded")
        return f"a short summary of {prompt!r}"


api = FakeAI()


@task(name="examples.ai.summarize", max_retries=5)
def summarize(doc_id: int) -> dict[str, Any]:
    return {"doc": doc_id, "summary": api.complete(f"document #{doc_id}")}


def watch_circuit(queue: Queue, stop: threading.Event, started: float, opened: list[float]) -> None:
    """Print each change of the breaker's state, which every process of the host shares (this
    thread polls it; nothing here is needed for the queue to work)."""
    last = queue.circuit_breaker.state.value
    while not stop.wait(0.01):
        state = queue.circuit_breaker.state.value
        if state != last:
            print(f"  {time.monotonic() - started:5.2f}s  circuit {last} -> {state}")
            if state == "open":
                opened.append(time.monotonic())
            last = state


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir, \
            Queue(shards=2, data_dir=data_dir, rate_limit=RATE_PER_MINUTE, circuit_breaker_threshold=3,
                  circuit_breaker_timeout=0.5, retry_backoff=0.05, retry_backoff_max=0.2) as queue:
        set_default_queue(queue)
        limiter = queue.rate_limiter
        assert limiter is not None
        print(f"rate limit {limiter.rate_limit}/min: a burst of {limiter.capacity:.0f} calls, then one "
              f"every {60 / limiter.rate_limit:.2f}s")

        handles = summarize.map(range(PROMPTS))  # one batch insert
        print(f"enqueued {len(handles)} prompts")

        # prefetch=1: a thread claims (and spends a token for) only the job it is about to run
        worker = Worker("ai", queue=queue, concurrency=4, prefetch=1, poll_interval=0.05)
        started = time.monotonic()
        stop = threading.Event()
        opened: list[float] = []
        watcher = threading.Thread(target=watch_circuit, args=(queue, stop, started, opened))
        watcher.start()
        worker.start()
        try:
            results = [handle.get(timeout=60) for handle in handles]
        finally:
            stop.set()
            watcher.join()
            worker.stop()
        elapsed = time.monotonic() - started

        burst = int(limiter.capacity)
        calls = [t - started for t in api.calls]
        paced = calls[burst:]
        gaps = [b - a for a, b in zip(calls[burst - 1:], paced)]
        print(f"\n{len(results)} prompts answered in {elapsed:.1f}s with {len(calls)} API calls "
              f"({api.failures} failed during the outage and were retried)")
        print(f"  the first {burst} calls went out within {calls[burst - 1]:.2f}s (the burst)")
        if gaps:
            print(f"  the other {len(paced)} were paced: {statistics.median(gaps):.2f}s apart (median)")
        breaker = queue.circuit_breaker.get_stats()
        print(f"circuit breaker: opened {len(opened)} time(s), now {breaker['state']}")
        print(f"rate limiter: {limiter.get_remaining_tokens():.2f} tokens left")
        print(f"e.g. {results[0]}")

        set_default_queue(None)
        ok = (len(results) == PROMPTS and all(r["summary"].startswith("a short summary") for r in results)
              and len(opened) >= 1 and breaker["state"] == "closed"
              and bool(gaps) and 0.25 <= statistics.median(gaps) <= 2.0)
        print("AI rate-limit example finished OK" if ok else "unexpected outcome")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
