"""The Queue's operator actions: pausing queues, cancelling jobs, dead letters, deleting old jobs."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._events import Emitter
from ._options import QueueOptions
from ._validate import check_job_ids, check_queue_filter, check_queue_name, check_seconds, check_status
from ._waiting import Waiting
from .errors import ConfigError
from .models import JobStatus

if TYPE_CHECKING:
    from ._clock import Clock
    from .storage.base import Backend

__all__ = ["Admin"]

log = logging.getLogger("queue_max.queue")


@dataclass(eq=False)
class Admin:
    """What an operator asks of a Queue (`queue.pause`, `queue.dlq_requeue`, ...): each call
    changes stored jobs or queue state, says how many it changed, and wakes idle workers when
    it made work claimable."""

    backend: Backend
    clock: Clock
    options: QueueOptions
    events: Emitter
    waiting: Waiting

    # ── pausing ──
    def pause(self, queue_name: str) -> bool:
        """Stop every worker of the host from claiming `queue_name` (running jobs finish, enqueues
        are still accepted) until `resume`; durable. False if it was already paused."""
        changed = self.backend.set_paused(check_queue_name(queue_name, ConfigError), True, self.clock.time())
        if changed:
            log.info("queue %r paused", queue_name)
            self.events.emit("queue_paused", queue_name, True)
        return changed

    def resume(self, queue_name: str) -> bool:
        """Let workers claim `queue_name` again; False if it was not paused."""
        changed = self.backend.set_paused(check_queue_name(queue_name, ConfigError), False, self.clock.time())
        if changed:
            log.info("queue %r resumed", queue_name)
            self.events.emit("queue_paused", queue_name, False)
            self.waiting.notify(1)
        return changed

    def paused_queues(self) -> list[str]:
        """The names of the paused queues, sorted."""
        return sorted(self.backend.claim_blocks()[0])

    # ── cancelling ──
    def cancel(self, job_id: int) -> bool:
        """Cancel a pending job (True); a running one is only marked, and its handler stops at its
        next `current_job().check()` (False, as for a finished job): `cancel_job` says which."""
        return self.cancel_job(job_id) == "cancelled"

    def cancel_job(self, job_id: int) -> str:
        """Cancel a job and say what happened: "cancelled" (it was waiting: it never runs),
        "requested" (it is running: marked, its handler stops at its next check), "finished"
        (it already ended: nothing changed) or "missing" (no such job, or it was cleaned up).
        `JobNotFound` for an id this queue could not hold."""
        now = self.clock.time()
        if self.backend.cancel(job_id, now):
            self.events.emit("job_cancelled", job_id, self.backend.shard_of(job_id))
            return "cancelled"
        if self.backend.request_cancel(job_id, now):
            return "requested"
        return "finished" if self.backend.get(job_id) is not None else "missing"

    # ── dead letters ──
    def dlq_requeue(self, job_ids: Iterable[int] | None = None, shard_id: int | None = None,
                    error_type: str | None = None, *, queue_name: str | None = None) -> int:
        """Give dead jobs fresh retries and make them pending again; returns how many."""
        moved = self.backend.dlq_requeue(self.clock.time(), job_ids, shard_id, error_type,
                                         queue_name=check_queue_filter(queue_name))
        if moved:
            self.waiting.notify(moved)
        return moved

    def retry_failed_jobs(self, shard_id: int | None = None) -> int:
        """Requeue every dead-lettered job (of one shard, or all) with fresh retries."""
        return self.dlq_requeue(shard_id=shard_id)

    def dlq_prune(self, older_than: float | None = None, shard_id: int | None = None, *,
                  error_type: str | None = None, job_ids: Iterable[int] | None = None,
                  queue_name: str | None = None) -> int:
        """Delete dead letters older than `older_than` seconds (all if None), only those of
        `error_type`, among `job_ids` and of `queue_name` when given; returns how many."""
        before = None
        if older_than is not None:
            before = self.clock.time() - check_seconds("older_than", older_than)
        if job_ids is not None:
            job_ids = check_job_ids(job_ids)
        return self.backend.dlq_prune(before, shard_id, error_type=error_type, job_ids=job_ids,
                                      queue_name=check_queue_filter(queue_name))

    # ── deleting ──
    def cleanup_old_jobs(self, days: float | None = None, *, queue_name: str | None = None) -> int:
        """Delete completed and cancelled jobs finished more than `days` ago, and expired results
        (of one named queue only, if `queue_name` is given)."""
        age = self.options.cleanup_days if days is None else check_seconds("days", days, unit="days")
        name = check_queue_filter(queue_name)
        now = self.clock.time()
        return self.backend.cleanup(now, now - age * 86400.0, queue_name=name)

    def purge_queue(self, status: str | JobStatus | None = None, *, queue_name: str | None = None) -> int:
        """Delete every job in `status` ("pending", "failed", ...), or everything if None; only
        the jobs of one named queue (and their dead letters) if `queue_name` is given."""
        wanted = check_status(status)
        return self.backend.purge(wanted, queue_name=check_queue_filter(queue_name))
