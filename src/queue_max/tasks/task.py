"""The `@task` decorator and `Task`: a function that runs now when called, or later on a worker."""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from typing_extensions import Unpack

from .._payload import encode_payload, encode_value
from ..config import Settings
from ..errors import ConfigError, InvalidPayload
from ..handler import JobHandler
from .._flow_limits import TaskBreaker, TaskLimits, set_task_breaker, set_task_limits
from ..retry import error_info
from ._binding import ArgumentCheck
from ._defaults import _state as _defaults, get_default_queue, is_eager
from ._options import (
    CallOptions,
    TaskOptions,
    TaskOptionsDict,
    check_call_options,
    check_task_options,
)
from .dispatch import TASK_KEY, TaskRetryOptions, execute_task_payload, make_envelope
from .errors import InvalidTaskArguments, TaskFailed
from .handle import EagerHandle, TaskHandle
from .registry import check_name, default_name, registry

if TYPE_CHECKING:
    from ..queue import Queue

log = logging.getLogger("queue_max.tasks")

__all__ = ["Task", "TaskCall", "TaskMethods", "TaskStats", "make_task", "task"]

P = ParamSpec("P")
R = TypeVar("R")

_DEFAULT_LIMIT = Settings().max_payload_bytes


class TaskStats:
    """Per-process counters of one task (thread-safe).

    Each thread counts in its own dict, added up by `snapshot`: worker threads count every job
    they run, and a shared lock there cost about 3% of a 4-thread drain (py-spy, GIL samples)."""

    KEYS = ("calls", "enqueued", "eager", "succeeded", "failed")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.local = threading.local()  # `.counts`: this thread's, once it counted (see `counts`)
        self._all: list[dict[str, int]] = []  # every thread's counts, kept after it exits

    def count(self, key: str, n: int = 1) -> None:
        try:
            counts: dict[str, int] = self.local.counts
        except AttributeError:
            counts = self.counts()
        counts[key] += n

    def counts(self) -> dict[str, int]:
        """This thread's counts, to add to (made on the thread's first count)."""
        try:
            counts: dict[str, int] = self.local.counts
        except AttributeError:
            counts = self.local.counts = dict.fromkeys(self.KEYS, 0)
            with self._lock:
                self._all.append(counts)
        return counts

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            threads = list(self._all)
        return {key: sum(counts[key] for counts in threads) for key in self.KEYS}


def _rewrite(exc: InvalidPayload, where: str) -> InvalidPayload:
    text = str(exc).replace("payload['args']", "args").replace("payload['kwargs']", "kwargs")
    text = text.replace("enqueue_batch item", "item")
    return type(exc)(f"{where}: {text}")


def _plain_options(options: TaskOptions) -> dict[str, Any]:
    """`Queue.enqueue` keywords of a call without per-call options, built once per task.

    Those at the queue's defaults are left out, so such a call takes the enqueue's fast path."""
    keywords: dict[str, Any] = {}
    if options.priority != 0:
        keywords["priority"] = options.priority
    if options.max_retries is not None:
        keywords["max_retries"] = options.max_retries
    if options.queue_name != "default":
        keywords["queue_name"] = options.queue_name
    return keywords


