"""Host-wide flow control of named queues: limits, pause, breakers, and the claim plan."""

from __future__ import annotations

import itertools
import logging
import operator
import threading
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ._clock import Clock
from ._events import Emitter
from ._flow_limits import TASK_BREAKERS, TASK_LIMITS, Policy, QueueLimits, TaskLimits, breaker_scope, task_of, task_scope
from .models import BreakerView, Job
from .storage.base import Backend

# what flow control is configured with (queue and task limits, task breakers, scopes) lives in
# _flow_limits; this module holds the gate that applies it around claims and acks
__all__ = ["FLOW_REFRESH", "KEY_RETRY", "ROTATE_EVERY", "FlowGate"]

log = logging.getLogger("queue_max.flow")

# A worker that lists several queues starts every ROTATE_EVERY-th claim batch from a later
# queue, so a busy first queue delays the others but never starves them.
ROTATE_EVERY = 8
# A job whose concurrency key is busy waits this long out of the run order before it is tried again.
KEY_RETRY = 0.5
# Claims and acks reuse one read of paused queues and breakers while the backend's flow_token
# stays put, and re-read it at least this often (seconds) whatever the token says: the bound
# on how late a change is seen should a writer die between its commit and its token bump.
FLOW_REFRESH = 1.0

# a queue with no limits of its own (see FlowGate.policy)
_NO_LIMITS = QueueLimits()


class _Blocks(NamedTuple):
    """One read of `claim_blocks`, with the flow token seen just before it and when it was made."""

    token: object
    at: float
    paused: frozenset[str]
    breakers: dict[str, BreakerView]


