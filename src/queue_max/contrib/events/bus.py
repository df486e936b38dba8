"""QueueEventBus: a queue's events re-dispatched as typed pydantic events on a bubus EventBus.

The queue calls its listeners synchronously, on whatever thread changed a job (a worker thread,
the thread that enqueued). bubus is asyncio. The bridge: a listener only counts the event and
hands `(name, args)` to the shared event-loop thread (`call_soon_threadsafe`, never blocking the
worker); a pump coroutine there builds the typed events and dispatches them in the order they
were emitted, a bounded window ahead of their handlers, so bubus' bounded queue never overflows.
bubus runs the handlers one event at a time. Registrations, `expect()` and `flush()` travel
through the same inbox, so they apply exactly from the point in the stream where they were made.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

from bubus import BaseEvent, EventBus

from ...errors import ConfigError, QueueClosed, QueueMaxError
from . import _loop
from ._patterns import Matcher, Pattern, check_count, resolve_pattern, subscriptions
from .models import EVENT_TYPES, QueueEvent

if TYPE_CHECKING:
    from ...queue import Queue

__all__ = ["EventTimeout", "QueueEventBus"]

log = logging.getLogger("queue_max.events")

E = TypeVar("E", bound=BaseEvent[Any])
H = TypeVar("H", bound=Callable[..., Any])

_names = itertools.count(1)
WINDOW = 32  # events dispatched ahead of their handlers; bubus' own queue holds 50


class EventTimeout(QueueMaxError, TimeoutError):
    """`expect()` saw no matching event within its timeout."""


class QueueEventBus:
    """Typed events for everything that happens to `queue`'s jobs, on a bubus `EventBus`.

    `on(JobCompleted)` / `on("job_*")` register handlers (sync or async; they run on the events
    thread, one event at a time), `expect(JobFailed, timeout=30)` blocks until a matching event,
    `log_tree()` and `get_metrics()` inspect, `close()` (or `with`) detaches from the queue.
    At most `max_pending` events wait for their handlers; past that, new ones are dropped and
    counted rather than slowing the workers. bubus keeps the last `max_history` events.
    `events` limits which of the queue's events are bridged (default: all of them); an event
    nobody listens to costs the queue nothing.
    """

    def __init__(self, queue: Queue, *, events: Iterable[str | type[QueueEvent]] | None = None,
                 name: str | None = None, max_history: int = 50, max_pending: int = 10_000) -> None:
        from ...queue import Queue

        if not isinstance(queue, Queue):
            raise ConfigError(f"QueueEventBus takes a queue_max.Queue, got {queue!r:.80}")
        if name is not None and (not isinstance(name, str) or not name.isidentifier()):
            raise ConfigError(f"name must be a Python identifier (bubus requires it), got {name!r}")
        self.queue = queue
        subscribed = subscriptions(events)
        self._max_history = check_count("max_history", max_history, 1)
        self._max_pending = check_count("max_pending", max_pending, 1)
        self._lock = threading.Lock()
        self._received = dict.fromkeys(EVENT_TYPES, 0)
        self._dispatched = self._dropped = self._handlers = self._calls = self._errors = 0
        self._backlog = 0
        self._closed = self._closing = False
        self._handler_names: dict[str, dict[str, int]] = {}
        self._expects: set[asyncio.Task[Any]] = set()
        self._thread = _loop.acquire()
        try:
            self.bus: EventBus = self._thread.call(
                lambda: EventBus(name=name or f"QueueEventBus_{next(_names)}", max_history_size=max_history))
            self._inbox: asyncio.Queue[Any] = self._thread.call(asyncio.Queue)
            self._pump_task = self._thread.call(lambda: self._thread.loop.create_task(self._pump()))
        except BaseException:
            _loop.release(self._thread)
            raise
        self._listeners = {event: functools.partial(self._receive, event) for event in subscribed}
        for event, listener in self._listeners.items():
            queue.on(event, listener)

    # ── the bridge ──
    def _receive(self, event: str, *args: Any) -> None:
        """The queue's listener: runs on the thread that changed the job; never blocks it."""
        with self._lock:
            if self._closed:
                return
            if self._backlog >= self._max_pending:
                self._dropped += 1
                if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                    log.warning("%s: %d events waiting for handlers; dropped %d so far (slow handlers?)",
                                self.bus.name, self._backlog, self._dropped)
                return
            self._backlog += 1
            self._received[event] += 1
        self._send((event, args))

    def _send(self, item: Any) -> bool:
        try:
            self._thread.loop.call_soon_threadsafe(self._inbox.put_nowait, item)
            return True
        except RuntimeError:  # the loop is gone (interpreter shutting down)
            return False

    async def _pump(self) -> None:
        # Up to WINDOW events are dispatched ahead (bubus handles them one at a time, in order),
        # never more than bubus' bounded queue takes; a control item waits for all of them.
        inflight: deque[BaseEvent[Any]] = deque()
        while True:
            if inflight and (len(inflight) >= WINDOW or self._inbox.empty()):
                await self._settled(inflight.popleft())
                continue
            item = await self._inbox.get()
            if item is None:
                return
            if callable(item):
                while inflight:
                    await self._settled(inflight.popleft())
                item()  # a registration, an expect() or a flush marker, in stream order
                await asyncio.sleep(0)  # let a task it started register before the next event
                continue
            event, args = item
            try:
                inflight.append(self.bus.dispatch(EVENT_TYPES[event].from_args(args)))
            except Exception:
                log.exception("%s: could not dispatch %s%r", self.bus.name, event, args)
                self._done()

    async def _settled(self, event: BaseEvent[Any]) -> None:
        try:
            await event
        except Exception:
            log.exception("%s: %s failed", self.bus.name, event)
        self._done()

    def _done(self) -> None:
        with self._lock:
            self._backlog -= 1
            self._dispatched += 1

    def _in_stream(self, action: Callable[[], Any]) -> None:
        """Run `action` on the events thread after every event received so far was dispatched."""
        if self._closed or not self._send(action):
            raise QueueClosed(f"{self.bus.name} is closed")

    def _not_from_handler(self, method: str) -> None:
        if self._thread.on_thread():
            raise RuntimeError(f"QueueEventBus.{method}() blocks until events are handled, so it cannot "
                               "be called from an event handler (it would wait for itself)")

    # ── handlers ──
    @overload
    def on(self, pattern: Pattern, handler: H) -> H: ...

    @overload
    def on(self, pattern: Pattern) -> Callable[[H], H]: ...

    def on(self, pattern: Pattern, handler: H | None = None) -> H | Callable[[H], H]:
        """Call `handler(event)` for each event matching `pattern`; also a decorator.

        It sees the events emitted after this call, on the events thread (so it should be quick).
        """
        key, matcher = resolve_pattern(pattern)

        def register(fn: H) -> H:
            if not callable(fn):
                raise ConfigError(f"an event handler must be callable, got {fn!r:.80}")
            wrapped = self._wrap(fn, matcher)
            with self._lock:
                self._handlers += 1
                # bubus warns about two handlers of one name on one key (lambdas, for one)
                seen = self._handler_names.setdefault(key, {})
                count = seen[wrapped.__name__] = seen.get(wrapped.__name__, 0) + 1
            if count > 1:
                wrapped.__name__ = f"{wrapped.__name__}_{count}"
            self._in_stream(lambda: self.bus.on(key, wrapped))
            return fn

        return register if handler is None else register(handler)

    def _wrap(self, fn: Callable[..., Any], matcher: Matcher | None) -> Callable[..., Any]:
        """A plain function (what bubus accepts) that filters globs and counts calls and errors."""
        wrapper: Callable[..., Any]
        if inspect.iscoroutinefunction(fn):
            async def async_handler(event: BaseEvent[Any]) -> Any:
                if matcher is not None and not matcher(event):
                    return None
                self._count(error=False)
                try:
                    return await fn(event)
                except Exception:
                    self._count(error=True)
                    raise
            wrapper = async_handler
        else:
            def handler(event: BaseEvent[Any]) -> Any:
                if matcher is not None and not matcher(event):
                    return None
                self._count(error=False)
                try:
                    return fn(event)
                except Exception:
                    self._count(error=True)
                    raise
            wrapper = handler
        # bubus names handlers (in log_tree and its logs) by __module__ and __name__
        return functools.update_wrapper(wrapper, fn, updated=())

    def _count(self, *, error: bool) -> None:
        with self._lock:
            if error:
                self._errors += 1
            else:
                self._calls += 1

    # ── waiting ──
    @overload
    def expect(self, event_type: type[E], timeout: float | None = None, *,
               include: Callable[[E], bool] | None = None) -> E: ...

    @overload
    def expect(self, event_type: str, timeout: float | None = None, *,
               include: Callable[[Any], bool] | None = None) -> QueueEvent: ...

    def expect(self, event_type: Pattern, timeout: float | None = None, *,
               include: Callable[[Any], bool] | None = None) -> Any:
        """Block until an event matching `event_type` (and `include`, if given) is dispatched.

        Only events emitted after the call count. Raises `EventTimeout` after `timeout` seconds
        (None waits forever). From async code: `await asyncio.to_thread(events.expect, ...)`.
        """
        self._not_from_handler("expect")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not timeout >= 0):
            raise ConfigError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
        key, matcher = resolve_pattern(event_type)

        def accept(event: BaseEvent[Any]) -> bool:
            return (matcher is None or matcher(event)) and (include is None or bool(include(event)))

        deadline = None if timeout is None else time.monotonic() + timeout
        found: concurrent.futures.Future[Any] = concurrent.futures.Future()
        started: list[asyncio.Task[Any]] = []

        def start() -> None:
            if found.done():
                return  # the caller already gave up
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            task = self._thread.loop.create_task(self.bus.expect(key, include=accept, timeout=left))
            started.append(task)
            self._expects.add(task)
            task.add_done_callback(functools.partial(self._expect_done, found))

        self._in_stream(start)
        what = getattr(event_type, "__name__", event_type)
        try:
            # timed here too: a backlog ahead of `start` in the inbox must not stretch the timeout
            return found.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except concurrent.futures.CancelledError:
            raise QueueClosed(f"{self.bus.name} closed while expect({what!r}) was waiting") from None
        except TimeoutError:
            raise EventTimeout(f"no {what} event within {timeout}s") from None
        finally:
            found.cancel()
            if started and not started[0].done():
                self._thread.loop.call_soon_threadsafe(started[0].cancel)

    def _expect_done(self, found: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
        self._expects.discard(task)
        _settle(found, task)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every event received so far was handled; False if `timeout` passed first."""
        self._not_from_handler("flush")
        reached = threading.Event()
        try:
            self._in_stream(reached.set)
        except QueueClosed:
            return True
        return reached.wait(timeout)

    # ── inspection ──
    def log_tree(self) -> str:
        """bubus' tree of the recent events (the last `max_history`) and their handlers' results."""
        if self._closed:
            raise QueueClosed(f"{self.bus.name} is closed")
        if not self._thread.on_thread():
            self.flush(5.0)
        return str(self._thread.call(self._quiet_tree, timeout=10.0))

    def _quiet_tree(self) -> str:
        # bubus also logs every line of the tree at WARNING; we return it instead. The filter
        # drops only records of the events thread, which runs nothing else meanwhile.
        bubus_log = logging.getLogger("bubus")
        this_thread = threading.get_ident()
        quiet = _ThreadFilter(this_thread)
        bubus_log.addFilter(quiet)
        try:
            return str(self.bus.log_tree())
        finally:
            bubus_log.removeFilter(quiet)

    def get_metrics(self) -> dict[str, Any]:
        """Counts since creation: events received from the queue (by name), dispatched, pending,
        dropped, and handler calls and errors."""
        with self._lock:
            return {
                "received": dict(self._received),
                "received_total": sum(self._received.values()),
                "dispatched": self._dispatched,
                "pending": self._backlog,
                "dropped": self._dropped,
                "handlers": self._handlers,
                "handler_calls": self._calls,
                "handler_errors": self._errors,
                "history": len(self.bus.event_history),
                "closed": self._closed,
            }

    # ── lifecycle ──
    def close(self, timeout: float = 5.0) -> None:
        """Detach from the queue, deliver what was already received (up to `timeout` seconds),
        stop the bus; idempotent. Waiting `expect()` calls raise `QueueClosed`."""
        if self._closing:
            return
        self._not_from_handler("close")
        with self._lock:
            if self._closing:
                return
            self._closing = True
        for event, listener in self._listeners.items():
            self.queue.off(event, listener)
        delivered = threading.Event()
        self._send(delivered.set)
        if not delivered.wait(timeout):
            log.warning("%s: closed with %d events not yet handled", self.bus.name, self._backlog)
        with self._lock:
            self._closed = True
        try:
            self._thread.run(self._shutdown(), timeout=timeout + 1.0)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("%s: the bus did not stop cleanly", self.bus.name, exc_info=True)
        finally:
            _loop.release(self._thread)

    async def _shutdown(self) -> None:
        self._inbox.put_nowait(None)
        try:
            await asyncio.wait_for(self._pump_task, 1.0)
        except (TimeoutError, asyncio.CancelledError):
            pass
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if callable(item):
                item()  # an expect() or flush() that raced with close: let it finish below
            elif item is not None:
                self._done()
        for task in list(self._expects):
            task.cancel()
        await self.bus.stop(clear=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<QueueEventBus {self.bus.name} closed={self._closed}>"


class _ThreadFilter(logging.Filter):
    def __init__(self, thread_id: int) -> None:
        super().__init__()
        self.thread_id = thread_id

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread_id


def _settle(found: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    """Hand an expect task's outcome to the blocked caller (who may have given up meanwhile)."""
    if task.cancelled():
        found.cancel()
        return
    try:
        if task.exception() is not None:
            found.set_exception(task.exception())
        else:
            found.set_result(task.result())
    except concurrent.futures.InvalidStateError:
        pass  # the caller timed out or was interrupted first
