"""Idle waiters of one Queue: workers that sleep until this process (or, through the backend's
change notices, another one) adds work."""

from __future__ import annotations

import threading

__all__ = ["Waiting"]


class Waiting:
    def __init__(self) -> None:
        self._work = threading.Condition(threading.Lock())
        self._waiters = 0

    def notify(self, count: int = 1) -> None:
        """Wake up to `count` waiters; free when nobody waits (the enqueue path calls it)."""
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
