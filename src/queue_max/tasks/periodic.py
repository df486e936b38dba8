"""Periodic tasks: `@periodic_task(interval=... | cron=...)` and the `Scheduler` that fires them.

Each schedule is one row in storage, named after the task; firing a tick moves the row to the
next tick and enqueues the tick's job in one transaction, so however many processes run a
scheduler, each tick is enqueued once. Missed ticks (no scheduler was running) are coalesced:
when a scheduler comes back, the task is enqueued once at once, then the schedule continues
with the first tick after now.
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
from collections.abc import Callable, Iterable
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from typing_extensions import Unpack

from ..errors import ConfigError
from ._options import TaskOptionsDict, check_task_options
from .cron import CronExpression
from .dispatch import make_envelope
from .handle import TaskHandle
from .registry import registry
from .task import Task, make_task

if TYPE_CHECKING:
    from ..queue import Queue

__all__ = ["CronSchedule", "Every", "PeriodicTask", "Scheduler", "periodic_task", "start_registered_scheduler"]

log = logging.getLogger("queue_max.tasks.scheduler")

P = ParamSpec("P")
R = TypeVar("R")

_MAX_SLEEP = 30.0  # re-read the clock at least this often (wall-clock jumps)


class Every:
    """A fixed interval: ticks at `first + k * seconds`, the first one interval after first start."""

    def __init__(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not math.isfinite(seconds) or seconds <= 0:
            raise ConfigError(f"interval must be a finite number of seconds > 0, got {seconds!r}")
        self.seconds = float(seconds)

    def first_due(self, now: float) -> float:
        return now + self.seconds

    def next_after(self, due: float, now: float) -> float:
        """The first tick on `due`'s grid strictly after `now` (and after `due`)."""
        steps = max(1, math.floor((now - due) / self.seconds) + 1)
        return due + steps * self.seconds

    def __repr__(self) -> str:
        return f"Every({self.seconds})"


class CronSchedule:
    """Ticks at the minutes a cron expression matches."""

    def __init__(self, cron: CronExpression) -> None:
        self.cron = cron

    def first_due(self, now: float) -> float:
        return self.cron.next_after(now)

    def next_after(self, due: float, now: float) -> float:
        return self.cron.next_after(max(due, now))

    def __repr__(self) -> str:
        return repr(self.cron)


class PeriodicTask(Task[P, R]):
    """A task that a scheduler enqueues on a schedule; still callable and `.delay()`-able."""

    schedule: Every | CronSchedule

    def start_scheduler(self, queue: Queue | None = None) -> Scheduler:
        """Fire this task's ticks from a daemon thread of this process (idempotent)."""
        with _schedulers_lock:
            running = _schedulers.get(self.name)
            if running is not None and running.is_running:
                return running
            scheduler = _schedulers[self.name] = Scheduler([self], queue)
        scheduler.start()
        return scheduler

    def stop_scheduler(self, timeout: float | None = 5.0) -> None:
        """Stop the thread started by `start_scheduler` (no-op if none runs)."""
        with _schedulers_lock:
            scheduler = _schedulers.pop(self.name, None)
        if scheduler is not None:
            scheduler.stop(timeout)

    def __repr__(self) -> str:
        return f"<PeriodicTask {self.name} {self.schedule!r}>"


_schedulers: dict[str, Scheduler] = {}
_schedulers_lock = threading.Lock()


