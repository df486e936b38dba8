"""The per-queue hub of a process: wake-ups for idle workers, heartbeats, recovery, time limits.

Every worker on one `Queue` object shares one hub, so a process heartbeats all of its in-flight
jobs in one `extend` call and polls for other processes' commits with one thread, however many
workers it runs. Two daemon threads, started with the first worker and stopped with the last:

- idle workers are woken at once on an in-process enqueue, by the enqueuing thread itself
  (`Queue.on_local_work`: one thread switch to the worker, not two through the watcher);
- the watcher wakes them within `CHECK_MAX` seconds of another process's commit (`Backend.change_token`, SQLite's
  `PRAGMA data_version`), backing off from `CHECK_MIN` (to `CHECK_BUSY` only, while work keeps
  turning up), when a cheap read (`has_ready`) finds work. Scheduled jobs and retries fall due
  without a commit: the watcher reads when the earliest one is due (`Backend.next_due`) and
  looks then (or after `poll_interval`, the smallest of its workers', if that comes first);
  with nothing scheduled it does not poll at all beyond the change token (a safety read every
  `IDLE_RECHECK` seconds). One idle worker is woken at a time (the one that went idle last, see
  `Hub.kick`), and a worker that finds a full batch wakes the next one. It sleeps while no
  worker is idle;
- the keeper extends the leases of every in-flight job each `heartbeat_interval` and refreshes
  every member's worker-registry record (idle ones too; see `Queue.workers`), runs the queue's
  maintenance (recovery of expired leases) each `recovery_interval`, and checks time limits.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from ..errors import QueueClosed, QueueMaxError
from ..models import Job, Lease, WorkerPresence
from ..queue import Queue

__all__ = [
    "BUSY_WINDOW", "CHECK_BUSY", "CHECK_MAX", "CHECK_MIN", "IDLE_RECHECK", "SAFETY_FACTOR", "Hub", "Member", "Waker",
    "attach", "detach",
]

log = logging.getLogger("queue_max.workers")

# Cross-process polling back-off (seconds): from CHECK_MIN after a change up to CHECK_MAX.
# One PRAGMA per shard costs ~20 us; with the timed wait, idle polling at the cap costs about 2%
# of a core per process (measured on the 2-core development machine).
CHECK_MIN = 0.0005
CHECK_MAX = 0.01
# For a second after work last turned up, the back-off stops at CHECK_BUSY: jobs come in streams.
# Another process's job waits about half of it before the watcher sees it: 2 ms -> 1 ms took
# latency_xproc's p50 from 1.56-1.86 ms to 1.21-1.27 ms (`python benchmarks/run.py --only
# latency_xproc --repeat 3`, alternating, load ~2) for ~0.4 ms more watcher CPU a job at 50
# jobs/s (a look costs ~45 us: the timed wait's wake-up and one PRAGMA per shard). Idle polling
# (CHECK_MAX) and drains, where no worker is idle and the watcher sleeps, are unchanged.
CHECK_BUSY = 0.001
BUSY_WINDOW = 1.0
# An idle worker also polls on its own this often (times its poll_interval), in case the
# watcher is stuck in a slow storage call.
SAFETY_FACTOR = 10.0
# With no job scheduled, nothing can fall due without a commit the change token shows: the
# watcher then reads `has_ready` only this often, as a safety net.
IDLE_RECHECK = 30.0


class Waker(Protocol):
    def set(self) -> None: ...
    def clear(self) -> None: ...


class Member(Protocol):
    """What the hub asks of a worker."""

    poll_interval: float
    last_heartbeat_at: float | None

    def held_jobs(self) -> list[Job]:
        """Every job whose lease this worker holds (running, prefetched, or not yet acked)."""
        ...

    def leases_lost(self, lost: set[Lease]) -> None:
        """The heartbeat found these leases gone: another worker may own the jobs now."""
        ...

    def check_time_limits(self, now: float) -> float | None:
        """Act on passed time limits; return how soon (seconds) to check again, or None."""
        ...

    def presence(self, now: float) -> WorkerPresence:
        """This worker's record for the worker registry, as of `now`."""
        ...


