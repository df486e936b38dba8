"""One read of the queue's stored state, shared by `stats`, `health` and `metrics`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..models import Job, JobStatus
from ..queue import Queue
from ._output import stamp

__all__ = ["COUNT_KEYS", "Snapshot", "add_queue_backlogs", "routed_task_circuits", "take_snapshot"]

# per status, as `Backend.counts` names them; `pending` includes `scheduled` (not due yet)
COUNT_KEYS = ("pending", "scheduled", "processing", "completed", "failed", "cancelled", "dead_letter")
_MOST_PROCESSING = 1_000_000


@dataclass
class Snapshot:
    """Counts per shard, lifetime totals, the backlog's age and the expired leases, at `now`."""

    now: float
    data_dir: str
    shards: list[dict[str, Any]]
    oldest_ready_run_at: float | None
    expired_leases: list[Job] = field(default_factory=list)
    # per named queue: counts, paused, circuit state and limits (Queue.queue_stats)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the one named queue the snapshot was narrowed to (None: every queue)
    queue_name: str | None = None
    # per task with its own breaker: its state, failures and the queues its jobs go to (Queue.task_circuits
    # plus "queues"); narrowed to the tasks routed to `queue_name` if set
    task_circuits: dict[str, dict[str, Any]] = field(default_factory=dict)

    def total(self, key: str) -> int:
        return sum(int(shard.get(key) or 0) for shard in self.shards)

    @property
    def ready(self) -> int:
        """Jobs that could be claimed now (pending and due)."""
        return self.total("pending") - self.total("scheduled")

    @property
    def oldest_ready_age(self) -> float | None:
        """Seconds the oldest claimable job has been due; None when nothing is ready."""
        if self.oldest_ready_run_at is None:
            return None
        return max(0.0, self.now - self.oldest_ready_run_at)

    def as_dict(self) -> dict[str, Any]:
        """The `stats --json` shape."""
        data: dict[str, Any] = {"data_dir": self.data_dir, "num_shards": len(self.shards)}
        data.update({key: self.total(key) for key in COUNT_KEYS})
        data["ready"] = self.ready
        data["total_jobs_processed"] = self.total("total_jobs_processed")
        data["total_jobs_failed"] = self.total("total_jobs_failed")
        data["oldest_ready_age_seconds"] = self.oldest_ready_age
        data["expired_leases"] = len(self.expired_leases)
        data["shards"] = self.shards
        data["queues"] = self.queues
        data["task_circuits"] = self.task_circuits
        return data


def _shard_stats(queue: Queue, shard_id: int) -> dict[str, Any]:
    raw = queue.shard_stats(shard_id)
    stats = {key: raw.get(key) for key in ("shard_id", "path", *COUNT_KEYS,
                                              "total_jobs_processed", "total_jobs_failed",
                                              "version", "created_at", "last_vacuum")}
    for key in ("created_at", "last_vacuum"):
        if isinstance(stats[key], (int, float)):
            stats[key] = stamp(stats[key])
    return stats


def take_snapshot(queue: Queue, shard_id: int | None = None, queue_name: str | None = None) -> Snapshot:
    """Read the stored state of every shard (or one); of one named queue's jobs if `queue_name`
    is given (per-shard counts only then: the lifetime totals and file details are per shard)."""
    now = time.time()
    ids = range(queue.num_shards) if shard_id is None else [shard_id]
    if queue_name is None:
        shards = [_shard_stats(queue, sid) for sid in ids]
    else:
        shards = [{"shard_id": sid, **queue.counts(sid, queue_name=queue_name)} for sid in ids]
    processing = queue.list_jobs(JobStatus.PROCESSING, _MOST_PROCESSING, shard_id=shard_id, queue_name=queue_name)
    expired = [job for job in processing
               if job.lease_expires_ts is not None and job.lease_expires_ts < now]
    queues = queue.queue_stats()
    if queue_name is not None:
        queues = {name: figures for name, figures in queues.items() if name == queue_name}
    return Snapshot(
        now=now,
        data_dir=queue.location,
        shards=shards,
        oldest_ready_run_at=queue.oldest_ready(queue_name=queue_name) if shard_id is None else None,
        expired_leases=expired,
        queues=queues,
        queue_name=queue_name,
        task_circuits=routed_task_circuits(queue, queue_name),
    )


def routed_task_circuits(queue: Queue, queue_name: str | None = None) -> dict[str, dict[str, Any]]:
    """`Queue.task_circuits()`, each with `"queues"`: the named queues its jobs were sent to, read
    from the stored event totals (every enqueue and attempt counts its queue and task), so the
    CLI need not import the task; only the tasks routed to `queue_name` if it is given."""
    circuits = queue.task_circuits()
    if not circuits:
        return circuits  # no task has a breaker: the event totals are not read
    routes: dict[str, set[str]] = {name: set() for name in circuits}
    for row in queue.event_metrics():
        if row.task in routes:
            routes[row.task].add(row.queue)
    return {name: {**figures, "queues": sorted(routes[name])} for name, figures in circuits.items()
            if queue_name is None or queue_name in routes[name]}


def add_queue_backlogs(queue: Queue, snap: Snapshot) -> None:
    """Add each named queue's `ready`, `oldest_ready_age_seconds`, `dead_letter` and
    `expired_leases` to `snap.queues` (a read per queue: `metrics` shows them, `stats` does not)."""
    for name, figures in snap.queues.items():
        oldest = queue.oldest_ready(queue_name=name)
        figures["ready"] = int(figures.get("pending", 0)) - int(figures.get("scheduled", 0))
        figures["oldest_ready_age_seconds"] = None if oldest is None else max(0.0, snap.now - oldest)
        figures["dead_letter"] = queue.dlq_count(queue_name=name)
        figures["expired_leases"] = sum(job.queue_name == name for job in snap.expired_leases)
