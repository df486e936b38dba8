"""The Queue's worker side after a claim: complete, fail, release, extend, report progress and presence."""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._claims import Claims
from ._events import Emitter
from ._options import QueueOptions
from ._payload import encode_value
from ._recovery import settle_worker
from .errors import ConfigError, JobNotFound, LeaseLost, StoppedOnCancel
from ._validate import check_presences, check_progress, check_seconds
from .models import ErrorInfo, Job, JobProgress, JobStatus, Lease, WorkerPresence
from .retry import RetryPolicy, decide, error_info

if TYPE_CHECKING:
    from ._clock import Clock
    from .flow import FlowGate
    from .storage.base import Backend

__all__ = ["Acks"]


@dataclass(eq=False)
class Acks:
    """Acknowledgements of claimed jobs (`queue.complete_job` and its kin). Each takes a job
    id (a claim this Queue remembers), a `Job`, or a `lease=`, and is fenced by the lease:
    `LeaseLost` means nothing changed because another worker may own the job now."""

    backend: Backend
    clock: Clock
    options: QueueOptions
    flow: FlowGate
    events: Emitter
    claims: Claims
    retry_policy: RetryPolicy

    def _claimed(self, job_id: int | Job, shard_id: int | None,
                 lease: Lease | None) -> tuple[int, Job | None, Lease]:
        job_id, job, lease = self.claims.find(job_id, lease)
        # a remembered claim names its shard: the backend's check of the id runs for the others
        if shard_id is not None and (job is None or job.shard_id != shard_id) \
                and self.backend.shard_of(job_id) != shard_id:
            raise JobNotFound(job_id, f"job {job_id} lives in shard {self.backend.shard_of(job_id)}, "
                                      f"not shard {shard_id}")
        if lease is None:
            if self.backend.get(job_id) is None:
                raise JobNotFound(job_id)
            raise LeaseLost(job_id, f"job {job_id}: this Queue holds no lease for it (it was not claimed "
                                    "through this Queue, or its lease was already used); pass lease=job.lease")
        return job_id, job, lease

    def complete_job(
        self, job_id: int | Job, shard_id: int | None = None, result: Any = None, *, lease: Lease | None = None
    ) -> bool:
        """Mark a claimed job completed (its result is kept for `result_ttl`); returns True.

        Raises `LeaseLost` (nothing changed) if this worker's lease is no longer current,
        and `JobNotFound` if the job does not exist.
        """
        job: Job | None
        if shard_id is None and isinstance(job_id, Job):
            # a worker's call with the claimed Job itself: what _claimed answers, without its calls
            job = job_id
            job_id = job.id
            lease = lease or job.lease
        else:
            job_id, job, lease = self._claimed(job_id, shard_id, lease)
        encoded = None if result is None else encode_value(result, "result")
        lost = self.backend.complete_many(((lease, encoded),), self.clock.time(), self.options.result_ttl)
        self.claims.forget_all((lease,))
        if lost:
            self.flow.free([job] if job is not None else [])
            raise LeaseLost(job_id)
        if job is not None:
            self.flow.finished([job], succeeded=True)
        self.events.emit("job_completed", job_id, lease.shard_id)
        return True

    def complete_jobs(self, results: Sequence[tuple[Job, Any]]) -> list[int]:
        """Complete many claimed jobs in one transaction per shard (grouped acks).

        `results` holds (job, result) pairs; returns the ids whose lease was lost (nothing
        changed for those). A crash before this returns loses no job: the jobs are still
        leased and come back after their lease expires.
        """
        if not results:
            return []
        jobs = [job for job, _result in results]
        leases = _leases_of(jobs)  # built once: a Lease per job per call
        encoded = [(lease, None if result is None else encode_value(result, "result"))
                   for lease, (_job, result) in zip(leases, results)]
        lost = {lease.job_id for lease in
                self.backend.complete_many(encoded, self.clock.time(), self.options.result_ttl)}
        emit = self.events.has("job_completed")
        done = [job for job in jobs if job.id not in lost] if lost else jobs
        if lost:
            self.flow.free(jobs)  # the lost jobs' slots too; `finished` frees the done jobs'
        self.flow.finished(done, succeeded=True)
        self.claims.forget_all(leases)
        if emit:
            for job in done:
                self.events.emit("job_completed", job.id, job.shard_id)
        return sorted(lost)

    def fail_job(
        self,
        job_id: int | Job,
        shard_id: int | None = None,
        error: str | BaseException | None = None,
        permanent: bool = False,
        *,
        lease: Lease | None = None,
        retry_delay: float | None = None,
        retry_on: Any = None,
        policy: RetryPolicy | None = None,
    ) -> JobStatus:
        """Record a failed attempt: retry later (returns PENDING) or dead-letter (returns FAILED).

        An exception `error` is classified by type (4xx HTTP errors other than 429 and
        `Permanent` are not retried); `permanent=True` skips the retries. `retry_delay` overrides
        the backoff for this failure, `policy` (a task's own) the queue's; see `retry.decide`.
        """
        job_id, job, lease = self._claimed(job_id, shard_id, lease)
        if job is None:
            job = self.backend.get(job_id)
            if job is None:
                raise JobNotFound(job_id)
        delay = None if retry_delay is None else check_seconds("retry_delay", retry_delay)
        if isinstance(error, StoppedOnCancel):
            return self._cancel_running(job, lease)
        info, decision = _classify(job, error, permanent, retry_on, policy or self.retry_policy, delay)
        now = self.clock.time()
        try:
            if decision is not None:
                self.backend.retry(lease, now + decision, info, now)
            else:
                self.backend.bury(lease, info, now)
        except LeaseLost:
            self.claims.forget(lease)
            self.flow.free([job])
            raise
        # a storage error above keeps the claim remembered, so the caller can retry the call
        self.claims.forget(lease)
        self.flow.finished([job], succeeded=False)
        event = "job_retried" if decision is not None else "job_failed"
        self.events.emit(event, job_id, lease.shard_id, info.message)
        return JobStatus.PENDING if decision is not None else JobStatus.FAILED

    def _cancel_running(self, job: Job, lease: Lease) -> JobStatus:
        """The handler stopped because `cancel` was asked while it ran: the job ends cancelled."""
        try:
            self.backend.cancel_running(lease, self.clock.time())
        finally:
            self.claims.forget(lease)
            self.flow.free([job])
        self.events.emit("job_cancelled", job.id, lease.shard_id)
        return JobStatus.CANCELLED

    def release_job(self, job_id: int | Job, *, lease: Lease | None = None) -> bool:
        """Give a claimed job back untouched (not counted as an attempt); False if the lease was lost."""
        job_id, job, lease = self._claimed(job_id, None, lease)
        lost = self.backend.release([lease], self.clock.time())
        self.claims.forget(lease)
        if job is not None:
            self.flow.free([job])
        if not lost:
            self.events.emit("job_released", job_id, lease.shard_id)
        return not lost

    def set_progress(self, job: Job, fraction: object, message: object = None) -> JobProgress:
        """Store a running job's progress; `InvalidProgress` for a bad value (nothing stored),
        `LeaseLost` if this worker no longer holds the job."""
        progress = check_progress(fraction, message)
        self.backend.set_progress(job.lease, progress.fraction, progress.message)
        return progress

    # ── leases ──
    def extend_lease(self, job: Job | Lease, seconds: float | None = None) -> bool:
        """Keep a long job's lease alive for `seconds` more (default: the lease timeout)."""
        lease = job.lease if isinstance(job, Job) else job
        until = self._until(seconds)
        self.flow.extend([lease.job_id], until)
        return not self.backend.extend([lease], until)

    def extend_leases(self, leases: Sequence[Lease], seconds: float | None = None) -> list[Lease]:
        """Keep many leases alive for `seconds` more (default: the lease timeout), in one call;
        returns the leases that were lost (another worker may own those jobs now)."""
        until = self._until(seconds)
        self.flow.extend([lease.job_id for lease in leases], until)  # running jobs keep their slots
        return self.backend.extend(leases, until)

    def _until(self, seconds: float | None) -> float:
        span = self.options.lease_timeout if seconds is None else check_seconds("seconds", seconds, positive=True)
        return self.clock.time() + span

    def expire_leases(self, worker_id: str) -> int:
        """End every lease `worker_id` holds now (its process is known to be dead), so that the
        next `recover_orphans` requeues those jobs, the attempt counted; returns how many.

        If the worker left its scoreboard on this host and its process is gone, the jobs it held
        but never started are released first, without an attempt charged."""
        if type(worker_id) is not str or not worker_id:
            raise ConfigError(f"worker_id must be a non-empty str, got {worker_id!r}")
        settle_worker(self.backend, self.clock.time(), worker_id)
        return self.backend.expire_leases(worker_id, self.clock.time())

    def heartbeat(self, shard_id: int | None = None, worker_id: str | None = None) -> int:
        """Extend every lease `worker_id` holds (in one shard or all); returns how many."""
        if worker_id is None:
            raise ConfigError("heartbeat needs the worker_id whose leases to extend")
        return self.backend.heartbeat(worker_id, self.clock.time() + self.options.lease_timeout, shard_id)

    def report_workers(self, workers: Sequence[WorkerPresence]) -> None:
        """Record that these workers are alive (what a worker does at start and every heartbeat)."""
        self.backend.put_workers(check_presences(workers))

    def withdraw_workers(self, workers: Sequence[WorkerPresence]) -> None:
        """Remove these workers' records (what a worker does when it stops)."""
        self.backend.drop_workers(check_presences(workers))