class Hub:
    """Shared by the workers of one Queue object in one process; see the module docstring."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.gen = 0  # bumped on every wake-up, so a worker about to sleep sees it missed one
        # Claims and acks of this process's workers: no more at once than the storage gains
        # from (`Backend.concurrent_writes`), so threads queue here, woken in turn, rather than
        # in SQLite's busy handler, which sleeps.
        self.writers = threading.BoundedSemaphore(max(1, queue.backend.concurrent_writes))
        self._lock = threading.Lock()
        self._idle: deque[Waker] = deque()
        self._members: tuple[Member, ...] = ()
        self.poll_interval = 1.0
        self._closing = threading.Event()
        self._watch_needed = threading.Event()
        self._keeper_wake = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, name="queue-max watcher", daemon=True),
            threading.Thread(target=self._keep, name="queue-max heartbeat", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        queue.on_local_work(self.kick)

    # ── membership ──
    def add(self, member: Member) -> None:
        with self._lock:
            self._members = (*self._members, member)
            self.poll_interval = min(m.poll_interval for m in self._members)
        self._keeper_wake.set()

    def remove(self, member: Member) -> int:
        with self._lock:
            self._members = tuple(m for m in self._members if m is not member)
            if self._members:
                self.poll_interval = min(m.poll_interval for m in self._members)
            return len(self._members)

    def close(self) -> None:
        self.queue.on_local_work(None)
        self._closing.set()
        self._watch_needed.set()
        self._keeper_wake.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(5.0)

    # ── idle waiting ──
    def register_idle(self, seen: int, waker: Waker) -> bool:
        """Queue `waker` for the next wake-up; False (not queued) if one happened since `seen`."""
        with self._lock:
            if self.gen != seen or self._closing.is_set():
                return False
            waker.clear()
            self._idle.append(waker)
        if not self._watch_needed.is_set():
            self._watch_needed.set()
        return True

    def unregister_idle(self, waker: Waker) -> None:
        with self._lock:
            try:
                self._idle.remove(waker)
            except ValueError:
                pass

    def wait(self, seen: int, poll_interval: float, waker: threading.Event, stopping: Callable[[], bool]) -> None:
        """Block a worker thread until a wake-up after `seen` (the watcher polls for it).

        `stopping` is read after `waker` was cleared, so a stop that set the waker just before
        is never missed."""
        if self.register_idle(seen, waker):
            if not stopping():
                waker.wait(poll_interval * SAFETY_FACTOR)
            self.unregister_idle(waker)

    def kick(self, count: int = 1) -> None:
        """There may be work: wake up to `count` idle workers, those that went idle last first.

        Last in, first out: the worker that went idle last has just looked at every shard, so its
        claim goes straight to the shard this process added to (see ShardManager._visit_order),
        while one idle longest has stale notes of empty shards and looks at them again, or
        guesses a lone job there that another worker took. Four idle workers, one job enqueued
        at a time (`python benchmarks/instr.py --statements --n 1000 lone_4w`): 6.0 -> 2.7
        statements from the enqueue call to the handler's start."""
        with self._lock:
            self.gen += 1
            wakers = [self._idle.pop() for _ in range(min(count, len(self._idle)))]
        for waker in wakers:
            waker.set()

    # ── the watcher thread ──
    def _watch(self) -> None:
        clock = time.monotonic
        last: object = None
        delay = CHECK_MIN
        next_poll = clock() + self.poll_interval
        found = -BUSY_WINDOW  # when work last turned up
        while not self._closing.is_set():
            if not self._idle:
                self._park()
                # keep a due time read before parking: the change token it came with is already
                # `last`, so no read after this would find it again, and a job falling due
                # meanwhile would wait for the poll interval (up to 10x it, for a long interval)
                delay, next_poll = CHECK_MIN, min(next_poll, clock() + self.poll_interval)
                continue
            timeout = max(0.0, min(delay, next_poll - clock()))
            gen = self.gen
            # the back-off; an enqueue in this process kicks a worker itself (Queue.on_local_work)
            self._closing.wait(timeout)
            if self.gen != gen:
                found = clock()
                continue  # a worker was just woken: let it claim first, look again next round
            due = clock() >= next_poll
            try:
                token = self.queue.change_token()
                # Most changes are this process's own claims and acks: wake a worker only when
                # something is ready (a cheap read), or it would claim nothing, and cost CPU.
                ready = (token != last or due) and self.queue.has_ready()
            except QueueClosed:
                return
            except QueueMaxError:
                log.warning("cannot read the queue's state; retrying", exc_info=True)
                self._closing.wait(0.5)
                continue
            changed, last = token != last, token
            now = clock()
            if due or (changed and not ready):
                next_poll = now + self._until_due()
            if ready:
                found = now
                self.kick()
            cap = CHECK_BUSY if now - found < BUSY_WINDOW else CHECK_MAX
            delay = CHECK_MIN if changed else min(delay * 2, cap)

    def _until_due(self) -> float:
        """Seconds until the watcher must look for ready jobs though no commit was seen."""
        try:
            due = self.queue.next_due()
        except QueueMaxError:
            return self.poll_interval
        if due is None:
            return max(self.poll_interval, IDLE_RECHECK)
        return max(0.0, min(self.poll_interval, due - self.queue.clock.time()))

    def _park(self) -> None:
        """Sleep while no worker is idle."""
        self._watch_needed.clear()
        if not self._idle:
            self._watch_needed.wait(1.0)

    # ── the keeper thread ──
    def _keep(self) -> None:
        options = self.queue.options
        clock = time.monotonic
        next_beat = clock() + options.heartbeat_interval
        next_sweep = clock() + options.recovery_interval
        while not self._closing.is_set():
            now = clock()
            soonest = min(next_beat, next_sweep)
            for member in self._members:
                again = member.check_time_limits(now)
                if again is not None:
                    soonest = min(soonest, now + again)
            self._keeper_wake.wait(max(0.0, soonest - now))
            self._keeper_wake.clear()
            now = clock()
            if now >= next_beat:
                next_beat = now + options.heartbeat_interval
                self.beat()
                self.report_presence()
            if now >= next_sweep:
                # the queue keeps the one maintenance schedule; this thread only asks when due
                next_sweep = now + min(options.recovery_interval, self.queue.maintain())

    def beat(self) -> None:
        """Extend the lease of every job held by every member, in one backend call."""
        owners: dict[Lease, Member] = {}
        for member in self._members:
            for job in member.held_jobs():
                owners[job.lease] = member
        if not owners:
            return
        try:
            lost = self.queue.extend_leases(list(owners))
        except QueueClosed:
            return
        except QueueMaxError:
            log.warning("heartbeat failed for %d leases; retrying at the next beat", len(owners), exc_info=True)
            return
        beat_at = self.queue.clock.time()
        for member in owners.values():
            member.last_heartbeat_at = beat_at
        self._report_lost(lost, owners)

    def report_presence(self) -> None:
        """Refresh the registry record of every member, idle or busy, in one backend call: the
        dashboard and `Queue.workers()` see idle workers through it (never per job)."""
        members = self._members
        if not members:
            return
        now = self.queue.clock.time()
        try:
            self.queue.report_workers([member.presence(now) for member in members])
        except QueueClosed:
            return
        except QueueMaxError:
            log.warning("could not refresh the worker registry; retrying at the next beat", exc_info=True)

    @staticmethod
    def _report_lost(lost: Sequence[Lease], owners: dict[Lease, Member]) -> None:
        by_member: dict[int, tuple[Member, set[Lease]]] = {}
        for lease in lost:
            member = owners[lease]
            by_member.setdefault(id(member), (member, set()))[1].add(lease)
        for member, leases in by_member.values():
            member.leases_lost(leases)

    def nudge(self) -> None:
        """Make the keeper re-read time limits now (a job with a shorter limit started)."""
        self._keeper_wake.set()


_hubs: weakref.WeakKeyDictionary[Queue, Hub] = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def attach(queue: Queue, member: Member) -> Hub:
    """The hub of `queue` in this process (started if needed), with `member` added."""
    with _hubs_lock:
        hub = _hubs.get(queue)
        if hub is None:
            hub = _hubs[queue] = Hub(queue)
        hub.add(member)
    return hub


def detach(hub: Hub, member: Member) -> None:
    """Remove `member`; the last one out stops the hub's threads."""
    with _hubs_lock:
        if hub.remove(member):
            return
        if _hubs.get(hub.queue) is hub:
            del _hubs[hub.queue]
    hub.close()