class TaskMethods(Generic[P, R]):
    """The ways to enqueue a call, shared by `Task` and `TaskCall`."""

    _task: Task[P, R]
    _call: dict[str, Any]

    def with_options(self, **options: Unpack[CallOptions]) -> TaskCall[P, R]:
        """The same task with per-call overrides: priority, max_retries, delay, run_at,
        dedupe_key, dedupe_window, shard_key, queue, queue_name, concurrency_key."""
        where = f"{self._task.name}.with_options()"
        merged = {**self._call, **check_call_options(where, options)}
        check_call_options(where, merged)
        return TaskCall(self._task, merged)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]:
        """Enqueue a call of the task; returns its handle (runs inline in eager mode)."""
        return self._task._submit(self._call, args, kwargs, "delay")

    def schedule_in(self, seconds: float, /, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]:
        """Enqueue a call that no worker starts before `seconds` from now."""
        return self._task._submit(self._scheduled("schedule_in", delay=seconds), args, kwargs, "schedule_in")

    def schedule_at(self, when: datetime, /, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]:
        """Enqueue a call that no worker starts before `when`, an aware datetime (naive is refused)."""
        where = f"{self._task.name}.schedule_at()"
        if not isinstance(when, datetime):
            raise InvalidPayload(f"{where}: when must be a timezone-aware datetime, got {when!r:.60}")
        if when.tzinfo is None or when.utcoffset() is None:
            raise InvalidPayload(
                f"{where}: when must be timezone-aware, got naive {when!r}; a naive datetime is "
                "ambiguous (local time? UTC?), so it is refused: use datetime.now(timezone.utc) "
                "+ timedelta(...) or attach a tzinfo"
            )
        return self._task._submit(self._scheduled("schedule_at", run_at=when), args, kwargs, "schedule_at")

    def _scheduled(self, method: str, **when: Any) -> dict[str, Any]:
        for key in ("delay", "run_at"):
            if key in self._call:
                raise InvalidPayload(f"{self._task.name}.{method}(): with_options() already set "
                                     f"{key}=; give the time once")
        return {**self._call, **when}

    def map(self, items: Iterable[Any], *args: Any, **kwargs: Any) -> list[TaskHandle[R]]:
        """Enqueue one job per item, in one batch: job i runs `task(item_i, *args, **kwargs)`."""
        return self._task._submit_many(self._call, items, args, kwargs)

    def bulk_delay(self, calls: Iterable[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[TaskHandle[R]]:
        """Enqueue one job per `(args, kwargs)` pair, in one batch, handles in order (0.1.1)."""
        return self._task._submit_many(self._call, calls, (), {}, method="bulk_delay")


class Task(TaskMethods[P, R]):
    """A registered task: call it to run it now, `.delay()` it to run it on a worker."""

    def __init__(self, fn: Callable[P, R], name: str, options: TaskOptions) -> None:
        functools.update_wrapper(self, fn)  # first, so the function's __dict__ cannot shadow ours
        self.fn = fn
        self.name = name
        self.options = options
        self.stats = TaskStats()
        self._task = self
        self._call: dict[str, Any] = {}
        self._arguments = ArgumentCheck(fn)
        self._plain_options = _plain_options(options)
        self.retry_options = TaskRetryOptions(options.retry_on, options.retry_policy(),
                                              options.max_retries, options.timeout)
        self.reports = options.on_success is not None or options.on_failure is not None
        self._keyless = options.concurrency_key is None
        # (its one handler, the fewest and most positional arguments that need no check): see
        # dispatch.worker_task_handler, which builds it on first use
        self.worker_entry: tuple[JobHandler, int, int] | None = None

    def report(self, error: BaseException | None, result: Any = None) -> None:
        """Call `on_success(result)` or `on_failure(error)` after a run; a callback that raises
        is logged and changes nothing."""
        callback = self.options.on_success if error is None else self.options.on_failure
        if callback is None:
            return
        try:
            callback(result if error is None else error)
        except Exception:
            log.exception("task %s: %s callback failed (ignored)", self.name,
                          "on_success" if error is None else "on_failure")

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> TaskHandle[R]:
        """Enqueue a call of the task; returns its handle (runs inline in eager mode)."""
        # The speed trick of `.delay()`: a call with positional arguments alone, whose count
        # certainly fits (see `ArgumentCheck.least`), of a task without a concurrency key
        # function, outside eager mode, is enqueued here: no `_submit` and no calls for the
        # check, the envelope, the eager flag, the queue, the options and the count (112.3k ->
        # 102.8k instructions a call against 81.1k for `Queue.enqueue`:
        # `python benchmarks/instr_task.py delay enqueue`)
        fits = self._arguments
        if kwargs or not fits.least <= len(args) <= fits.most or not self._keyless or _defaults.eager:
            return self._submit(self._call, args, kwargs, "delay")
        queue = self.options.queue
        if queue is None:
            queue = self.queue  # the default queue, or a subclass's (FlaskTask's)
        envelope = {TASK_KEY: self.name, "args": list(args), "kwargs": {}}
        options = self._plain_options
        try:
            ref = queue.enqueue(envelope, **options) if options else queue.enqueue(envelope)
        except InvalidPayload as exc:
            raise _rewrite(exc, f"{self.name}.delay()") from None
        try:
            counts = self.stats.local.counts
        except AttributeError:
            counts = self.stats.counts()
        counts["enqueued"] += 1
        return TaskHandle(queue, ref["id"], ref["shard_id"], self.name)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the task synchronously in this thread, like the plain function."""
        self.stats.count("calls")
        return self.fn(*args, **kwargs)

    @property
    def queue(self) -> Queue:
        """The queue this task enqueues to: its `queue=`, else the default queue."""
        return self.options.queue if self.options.queue is not None else get_default_queue()

    def get_queue(self) -> Queue:
        """The task's queue (as in queue-max 0.1.1; same as `.queue`)."""
        return self.queue

    @property
    def version(self) -> int:
        """The `version=` the task was declared with (default 1)."""
        return self.options.version

    def get_stats(self) -> dict[str, Any]:
        """This process's counters for the task, its options, and its queue's stats
        (`queue_stats`, None when the task has no queue yet)."""
        o = self.options
        try:
            queue_stats: dict[str, Any] | None = self.queue.get_stats()
        except ConfigError:  # no queue= and no default queue
            queue_stats = None
        return {"name": self.name, "task_name": self.name, "version": o.version, **self.stats.snapshot(),
                "priority": o.priority, "max_retries": o.max_retries, "timeout": o.timeout,
                "rate_limit": o.rate_limit,
                "retry_on": None if o.retry_on is None else [t.__name__ for t in o.retry_on],
                "queue_stats": queue_stats}

    # ── enqueueing ──
    def positional_counts(self) -> tuple[int, int]:
        """How many positional arguments certainly fit, given no keyword argument (see
        `ArgumentCheck.positional_counts`)."""
        return self._arguments.positional_counts()

    def argument_problem(self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> str | None:
        """Why these arguments do not fit the function's signature, or None if they do."""
        return self._arguments.problem(args, kwargs)

    def _check_args(self, where: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        problem = self.argument_problem(args, kwargs)
        if problem is not None:
            raise InvalidTaskArguments(f"{where}: {problem}")

    def _queue_for(self, call: dict[str, Any]) -> Queue:
        queue: Queue | None = call.get("queue")
        return queue if queue is not None else self.queue

    def _job_options(self, call: dict[str, Any]) -> dict[str, Any]:
        if not call:
            return self._plain_options
        return {
            "priority": call.get("priority", self.options.priority),
            "max_retries": call.get("max_retries", self.options.max_retries),
            "queue_name": call.get("queue_name", self.options.queue_name),
            **{k: call[k] for k in ("delay", "run_at", "dedupe_key", "dedupe_window", "concurrency_key")
               if k in call},
            **({"pagina_id": call["shard_key"]} if "shard_key" in call else {}),
        }

    def concurrency_key_of(self, where: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """The job's concurrency key from the task's key function (None without one)."""
        function = self.options.concurrency_key
        if function is None:
            return None
        try:
            key = function(*args, **kwargs)
        except Exception as exc:
            raise InvalidPayload(f"{where}: the concurrency_key function raised {type(exc).__name__}: {exc}; "
                                 "nothing was enqueued") from exc
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise InvalidPayload(f"{where}: the concurrency_key function must return a str or an int, "
                                 f"got {key!r:.80}; nothing was enqueued")
        return str(key)

    def _keyed(self, where: str, call: dict[str, Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> dict[str, Any]:
        if "concurrency_key" in call or self.options.concurrency_key is None:
            return call
        return {**call, "concurrency_key": self.concurrency_key_of(where, args, kwargs)}

    def _submit(self, call: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                method: str) -> TaskHandle[R]:
        problem = self._arguments.problem(args, kwargs)
        if problem is not None:
            raise InvalidTaskArguments(f"{self.name}.{method}(): {problem}")
        envelope = make_envelope(self.name, args, kwargs)
        if is_eager()[0]:
            return self._run_eagerly(f"{self.name}.{method}()", call, envelope)
        if "concurrency_key" not in call and self.options.concurrency_key is not None:
            call = self._keyed(f"{self.name}.{method}()", call, args, kwargs)
        queue = self._queue_for(call)
        try:
            ref = queue.enqueue(envelope, **self._job_options(call))
        except InvalidPayload as exc:
            raise _rewrite(exc, f"{self.name}.{method}()") from None
        self.stats.count("enqueued")
        return TaskHandle(queue, ref["id"], ref["shard_id"], self.name, created=bool(ref.get("created", True)))

    def _submit_many(self, call: dict[str, Any], items: Iterable[Any], args: tuple[Any, ...],
                     kwargs: dict[str, Any], method: str = "map") -> list[TaskHandle[R]]:
        where = f"{self.name}.{method}()"
        if isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
            raise InvalidPayload(f"{where}: items must be an iterable with one item per job (a list), "
                                 f"got {type(items).__name__} {items!r:.60}")
        if "dedupe_key" in call or "dedupe_window" in call:
            raise InvalidPayload(f"{where}: dedupe_key names one job; {method}() enqueues many, give none")
        keyed = "concurrency_key" not in call and self.options.concurrency_key is not None
        envelopes, call_args = self._envelopes(where, items, args, kwargs, method, keyed)
        if is_eager()[0]:
            return [self._run_eagerly(f"{where} item {i}", call, env) for i, env in enumerate(envelopes)]
        queue = self._queue_for(call)
        options = self._job_options(call)
        specs = [{"payload": env, **options} for env in envelopes]
        if keyed:
            for index, ((item_args, item_kwargs), spec) in enumerate(zip(call_args, specs)):
                spec["concurrency_key"] = self.concurrency_key_of(f"{where} item {index}", item_args, item_kwargs)
        try:
            batch = queue.enqueue_batch(specs)
        except InvalidPayload as exc:
            raise _rewrite(exc, where) from None
        self.stats.count("enqueued", batch["total"])
        return [TaskHandle(queue, job_id, queue.shard_of(job_id), self.name) for job_id in batch["ids"]]

    def _envelopes(self, where: str, items: Iterable[Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                   method: str, keyed: bool) -> tuple[list[dict[str, Any]], list[tuple[tuple[Any, ...], dict[str, Any]]]]:
        """The checked envelope of each item of `map` / `bulk_delay`, and (when `keyed`: the
        concurrency key function needs them) each item's (args, kwargs).

        The speed trick of a batch: an item's label ("<where> item <i>") is written only for an
        item whose arguments do not fit, and the argument check is called directly (it was
        three calls and a formatted label per item; with no concurrency key function, no
        (args, kwargs) list either: -3.5k instructions a job of `map`, 54.8k -> 51.3k, callgrind
        on the `map` call alone). A `map` whose calls certainly fit (the same count of
        positional arguments in each, no keyword argument) checks none of them (48.9k -> 45.1k
        a job against 26.5k for `enqueue_batch`: `python benchmarks/instr_task.py map batch`)."""
        name = self.name
        least, most = self._arguments.positional_counts()
        if method == "map" and not kwargs and not keyed and least <= 1 + len(args) <= most:
            # every item's call has the same shape, which certainly fits: nothing to check an item
            return [{TASK_KEY: name, "args": [item, *args], "kwargs": {}} for item in items], []
        problem_of = self._arguments.problem
        envelopes: list[dict[str, Any]] = []
        call_args: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        for index, item in enumerate(items):
            item_args, item_kwargs = (item, *args), kwargs
            if method == "bulk_delay":
                item_args, item_kwargs = _call_pair(where, index, item)
            problem = problem_of(item_args, item_kwargs)
            if problem is not None:
                raise InvalidTaskArguments(f"{where} item {index}: {problem}")
            envelopes.append(make_envelope(name, item_args, item_kwargs))
            if keyed:
                call_args.append((item_args, item_kwargs))
        return envelopes, call_args

    def _run_eagerly(self, where: str, call: dict[str, Any], envelope: dict[str, Any]) -> TaskHandle[R]:
        queue: Queue | None = call.get("queue", self.options.queue)
        limit = queue.options.max_payload_bytes if queue is not None else _DEFAULT_LIMIT
        try:
            text = encode_payload(envelope, limit)
        except InvalidPayload as exc:
            raise _rewrite(exc, where) from None
        self.stats.count("eager")
        try:
            # through JSON both ways, as a worker would see the call and the handle the result
            result = json.loads(encode_value(execute_task_payload(json.loads(text)), "result"))
        except Exception as exc:
            if is_eager()[1]:
                raise
            name, message, stack = error_info(exc)
            return EagerHandle(self.name, error=TaskFailed(name, message, traceback=stack, attempts=1))
        return EagerHandle(self.name, result=result)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"


class TaskCall(TaskMethods[P, R]):
    """A task with per-call options (from `Task.with_options`); enqueue with `.delay()` etc."""

    def __init__(self, task: Task[P, R], call: dict[str, Any]) -> None:
        self._task = task
        self._call = call

    def __repr__(self) -> str:
        return f"<TaskCall {self._task.name} {self._call!r}>"


def _call_pair(where: str, index: int, item: object) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """One `(args, kwargs)` item of `bulk_delay`."""
    if (not isinstance(item, (tuple, list)) or len(item) != 2 or not isinstance(item[0], (tuple, list))
            or not isinstance(item[1], dict)):
        raise InvalidPayload(f"{where}: item {index} must be an (args tuple, kwargs dict) pair, got {item!r:.60}")
    return tuple(item[0]), item[1]


def make_task(fn: object, options: dict[str, Any], where: str, cls: type[Task[Any, Any]] = Task,
              **attributes: Any) -> Any:
    """Validate, build and register a task of class `cls` (with extra `attributes` set first)."""
    if isinstance(fn, Task):
        raise ConfigError(f"{where}: {fn.name!r} is already a task; decorate the function once")
    if not callable(fn) or isinstance(fn, type):
        raise ConfigError(f"{where} decorates a function, got {fn!r:.80}")
    given = dict(options)
    name = given.pop("name", None)
    if name is None:
        if "<lambda>" in getattr(fn, "__qualname__", ""):
            raise ConfigError(f"{where}: a lambda has no stable name; pass name='...'")
        name = default_name(fn)
    built = cls(fn, check_name(name), check_task_options(where, given))
    for key, value in attributes.items():
        setattr(built, key, value)
    registry.register(built)
    o = built.options
    set_task_limits(built.name, TaskLimits(o.rate_limit or 0, o.rate_limit_burst, o.concurrency_limit or 0))
    set_task_breaker(built.name, None if o.circuit_breaker_threshold is None
                     else TaskBreaker(o.circuit_breaker_threshold, o.circuit_breaker_timeout))
    return built


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(fn: None = None, /, **options: Unpack[TaskOptionsDict]) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Register a function as a task: `@task` or `@task(priority=2, max_retries=5, ...)`.

    Options: name (default `module:qualname`), priority, max_retries (None: the queue's),
    timeout (seconds, enforced by the worker), queue (default: the default queue), retry_on
    (exception types worth retrying), retry_backoff / retry_backoff_max (the task's backoff),
    queue_name (the named queue its jobs go to), rate_limit / rate_limit_burst (jobs of this task
    started per minute, host-wide), concurrency_key (a function of the task's arguments) with
    concurrency_limit (jobs of one key running at once, host-wide; default 1),
    circuit_breaker_threshold / circuit_breaker_timeout (the task's own host-wide breaker).
    """
    if fn is not None:
        return make_task(fn, options, "@task")
    check_task_options("@task(...)", {k: v for k, v in options.items() if k != "name"})
    if "name" in options:
        check_name(options["name"])

    def decorate(func: Callable[P, R]) -> Task[P, R]:
        built: Task[P, R] = make_task(func, options, "@task(...)")
        return built

    return decorate
