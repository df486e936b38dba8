"""Wake-ups across hosts: one LISTEN connection per backend, outside the pool, and its NOTIFY side."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from ._conn import scrub

__all__ = ["Listener", "Notifier", "Poller"]

log = logging.getLogger("queue_max.storage")

# How often the listener proves its connection alive when no notification comes.
PROBE_EVERY = 1.0
# After a notification, `change_token` also moves this often for `BUSY_FOR` seconds, so a
# commit whose NOTIFY was debounced away is still seen within a few milliseconds.
BUSY_TICK = 0.005
BUSY_FOR = 1.0


class Listener:
    """Counts NOTIFYs on a channel on its own connection; reconnects when the link drops.

    While the connection is down, `token()` changes on every call, so callers poll the table
    (loudly: the drop and the recovery are logged) instead of sleeping through work."""

    def __init__(self, url: str, channel: str, connect_kwargs: dict[str, Any]) -> None:
        self._url = url
        self._channel = channel
        self._kwargs = {**connect_kwargs, "application_name": "queue-max-listen"}
        self.count = 0
        self.flow_count = 0  # NOTIFYs with the payload 'flow': paused queues or breakers changed
        self.up = False
        self.callbacks: list[Callable[[], None]] = []
        self._last = -BUSY_FOR
        self._down_ticks = itertools.count()
        self._closed = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="queue-max-listen", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    def token(self) -> object:
        if not self.up:
            return ("down", next(self._down_ticks))
        now = time.monotonic()
        if now - self._last < BUSY_FOR:
            return (self.count, int(now / BUSY_TICK))
        return self.count

    def flow_token(self) -> object:
        if not self.up:
            return ("down", next(self._down_ticks))
        return self.flow_count

    def _run(self) -> None:
        delay = 0.05
        while not self._closed.is_set():
            try:
                self._listen()
                delay = 0.05
            except psycopg.Error as exc:
                if self.up or delay == 0.05:
                    log.warning("the LISTEN connection to PostgreSQL dropped (%s); polling until it is "
                                "back", scrub(str(exc).strip(), self._url))
                self.up = False
            finally:
                self._ready.set()
            self._closed.wait(delay)
            delay = min(delay * 2, 2.0)

    def _listen(self) -> None:
        with psycopg.connect(self._url, autocommit=True, **self._kwargs) as conn:
            conn.execute(f"LISTEN {self._channel}")
            if not self.up and self.count:
                log.info("the LISTEN connection to PostgreSQL is back")
            self.count += 1  # anything may have been committed while we were away
            self.flow_count += 1
            self.up = True
            self._wake()
            self._ready.set()
            while not self._closed.is_set():
                for note in conn.notifies(timeout=PROBE_EVERY):
                    if note.payload == "flow":
                        self.flow_count += 1
                    self.count += 1
                    self._last = time.monotonic()
                    self._wake()
                conn.execute("SELECT 1")  # a dead link raises here, not silently

    def _wake(self) -> None:
        for callback in self.callbacks:
            try:
                callback()
            except Exception:  # a waiter's failure must not end the listener
                log.exception("a wake-up callback failed")

    def close(self) -> None:
        self._closed.set()
        # not joined: the thread notices within PROBE_EVERY and closes its connection itself


class Poller:
    """`listen=False`: the token moves every `interval`, so callers re-check the table that often."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self.up = False

    def token(self) -> object:
        return int(time.monotonic() / self._interval)

    def flow_token(self) -> object:
        return self.token()

    def close(self) -> None:
        pass


class Notifier:
    """Decides whether an enqueue transaction sends NOTIFY: at most once per `debounce` seconds."""

    def __init__(self, channel: str, debounce: float = 0.002) -> None:
        self.channel = channel
        self._debounce = debounce
        self._next = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self._debounce
        return True