class FlowGate:
    """What one Queue does around a claim: skip paused and broken queues, take tokens and
    slots host-wide, hand back what it could not use, and record breaker outcomes."""

    def __init__(self, backend: Backend, clock: Clock, *, rate_limit: int, burst: int | None,
                 limits: Mapping[str, QueueLimits], threshold: int, recovery_s: float, lease_s: float,
                 events: Emitter | None = None) -> None:
        self.backend = backend
        self.events = events if events is not None else Emitter()
        self.clock = clock
        self.rate_limit = rate_limit
        self.burst = burst
        self.limits = dict(limits)
        self.threshold = threshold
        self.recovery_s = recovery_s
        self.lease_s = lease_s
        self._slots: dict[int, list[int]] = {}
        self._trials: set[int] = set()
        self._lock = threading.Lock()
        self._batches = itertools.count()
        self._local = threading.local()  # .wait: why this thread's last claim came back short
        self._blocks: _Blocks | None = None

    # ── configuration ──
    def policy(self, queue_name: str) -> Policy:
        own = self.limits.get(queue_name) or _NO_LIMITS  # built once: its checks ran for every claim
        per_minute = self.rate_limit if own.rate_limit is None else own.rate_limit
        burst = own.rate_limit_burst if own.rate_limit_burst is not None else self.burst
        return Policy(per_minute, max(1, burst or per_minute) if per_minute else 0, own.concurrency_limit or 0)

    def describe(self, queues: Sequence[str] | None) -> str:
        """The limits in force for a worker on `queues`, for its start line."""
        names = sorted({"default", *self.limits}) if queues is None else list(queues)
        parts = [f"{name}: {self.policy(name).describe()}" for name in names]
        return "; ".join(parts)

    def order(self, queues: Sequence[str]) -> Sequence[str]:
        """The queues in claim order for the next batch (see ROTATE_EVERY)."""
        n = next(self._batches)
        if len(queues) < 2 or n % ROTATE_EVERY != ROTATE_EVERY - 1:
            return queues
        shift = 1 + (n // ROTATE_EVERY) % (len(queues) - 1)
        return [*queues[shift:], *queues[:shift]]

    # ── claiming ──
    def blocks(self) -> tuple[frozenset[str], dict[str, BreakerView]]:
        """Paused queues, and the breakers that are not closed or count failures: one read,
        reused while the backend's flow token stays put (and for at most FLOW_REFRESH)."""
        token = self.backend.flow_token()
        mono = self.clock.monotonic()
        cached = self._blocks
        if cached is None or cached.token != token or not cached.at <= mono < cached.at + FLOW_REFRESH:
            cached = self._blocks = _Blocks(token, mono, *self.backend.claim_blocks())
        return cached.paused, cached.breakers

    def _start_claim(self, tasks: dict[str, BreakerView]) -> None:
        """This thread's per-claim state: no wait for tokens yet, and the task breakers `admit`
        looks at."""
        local = self._local
        local.wait, local.for_tokens, local.tasks = 0.0, False, tasks

    def _limited(self) -> bool:
        """Whether any queue or task limit is configured (then claims take tokens or slots)."""
        return bool(self.limits or self.rate_limit or TASK_LIMITS)

    def claim(self, worker_id: str, limit: int, queues: Sequence[str] | None) -> list[Job]:
        now = self.clock.time()
        paused, breakers = self.blocks()
        gated = {scope for scope, view in breakers.items() if view.state != "closed"}
        # a task breaker that is not closed is looked at once its jobs are claimed
        self._start_claim({scope: breakers[scope] for scope in gated if scope.startswith("task:")})
        out: list[Job] = []
        if queues is None:
            blocked = set(paused)
            for scope in gated:
                if not scope.startswith("queue:"):
                    continue
                name = scope.removeprefix("queue:")
                if name not in paused:
                    out += self._claim_gated(worker_id, limit - len(out), name, now)
                    blocked.add(name)
            if len(out) < limit:
                jobs = self.backend.claim(worker_id, limit - len(out), self.lease_s, now, exclude=blocked)
                out += self.admit(worker_id, jobs, now)
            return out
        for name in self.order(queues):
            if name in paused:
                continue
            if breaker_scope(name) in gated:
                out += self._claim_gated(worker_id, limit - len(out), name, now)
            else:
                jobs = self.backend.claim(worker_id, limit - len(out), self.lease_s, now, queue=name)
                out += self.admit(worker_id, jobs, now)
            if len(out) >= limit:
                break
        return out

    def claim_one_plain(self, worker_id: str) -> list[Job] | None:
        """`claim(worker_id, 1, None)` when nothing can hold a job back (no limit configured, no
        queue paused, no breaker open or counting failures), without its plan; None (nothing
        claimed) when something can. `Claiming.pop_job`'s direct path (see there)."""
        if self._limited():
            return None
        paused, breakers = self.blocks()
        if paused or breakers:
            return None
        now = self.clock.time()
        jobs = self.backend.claim(worker_id, 1, self.lease_s, now)
        if jobs and jobs[0].concurrency_key is not None:  # its key's slot is taken host-wide
            self._start_claim({})
            jobs = self.admit(worker_id, jobs, now)
        return jobs

    def _claim_gated(self, worker_id: str, want: int, name: str, now: float) -> list[Job]:
        if want <= 0:
            return []
        scope = breaker_scope(name)
        answer = self.backend.breaker_gate(scope, self.recovery_s, self.lease_s, now)
        if answer == "open":
            self._hold(min(self.recovery_s, 1.0))
            return []
        jobs = self.backend.claim(worker_id, 1 if answer == "trial" else want, self.lease_s, now, queue=name)
        jobs = self.admit(worker_id, jobs, now)
        if answer == "trial":
            if jobs:
                log.warning("queue %r: circuit open -> half_open, job %d is the one trial", name, jobs[0].id)
                self.events.emit("circuit_changed", name, "open", "half_open")
            else:
                self.backend.breaker_record(scope, "abandoned", self.threshold, now)
        return jobs

    def admit(self, worker_id: str, jobs: list[Job], now: float) -> list[Job]:
        """Keep the jobs that get a token and a slot; give the others back untouched."""
        if not jobs:
            return jobs
        tasks: dict[str, BreakerView] = getattr(self._local, "tasks", {})
        # no limit configured and no job with a concurrency key: the batch is kept whole after
        # one test, with no policy built per queue (instr.py claim_ack_1s, with
        # `_claims.Claims.forget_all`)
        if not tasks and not self._limited() and not _any_key(jobs):
            return jobs
        if tasks:
            jobs = self._gate_tasks(jobs, tasks, now)
        names = {job.queue_name for job in jobs}
        policies = {name: self.policy(name) for name in names}
        kept = jobs
        if any(policy.limited for policy in policies.values()):  # a queue with no limit pays nothing
            kept, refused = [], []
            for name, policy in policies.items():
                group = [job for job in jobs if job.queue_name == name]
                allowed = self._take(worker_id, name, policy, group, now)
                kept += group[:allowed]
                refused += group[allowed:]
            if refused:
                self.backend.release([job.lease for job in refused], now)
        if TASK_LIMITS or _any_key(kept):
            kept = self._admit_each(worker_id, kept, now)
        return kept

    def _gate_tasks(self, jobs: list[Job], tasks: Mapping[str, BreakerView], now: float) -> list[Job]:
        """Hold back the jobs of tasks whose own breaker is open: given back untouched (not
        failed, no attempt counted) until a trial may run; when one may, one job of the task is
        its one half-open trial host-wide. Other tasks' jobs are not held."""
        groups: dict[str, list[Job]] = {}
        for job in jobs:
            task = task_of(job)
            if task is not None and task_scope(task) in tasks:
                groups.setdefault(task, []).append(job)
        held: dict[float, list[Job]] = {}
        for task, group in groups.items():
            scope = task_scope(task)
            recovery = self.task_recovery(task)
            answer = self.backend.breaker_gate(scope, recovery, self.lease_s, now)
            if answer == "closed":
                continue
            keep = 1 if answer == "trial" else 0
            if keep:
                log.warning("task %r: circuit open -> half_open, job %d is the one trial", task, group[0].id)
                self.events.emit("task_circuit_changed", task, "open", "half_open")
            view = tasks[scope]
            wait = (view.opened_at or now) + recovery - now if view.state == "open" else 0.0
            held.setdefault(max(wait, min(recovery, 1.0)), []).extend(group[keep:])
        for wait, group in held.items():
            if group:
                self.backend.release([job.lease for job in group], now, now + wait)
        refused = {job.id for group in held.values() for job in group}
        return [job for job in jobs if job.id not in refused] if refused else jobs

    def task_recovery(self, task: str) -> float:
        """Seconds an open breaker of `task` waits before its trial (the Queue's by default)."""
        own = TASK_BREAKERS.get(task)
        return self.recovery_s if own is None or own.recovery_s is None else own.recovery_s

    def _admit_each(self, worker_id: str, jobs: list[Job], now: float) -> list[Job]:
        """Per-task rate limits and per-key concurrency: one write per bucket or key per batch;
        a refused job waits out of the run order, so it does not block the jobs behind it."""
        groups: dict[tuple[str, str], list[Job]] = {}
        for job in jobs:
            task = task_of(job)
            limits = TASK_LIMITS.get(task) if task is not None else None
            if task is not None and limits is not None and limits.per_minute:
                groups.setdefault(("task", task), []).append(job)
            if job.concurrency_key is not None:
                groups.setdefault(("key", job.concurrency_key), []).append(job)
        refused: dict[int, float] = {}
        for (kind, name), group in groups.items():
            group = [job for job in group if job.id not in refused]
            if kind == "task":
                limits = TASK_LIMITS[name]
                burst = max(1, limits.burst or limits.per_minute)
                granted = self.backend.take_tokens(f"task:{name}", len(group), limits.per_minute / 60.0, burst, now)
                wait = 60.0 / limits.per_minute
            else:
                granted = self._take_key(worker_id, name, group, now)
                wait = KEY_RETRY
            for job in group[granted:]:
                refused[job.id] = wait
        if not refused:
            return jobs
        self.free([job for job in jobs if job.id in refused])
        for wait in set(refused.values()):
            leases = [job.lease for job in jobs if refused.get(job.id) == wait]
            self.backend.release(leases, now, now + wait)
        self._hold(min(refused.values()))
        return [job for job in jobs if job.id not in refused]

    def _take_key(self, worker_id: str, key: str, group: list[Job], now: float) -> int:
        tasks = {task_of(job) for job in group}
        limit = min((TASK_LIMITS.get(t, TaskLimits()).per_key or 1) if t is not None else 1 for t in tasks)
        slots = self.backend.take_slots(f"key:{key}", len(group), limit, worker_id, now + self.lease_s, now)
        with self._lock:
            for job, slot in zip(group, slots):
                self._slots.setdefault(job.id, []).append(slot)
        return len(slots)

    def _take(self, worker_id: str, name: str, policy: Policy, group: list[Job], now: float) -> int:
        allowed = len(group)
        bucket = f"queue:{name}"
        if policy.per_minute:
            allowed = self.backend.take_tokens(bucket, allowed, policy.per_minute / 60.0, policy.burst, now)
            if allowed < len(group):
                self._hold(60.0 / policy.per_minute)
                self._local.for_tokens = True
        if policy.concurrency and allowed:
            slots = self.backend.take_slots(bucket, allowed, policy.concurrency, worker_id, now + self.lease_s, now)
            if policy.per_minute and len(slots) < allowed:
                self.backend.return_tokens(bucket, allowed - len(slots), policy.burst, now)
            if len(slots) < allowed:
                self._hold(0.05)  # a slot frees when a job finishes: poll briskly
            allowed = len(slots)
            with self._lock:
                for job, slot in zip(group, slots):
                    self._slots[job.id] = [slot]
        return allowed

    def _hold(self, seconds: float) -> None:
        current = getattr(self._local, "wait", 0.0)
        self._local.wait = seconds if not current else min(current, seconds)

    def short_of_tokens(self) -> bool:
        """Whether this thread's last claim gave jobs back for want of rate-limit tokens."""
        return bool(getattr(self._local, "for_tokens", False))

    def held_back(self) -> float:
        """Seconds to wait before claiming again when this thread's last claim was cut short
        by a rate limit, a concurrency limit or an open breaker; 0 when nothing held it back."""
        return float(getattr(self._local, "wait", 0.0))

    # ── outcomes ──
    def finished(self, jobs: Sequence[Job], succeeded: bool) -> None:
        """Free the jobs' slots and record their outcome on their queue's breaker.

        A failure is always recorded. A success is recorded only on a breaker that is not
        closed or counts failures: on a clean one it would change nothing, and knowing that
        costs no read while the flow token stays put."""
        self.free(jobs)
        if not jobs:
            return
        breakers = self.blocks()[1] if succeeded else None
        if breakers is not None and not breakers:
            return  # the common case: every breaker is closed and clean, so a success changes none
        outcome = "success" if succeeded else "failure"
        now = self.clock.time()
        scopes: dict[str, int] = {}
        for job in jobs:
            task = task_of(job) if TASK_BREAKERS else None
            own = TASK_BREAKERS.get(task) if task is not None else None
            if own is not None:  # a task with its own breaker counts on it, not on its queue's
                scopes[task_scope(task)] = own.threshold  # type: ignore[arg-type]
            else:
                scopes[breaker_scope(job.queue_name)] = self.threshold
        for scope, threshold in scopes.items():
            if breakers is not None and scope not in breakers:
                continue
            change = self.backend.breaker_record(scope, outcome, threshold, now)
            if change is None:
                continue
            kind, name = scope.split(":", 1)
            log.warning("%s %r: circuit %s -> %s", kind, name, *change)
            self.events.emit("circuit_changed" if kind == "queue" else "task_circuit_changed", name, *change)

    def extend(self, job_ids: Sequence[int], until: float) -> None:
        """Keep the slots of these running jobs alive with their leases."""
        if not self._slots:
            return
        with self._lock:
            slots = [slot for job_id in job_ids for slot in self._slots.get(job_id, ())]
        if slots:
            self.backend.extend_slots(slots, until)

    def free(self, jobs: Sequence[Job]) -> None:
        if not self._slots:
            return
        with self._lock:
            slots = [slot for job in jobs for slot in self._slots.pop(job.id, ())]
        if slots:
            self.backend.free_slots(slots)

    def stats(self) -> dict[str, Any]:
        state = self.backend.flow_state(self.clock.time())
        return {"paused": sorted(state.paused),
                "breakers": {scope: view._asdict() for scope, view in state.breakers.items()},
                "tokens": state.tokens, "running_slots": state.slots}


_KEY = operator.attrgetter("concurrency_key")


def _any_key(jobs: Sequence[Job]) -> bool:
    """Whether any of `jobs` has a concurrency key: walked in C (map, count) rather than a
    generator resumed a job."""
    return list(map(_KEY, jobs)).count(None) < len(jobs)