class Scheduler:
    """Fires the due ticks of periodic tasks; any number of processes may run one at once.

    `run_pending()` does one pass (tests drive it with a fake clock); `start()` runs passes in
    a daemon thread, sleeping until the next tick; `run_forever()` runs them in this thread.
    """

    def __init__(self, tasks: Iterable[PeriodicTask[Any, Any]], queue: Queue | None = None) -> None:
        self.tasks = list(tasks)
        for t in self.tasks:
            if not isinstance(t, PeriodicTask):
                raise ConfigError(f"Scheduler takes periodic tasks (@periodic_task), got {t!r:.80}")
        self._queue = queue
        self._due: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_registered(cls, queue: Queue | None = None) -> Scheduler:
        """A scheduler for every periodic task registered in this process."""
        found = [registry.find(name) for name in registry.names()]
        return cls([t for t in found if isinstance(t, PeriodicTask)], queue)

    def queue_of(self, task: PeriodicTask[Any, Any]) -> Queue:
        """The scheduler's queue if it was given one, else the task's."""
        return self._queue if self._queue is not None else task.queue

    def run_pending(self) -> list[TaskHandle[Any]]:
        """Fire every due tick once; returns the handles of the jobs this call enqueued."""
        fired = []
        for task in self.tasks:
            handle = self._fire_if_due(task)
            if handle is not None:
                fired.append(handle)
        return fired

    def _load(self, task: PeriodicTask[Any, Any], queue: Queue, now: float) -> float:
        due, _last = queue.schedule_state(task.name, task.schedule.first_due(now))
        self._due[task.name] = due
        return due

    def _fire_if_due(self, task: PeriodicTask[Any, Any]) -> TaskHandle[Any] | None:
        queue = self.queue_of(task)
        now = queue.clock.time()
        due = self._due.get(task.name)
        if due is None:
            due = self._load(task, queue, now)
        if now < due:
            return None
        next_due = task.schedule.next_after(due, now)
        envelope = {**make_envelope(task.name, (), {}), "tick": due}
        ref = queue.fire_schedule(task.name, due, next_due, envelope,
                                  priority=task.options.priority, max_retries=task.options.max_retries)
        if ref is None:
            # another process fired this tick first; learn where the schedule is now
            self._load(task, queue, now)
            return None
        self._due[task.name] = next_due
        if task.schedule.next_after(due, due) <= now:
            log.info("%s: ticks missed since %.3f were coalesced into this one run", task.name, due)
        task.stats.count("enqueued")
        return TaskHandle(queue, ref["id"], ref["shard_id"], task.name)

    def seconds_until_due(self) -> float:
        """Seconds until the earliest known tick (0 if one is due or not yet loaded)."""
        waits = []
        for task in self.tasks:
            due = self._due.get(task.name)
            if due is None:
                return 0.0
            waits.append(due - self.queue_of(task).clock.time())
        return max(0.0, min(waits, default=_MAX_SLEEP))

    # ── running ──
    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_forever(self) -> None:
        """Fire ticks until `stop()`; a failing pass is logged and retried, never fatal."""
        failures = 0
        while not self._stop.is_set():
            try:
                self.run_pending()
                failures = 0
                wait = self.seconds_until_due()
            except Exception:
                failures += 1
                wait = min(0.1 * 2.0**failures, _MAX_SLEEP)
                log.exception("scheduler pass failed; retrying in %.1fs", wait)
            self._stop.wait(min(wait, _MAX_SLEEP))

    def start(self) -> None:
        """Run `run_forever` in a daemon thread (no-op if it already runs)."""
        if self.is_running:
            return
        self._stop.clear()
        names = ",".join(t.name for t in self.tasks)
        self._thread = threading.Thread(target=self.run_forever, name=f"queue-max-scheduler[{names}]",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread and wait up to `timeout` seconds for it."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None


def start_registered_scheduler(queue: Queue | None = None) -> Scheduler | None:
    """Start, in a daemon thread, a scheduler for every periodic task registered in this
    process (what `queue-max worker` and the framework worker commands run); None if there is
    no periodic task. Every process may run one: each tick is enqueued once."""
    scheduler = Scheduler.for_registered(queue)
    if not scheduler.tasks:
        return None
    scheduler.start()
    log.info("scheduler started for %s", ", ".join(t.name for t in scheduler.tasks))
    return scheduler


def _schedule(interval: object, cron: object, tz: object) -> Every | CronSchedule:
    if (interval is None) == (cron is None):
        raise ConfigError("@periodic_task needs exactly one of interval= (seconds) or cron= "
                          f"('*/5 * * * *'), got interval={interval!r}, cron={cron!r}")
    if interval is not None:
        if tz is not None:
            raise ConfigError("@periodic_task: tz= applies to cron= schedules only")
        return Every(interval)  # type: ignore[arg-type]
    return CronSchedule(CronExpression(cron, tz))  # type: ignore[arg-type]


def periodic_task(
    interval: float | None = None,
    cron: str | None = None,
    *,
    tz: tzinfo | None = None,
    **options: Unpack[TaskOptionsDict],
) -> Callable[[Callable[P, R]], PeriodicTask[P, R]]:
    """Register a task that runs every `interval` seconds or on a `cron` expression (in `tz`).

    Takes the options of `@task`; the function must take no arguments. `.start_scheduler()`
    fires it from this process; each tick is enqueued once across all processes.
    """
    if callable(interval):
        raise ConfigError("@periodic_task needs interval= or cron=: write @periodic_task(interval=60)")
    schedule = _schedule(interval, cron, tz)
    check_task_options("@periodic_task", {k: v for k, v in options.items() if k != "name"})

    def decorate(fn: Callable[P, R]) -> PeriodicTask[P, R]:
        try:
            inspect.signature(fn).bind()
        except TypeError:
            raise ConfigError(f"@periodic_task: {getattr(fn, '__qualname__', fn)} must be callable "
                              "with no arguments (a scheduler calls it with none)") from None
        except ValueError:
            pass  # no signature to check
        built: PeriodicTask[P, R] = make_task(fn, dict(options), "@periodic_task", PeriodicTask,
                                              schedule=schedule)
        return built

    return decorate
