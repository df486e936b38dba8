"""The Queue's one maintenance schedule: recover expired leases, drop expired results, checkpoint."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._claims import Claims
from ._events import Emitter
from ._options import QueueOptions
from ._recovery import settle_dead_workers
from ._waiting import Waiting
from .models import ErrorInfo

if TYPE_CHECKING:
    from ._clock import Clock
    from .storage.base import Backend

__all__ = ["Maintenance"]

log = logging.getLogger("queue_max.queue")

LEASE_EXPIRED = ErrorInfo(
    "LeaseExpired",
    "the worker stopped heartbeating before its lease ran out (it died, hung or was stopped); "
    "the attempt was counted",
)


@dataclass(eq=False)
class Maintenance:
    """Run at most once per `recovery_interval` per Queue, whichever thread asks first: claims
    and every worker's keeper thread ask through `maintain`."""

    backend: Backend
    clock: Clock
    options: QueueOptions
    events: Emitter
    waiting: Waiting
    claims: Claims
    next_at: float = field(init=False)  # on the monotonic clock
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.next_at = self.clock.monotonic() + self.options.recovery_interval

    def recover_orphans(self) -> int:
        """Requeue jobs whose lease expired (their worker died); returns how many were recovered.

        The attempt counts: a job that keeps killing its worker reaches the dead-letter queue.
        First, a worker of this host found dead gets the jobs it held but never started (its
        scoreboard says which) released without an attempt charged, and the rest recovered now.
        """
        released = settle_dead_workers(self.backend, self.clock.time())
        report = self.backend.requeue_expired(self.clock.time(), LEASE_EXPIRED)
        if report.total:
            log.warning("recovered %d job%s with expired leases (%d requeued, %d dead-lettered)",
                        report.total, "" if report.total == 1 else "s", report.requeued, report.buried)
            self.events.emit("jobs_recovered", report.requeued, report.buried)
        if report.requeued + released:
            self.waiting.notify(report.requeued + released)
        return report.total

    def maintain(self) -> float:
        """Run maintenance if its `recovery_interval` has passed since it last ran (from any
        thread or worker); returns the seconds until it is due again. The queue owns this one
        schedule: claims and every worker's keeper thread ask here."""
        left = self.next_at - self.clock.monotonic()
        if left > 0:
            return left
        self.run_maintenance()
        return self.options.recovery_interval

    def run_maintenance(self) -> None:
        """Recover expired leases and drop expired results; throttled, safe from any thread."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self.next_at = self.clock.monotonic() + self.options.recovery_interval
            self.recover_orphans()
            now = self.clock.time()
            self.backend.cleanup(now, float("-inf"))
            # forget remembered claims whose lease ran out long ago (their workers gave up)
            self.claims.drop_expired(now - self.options.lease_timeout)
            self.backend.checkpoint()  # keeps the WAL small between the automatic checkpoints
        except Exception:
            log.exception("maintenance failed; it will run again in %.1fs", self.options.recovery_interval)
        finally:
            self._lock.release()
