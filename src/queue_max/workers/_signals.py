"""Two-stage SIGTERM/SIGINT handling: the first signal stops gracefully, the second at once."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["SIGNALS", "ShutdownSignals"]

log = logging.getLogger("queue_max.workers")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ShutdownSignals:
    """Installs handlers in the main thread; once `finished()`, signals go to the old handlers."""

    def __init__(self, name: str, graceful: Callable[[], None], immediate: Callable[[], None]) -> None:
        self._name = name
        self._graceful = graceful
        self._immediate = immediate
        self._previous: dict[int, Any] = {}
        # each signal acted on takes the next number, in one C call: a second signal's handler
        # may run inside the first one's (between any two bytecodes), and a count read back after
        # it was stored made both take the "again" branch, so the graceful stop never began
        self._acted = itertools.count()
        self._finished = False
        self._held = False
        self._pending: list[int] = []

    def install(self, *, held: bool = False) -> bool:
        """Take over SIGTERM and SIGINT; False (nothing done) outside the main thread.

        `held`: signals are only noted until `release()` acts on them. The owner installs before
        it starts anything a signal must stop (a worker, before its first job can start) while
        it holds a lock the actions take, and releases once started: a signal in between is
        neither handled by the previous handler (SIGTERM's default kills the process, its jobs
        unreleased) nor lost."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self._held = held
        for signum in SIGNALS:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)
        return True

    def release(self) -> None:
        """Act on the signals noted while held, in order, and on every later one as it comes.

        Runs in the main thread, where the handler runs too, between any two bytecodes: each
        signal is acted on once, by the handler (after `_held` is cleared) or here."""
        self._held = False
        pending, self._pending = self._pending, []
        for signum in pending:
            self._act(signum)

    def finished(self) -> None:
        """The owner stopped: give the signals back (when possible from this thread)."""
        self._finished = True
        if threading.current_thread() is threading.main_thread():
            for signum, handler in self._previous.items():
                if signal.getsignal(signum) == self._on_signal:
                    signal.signal(signum, handler)
            self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._finished:
            previous = self._previous.get(signum)
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        if self._held:
            self._pending.append(signum)
            return
        self._act(signum)

    def _act(self, signum: int) -> None:
        first = next(self._acted) == 0
        name = signal.Signals(signum).name
        if first:
            log.warning("%s: %s received, finishing running jobs (send it again to stop at once)",
                        self._name, name)
            self._graceful()
        else:
            log.warning("%s: %s received again, stopping at once", self._name, name)
            self._immediate()
