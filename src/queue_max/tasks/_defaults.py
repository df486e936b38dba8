"""The process-wide task defaults: the queue tasks use when none is given, and eager mode."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..queue import Queue

__all__ = ["current_default_queue", "eager", "get_default_queue", "is_eager", "set_default_queue", "set_eager"]


@dataclass
class _State:
    queue: Queue | None = None
    built: bool = False  # whether `queue` was built here (and so is closed here)
    eager: bool = False
    propagate: bool = False


_state = _State()
_lock = threading.Lock()


def current_default_queue() -> Queue | None:
    """The default queue if one was set or built, without building one."""
    return _state.queue


def get_default_queue() -> Queue:
    """The queue tasks use when they have no `queue=`: the one set, or one built from config.

    The built one is `Queue(settings=load_settings())` (DATA_DIR, NUM_SHARDS, ...); it is
    built on first use, never at import.
    """
    queue = _state.queue
    if queue is not None:
        return queue
    with _lock:
        if _state.queue is None:
            from ..config import load_settings
            from ..queue import Queue

            _state.queue = Queue(settings=load_settings())
            _state.built = True
        return _state.queue


def set_default_queue(queue: Queue | None) -> None:
    """Make `queue` the default of every task without `queue=`; None resets to the lazy one.

    A default queue that was built from config is closed when replaced; one you set is yours
    to close.
    """
    from ..queue import Queue

    if queue is not None and not isinstance(queue, Queue):
        raise ConfigError(f"set_default_queue takes a queue_max.Queue or None, got {queue!r:.80}")
    with _lock:
        old, built = _state.queue, _state.built
        _state.queue, _state.built = queue, False
    if built and old is not None and old is not queue:
        old.close()


def set_eager(enabled: bool, *, propagate: bool = False) -> None:
    """Turn eager mode on or off for the whole process (see `eager`)."""
    if not isinstance(enabled, bool) or not isinstance(propagate, bool):
        raise ConfigError(f"set_eager takes booleans, got enabled={enabled!r}, propagate={propagate!r}")
    _state.eager, _state.propagate = enabled, propagate


def is_eager() -> tuple[bool, bool]:
    """(eager mode on, failures raised at the call instead of kept in the handle)."""
    return _state.eager, _state.propagate


@contextlib.contextmanager
def eager(*, propagate: bool = False) -> Iterator[None]:
    """Run `.delay()`, `.map()` and friends inline, for tests; each returns a finished handle.

    Arguments are checked exactly as for a real enqueue (signature, JSON), and the call and
    its result go through JSON as they would through storage. A failure is kept in the handle
    (`handle.get()` raises `TaskFailed`), or raised at the call with `propagate=True`.
    No job is written, no retries happen and scheduling delays are ignored.
    """
    saved = (_state.eager, _state.propagate)
    set_eager(True, propagate=propagate)
    try:
        yield
    finally:
        _state.eager, _state.propagate = saved
