"""The event-loop thread every QueueEventBus of the process runs its bubus bus on.

One loop for all of them, not one each: bubus serialises every bus of a process behind one
global re-entrant lock whose semaphore belongs to one event loop, and buses driven from several
loops at once swap that semaphore under each other. The thread starts with the first bus and
stops when the last one closes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "acquire", "release"]

log = logging.getLogger("queue_max.events")

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="queue-max events", daemon=True)
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            if tasks:
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.close()

    def on_thread(self) -> bool:
        """Whether the caller runs on this loop's thread (where blocking on the loop deadlocks)."""
        return threading.current_thread() is self.thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result (from any other thread)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Call `fn` on the loop thread and return its result; directly if already there."""
        if self.on_thread():
            return fn()

        async def call() -> T:
            return fn()

        return self.run(call(), timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10.0)
        if self.thread.is_alive():
            log.warning("the events loop thread did not stop within 10s (a handler is still running)")


_lock = threading.Lock()
_shared: LoopThread | None = None
_users = 0


def acquire() -> LoopThread:
    """The shared loop thread, started if no bus uses it yet."""
    global _shared, _users
    with _lock:
        if _shared is None:
            _shared = LoopThread()
        _users += 1
        return _shared


def release(loop_thread: LoopThread) -> None:
    """One bus is done with the loop; the last one stops it."""
    global _shared, _users
    with _lock:
        if loop_thread is not _shared:
            return
        _users -= 1
        if _users > 0:
            return
        _shared = None
    if loop_thread.on_thread():
        # the last bus closed from one of its own handlers: the loop cannot join itself
        loop_thread.loop.call_soon(loop_thread.loop.stop)
    else:
        loop_thread.stop()
