"""The claims a Queue handed out and has not seen acknowledged, so callers may ack by job id."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._events import Emitter
from ._options import QueueOptions
from ._validate import check_count, check_unicode_id
from .errors import JobNotFound
from ._flow_limits import check_queue_list
from .flow import FlowGate
from .models import Job, Lease

if TYPE_CHECKING:
    from ._clock import Clock
    from ._maintenance import Maintenance

__all__ = ["Claiming", "Claims"]


class Claims:
    """Claimed jobs by id: the calling thread's own first, then any thread's (a claim may be
    acknowledged from another thread). Only the lease that was handed out is ever forgotten,
    never a newer claim of the same job."""

    def __init__(self) -> None:
        self._local = _Held()
        self.shared: dict[int, Job] = {}

    def remember(self, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        # two dict updates walked in C over one list of ids, instead of two stores a job in a
        # Python loop (see `forget_all` for what the claim + ack pair saves)
        ids = [job.id for job in jobs]
        self._local.jobs.update(zip(ids, jobs))
        self.shared.update(zip(ids, jobs))

    def remember_one(self, job: Job) -> None:
        """`remember` of one job (what `pop_job` claims): two dict stores, no list built."""
        self._local.jobs[job.id] = job
        self.shared[job.id] = job

    def find(self, job_id: int | Job, lease: Lease | None) -> tuple[int, Job | None, Lease | None]:
        """(id, the claimed job if remembered, the lease to use) for an ack of `job_id`."""
        if isinstance(job_id, Job):
            return job_id.id, job_id, lease or job_id.lease
        if type(job_id) is not int:
            raise JobNotFound(job_id, f"job_id must be an int or a Job, got {job_id!r}")
        job = self._local.jobs.get(job_id) or self.shared.get(job_id)
        if lease is None and job is not None:
            lease = job.lease
        return job_id, job, lease

    def forget(self, lease: Lease) -> None:
        """Drop the remembered claim of `lease` (not a newer claim of the same job)."""
        self.forget_all((lease,))

    def forget_all(self, leases: Iterable[Lease]) -> None:
        """`forget` each of `leases` (a grouped ack's) with one look-up of this thread's claims
        and no call a lease: with `remember`'s updates, instr.py claim_ack_1s --n 1000 went
        from 156.4k to 153.4k instructions a job
        (with `FlowGate.admit`'s test for a batch with nothing to take and `manager._sort_claimed`)."""
        held = self._local.jobs
        shared = self.shared
        for job_id, _shard, token, _worker in leases:
            job = held.get(job_id)
            if job is not None and job.lease_token == token:
                del held[job_id]
            job = shared.get(job_id)
            if job is not None and job.lease_token == token:
                shared.pop(job_id, None)

    def drop_expired(self, horizon: float) -> None:
        """Forget shared claims whose lease ran out before `horizon` (their workers gave up)."""
        shared = self.shared
        for job_id, job in list(shared.items()):
            if job.lease_expires_ts is not None and job.lease_expires_ts < horizon:
                shared.pop(job_id, None)


class _Held(threading.local):
    """One thread's claims by id. Made on the thread's first use (threading.local runs
    `__init__` once per thread), so a look-up is an attribute read, with no method call and
    no test for a missing dict (three a pop + complete)."""

    def __init__(self) -> None:
        self.jobs: dict[int, Job] = {}


@dataclass(eq=False)
class Claiming:
    """Handing jobs out (`queue.pop_job`, `queue.claim_jobs`): through the host-wide flow gate,
    after maintenance when it is due, each claim remembered for its acknowledgement."""

    clock: Clock
    options: QueueOptions
    flow: FlowGate
    events: Emitter
    claims: Claims
    maintenance: Maintenance
    _checked_worker: str | None = field(default=None, init=False)

    def pop_job(self, worker_id: str | None = None, queues: Sequence[str] | None = None) -> Job | None:
        """Lease the next ready job to `worker_id`, or return None (empty, paused, circuit
        open, or no rate-limit token within `rate_limiter_timeout`)."""
        if worker_id is None:
            worker_id = _default_worker()
        if queues is None:
            direct = self._pop_direct(worker_id)
            if direct is not None:
                return direct[0] if direct else None
        jobs = self.claim_jobs(worker_id, 1, queues=queues)
        deadline = self.clock.monotonic() + self.options.rate_limiter_timeout
        while not jobs and self.clock.monotonic() < deadline:
            pause = self.flow.held_back()
            if not self.flow.short_of_tokens():
                break
            threading.Event().wait(min(pause, max(0.0, deadline - self.clock.monotonic())))
            jobs = self.claim_jobs(worker_id, 1, queues=queues)
        return jobs[0] if jobs else None

    def _pop_direct(self, worker_id: str) -> list[Job] | None:
        """`pop_job` of any queue when nothing can hold a job back (`FlowGate.claim_one_plain`):
        the claim without the flow plan, the checks of `claim_jobs` already known to pass, and
        the one claim remembered in two dict stores. None: something can hold jobs back, claim
        through `claim_jobs`. instr.py pop_complete --n 1000: see docs/benchmarks.md."""
        if worker_id is not self._checked_worker:  # the same str as the last call's: checked then
            check_unicode_id("worker_id", worker_id)
            self._checked_worker = worker_id
        if self.clock.monotonic() >= self.maintenance.next_at:
            self.maintenance.run_maintenance()
        jobs = self.flow.claim_one_plain(worker_id)
        if jobs:
            job = jobs[0]
            self.claims.remember_one(job)
            if self.events.has("job_started"):
                self.events.emit("job_started", job.id, job.shard_id, worker_id)
        return jobs

    def claim_jobs(self, worker_id: str, limit: int, *, queues: Sequence[str] | None = None,
                   wait_for_tokens: bool = False) -> list[Job]:
        """Lease up to `limit` jobs at once (what workers use to prefetch), from `queues` in
        that order (None: every queue; see docs/queues.md for the order and its fairness).

        Paused queues are skipped, an open circuit skips its queue (one trial job host-wide
        when half-open), and rate-limit tokens and concurrency slots are taken in storage for
        the jobs actually claimed; jobs that found none are given back untouched.
        """
        check_unicode_id("worker_id", worker_id)
        check_count("limit", limit, 1, 10_000)
        names = check_queue_list(queues)
        if self.clock.monotonic() >= self.maintenance.next_at:
            self.maintenance.run_maintenance()
        jobs = self.flow.claim(worker_id, limit, names)
        self.claims.remember(jobs)
        if self.events.has("job_started"):
            for job in jobs:
                self.events.emit("job_started", job.id, job.shard_id, worker_id)
        return jobs


def _default_worker() -> str:
    return f"pid-{os.getpid()}-{threading.get_ident()}"

