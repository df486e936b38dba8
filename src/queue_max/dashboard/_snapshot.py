"""The overview's figures as a snapshot refreshed in the background (stale-while-revalidate).

Counting a million jobs by status takes longer than a page may: pages read the latest snapshot
at once, and a request that finds it out of date (storage changed and it is a second old, or it
is `max_age` old) starts one refresh in a background thread. Only the very first request of a
dashboard waits for a count. The page says when its figures were taken."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..models import Job, JobStatus, WorkerPresence

if TYPE_CHECKING:
    from ._app import Dashboard

__all__ = ["MOST_RUNNING", "Snapshot", "Snapshots"]

log = logging.getLogger("queue_max.dashboard")

MOST_RUNNING = 10_000
_DAY = 86400.0


@dataclass(frozen=True)
class Snapshot:
    """Everything the overview, queues, workers and /metrics pages show about the whole queue."""

    taken: float
    generation: int
    per_shard: list[dict[str, int]]
    counts: dict[str, int]
    oldest_ready_age: float | None
    running: list[Job]
    history: list[tuple[float, int, int]]  # (minute, completed, failed) over the last day
    queues: dict[str, dict[str, Any]]  # Queue.queue_stats(): per named queue
    workers: list[WorkerPresence]  # Queue.workers(): the worker registry, idle workers too

    @property
    def ready(self) -> int:
        return self.counts["pending"] - self.counts["scheduled"]


class Snapshots:
    """The latest snapshot of one dashboard, and its refresh."""

    def __init__(self, dashboard: Dashboard, max_age: float = 5.0, min_age: float = 1.0) -> None:
        self.dashboard = dashboard
        self.max_age = max_age
        self.min_age = min_age
        self.version = 0
        self._current: Snapshot | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    def take(self) -> Snapshot:
        d = self.dashboard
        queue = d.queue
        generation = d.generation()
        now = queue.clock.time()
        per_shard = [queue.counts(shard_id) for shard_id in range(queue.num_shards)]
        counts = {key: sum(shard[key] for shard in per_shard) for key in per_shard[0]}
        return Snapshot(taken=now, generation=generation, per_shard=per_shard, counts=counts,
                        oldest_ready_age=queue.oldest_ready_age(),
                        running=queue.list_jobs(JobStatus.PROCESSING, MOST_RUNNING),
                        history=d.throughput(now - _DAY, now + 60), queues=queue.queue_stats(),
                        workers=queue.workers())

    def get(self) -> Snapshot:
        current = self._current
        if current is None:
            with self._lock:
                if self._current is None:
                    self._install(self.take())
                current = self._current
            assert current is not None
            return current
        if self._stale(current):
            self._refresh_in_background()
        return current

    def _stale(self, snap: Snapshot) -> bool:
        age = self.dashboard.queue.clock.time() - snap.taken
        return age >= self.max_age or (age >= self.min_age and self.dashboard.generation() != snap.generation)

    def refresh_now(self) -> None:
        """Take a new snapshot at once (after the dashboard changed something it shows)."""
        self._install(self.take())

    def _install(self, snap: Snapshot) -> None:
        self._current = snap
        self.version += 1

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self._refresh, name="queue-max-dashboard-snapshot", daemon=True).start()

    def _refresh(self) -> None:
        try:
            self._install(self.take())
        except Exception:  # the next request tries again; the page keeps the last figures
            log.warning("refreshing the dashboard's figures failed", exc_info=True)
        finally:
            with self._lock:
                self._refreshing = False
