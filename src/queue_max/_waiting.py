"""Idle waiters of one Queue: workers that sleep until this process (or, through the backend's
change notices, another one) adds work."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Waiting"]


class Waiting:
    def __init__(self) -> None:
        self._work = threading.Condition(threading.Lock())
        self._waiters = 0
        self._direct: Callable[[], None] | None = None

    def route_to(self, wake: Callable[[], None] | None) -> None:
        """Call `wake` in the notifying thread on every notice (None: stop).

        The workers' hub wakes an idle worker this way: an in-process enqueue then hands the job
        to a worker thread in one thread switch instead of two (enqueuer -> watcher -> worker),
        which was most of the enqueue-to-start latency of an idle worker."""
        self._direct = wake

    def notify(self, count: int = 1) -> None:
        """Wake up to `count` waiters; free when nobody waits (the enqueue path calls it)."""
        direct = self._direct
        if direct is not None:
            direct()
        if self._waiters:
            with self._work:
                self._work.notify(count)

    def wait(self, timeout: float) -> None:
        """Block until `notify` or `timeout` seconds pass."""
        with self._work:
            self._waiters += 1
            try:
                self._work.wait(timeout)
            finally:
                self._waiters -= 1