# (id, shard, token, worker) of a Job, and a Lease made of such a tuple, both in C
_LEASE_FIELDS = operator.attrgetter("id", "shard_id", "lease_token", "worker_id")
_new_lease = functools.partial(tuple.__new__, Lease)


def _leases_of(jobs: Sequence[Job]) -> list[Lease]:
    """The leases of claimed jobs (what `Job.lease` gives), built in C by map: no property
    call and no NamedTuple-generated `__new__` a job. instr.py claim_ack_1s --n 1000:
    150.3k -> 148.6k instructions a job (claim_ack, six shards: 151.5k -> 150.0k)."""
    return list(map(_new_lease, map(_LEASE_FIELDS, jobs)))


def _classify(job: Job, error: object, permanent: bool, retry_on: Any, policy: RetryPolicy,
              delay: float | None) -> tuple[ErrorInfo, float | None]:
    """The stored error, and the retry delay (None = dead-letter now)."""
    if isinstance(error, BaseException):
        info = ErrorInfo(*error_info(error))
        exc: BaseException = error
    else:
        info = ErrorInfo("Error", "" if error is None else str(error))
        exc = RuntimeError(info.message)
    if permanent:
        return info, None
    verdict = decide(exc, max(1, job.tentativas), max(1, job.max_tentativas), policy,
                     retry_on=None if exc is not error else retry_on, delay=delay)
    return info, (verdict.delay if verdict.retry else None)

