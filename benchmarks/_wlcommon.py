"""Helpers shared by the workload scripts: loading the public API, queue set-up, clocks, statistics.

Everything here uses only the public API that queue-max 0.1.1 and this project share, so the same
code measures both implementations.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "HIGH_RATE",
    "WorkloadError",
    "load_api",
    "open_queue",
    "percentile",
    "prefill",
    "queue_idle",
    "rate",
    "running",
    "timed_loop",
    "unlimited_rate",
    "wait_until",
]

# Requests per minute: high enough that the token bucket never throttles.  Not 0: the reference
# reads 0 as "use the default" (160 per minute).
HIGH_RATE = 10**9


class WorkloadError(Exception):
    """An expected failure (API missing, queue never drained); reported as a JSON error line."""


def load_api(*names: str) -> tuple[Any, ...]:
    """Import ``queue_max`` from whatever is on the path and return the named public objects."""
    try:
        import queue_max
    except ImportError as exc:
        raise WorkloadError(f"cannot import queue_max: {exc}") from exc
    missing = [name for name in names if not hasattr(queue_max, name)]
    if missing:
        raise WorkloadError(f"queue_max has no {', '.join(missing)} yet")
    return tuple(getattr(queue_max, name) for name in names)


def unlimited_rate() -> int:
    """The `rate_limit` meaning "no limit" on the side under test: 0 for this project (a
    configured limit, however high, costs a token write per claim batch), HIGH_RATE for the
    0.1.1 reference, which reads 0 as 160 per minute."""
    import queue_max

    return HIGH_RATE if str(getattr(queue_max, "__version__", "")).startswith("0.1") else 0


def open_queue(data_dir: Path, shards: int) -> Any:
    """A queue on a fresh directory with no rate limit (one that never throttles on 0.1.1)."""
    (queue_cls,) = load_api("Queue")
    data_dir.mkdir(parents=True, exist_ok=True)
    return queue_cls(shards=shards, rate_limit=unlimited_rate(), data_dir=str(data_dir))


def prefill(queue: Any, n: int, start: int = 0, chunk: int = 100_000) -> None:
    """Enqueue payloads ``{"i": start}`` .. ``{"i": start + n - 1}`` with ``enqueue_batch``."""
    for lo in range(start, start + n, chunk):
        hi = min(lo + chunk, start + n)
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(lo, hi)])


def timed_loop(step: Callable[[int], bool | None], n: int, cap: float) -> tuple[int, float]:
    """Call ``step(k)`` up to n times or until ``cap`` seconds; stop early if it returns False.

    Returns (steps completed, seconds spent).
    """
    done = 0
    t0 = time.perf_counter()
    deadline = t0 + cap
    while done < n:
        if step(done) is False:
            break
        done += 1
        if time.perf_counter() >= deadline:
            break
    return done, time.perf_counter() - t0


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; return whether it held."""
    deadline = time.perf_counter() + timeout
    while True:
        if predicate():
            return True
        if time.perf_counter() >= deadline:
            return False
        time.sleep(interval)


def queue_idle(queue: Any) -> bool:
    """True once no job is pending or processing, according to ``get_stats()``."""
    try:
        stats = queue.get_stats()
    except Exception:  # a busy shard while workers write; ask again at the next poll
        return False
    return int(stats.get("pending", 1)) + int(stats.get("processing", 1)) == 0


@contextlib.contextmanager
def running(workers: list[Any], timeout: float = 10.0) -> Iterator[None]:
    """Start the workers; stop them on the way out, whatever happened in between."""
    try:
        for worker in workers:
            worker.start()
        yield
    finally:
        for worker in workers:
            worker.stop(timeout)


def rate(done: int, seconds: float) -> float:
    return done / seconds if seconds > 0 else 0.0


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
