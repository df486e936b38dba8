"""Running task jobs: the payload envelope, and the hooks a worker calls to execute one.

A task job's payload is `{"__task__": name, "args": [...], "kwargs": {...}}` (plus, for
periodic ticks, `"tick": due_epoch`). A worker runs one like this::

    try:
        result = execute_task_payload(job.payload, job)
    except Exception as exc:
        queue.fail_job(job, error=exc, **task_fail_kwargs(job.payload, exc, job))
    else:
        queue.complete_job(job, result=result)

or simply calls `process_task_job(queue, job)`, which does that and also fails, permanently,
a job whose result is not JSON.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._context import _CURRENT, current_job, enter, running
from ..errors import InvalidPayload, LeaseLost
from ..handler import JobHandler
from ..models import Job, JobStatus
from ..retry import Retry, RetryPolicy
from .errors import MalformedTaskPayload
from .registry import registry

if TYPE_CHECKING:
    from ..queue import Queue
    from .task import Task

__all__ = [
    "TASK_KEY",
    "TaskHandler",
    "TaskRetryOptions",
    "current_job",
    "execute_task_payload",
    "execute_task_payload_async",
    "is_task_payload",
    "make_envelope",
    "process_task_job",
    "resolve_handler",
    "run_task",
    "task_fail_kwargs",
    "task_retry_options",
    "task_timeout",
    "worker_task_handler",
]

log = logging.getLogger("queue_max.tasks")

TASK_KEY = "__task__"
_ENVELOPE_KEYS = frozenset({TASK_KEY, "args", "kwargs", "tick"})



def make_envelope(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of a job that runs task `name` with these arguments."""
    return {TASK_KEY: name, "args": list(args), "kwargs": dict(kwargs)}


def is_task_payload(payload: object) -> bool:
    """Whether a job payload is a task envelope (a dict with a `__task__` key)."""
    return isinstance(payload, dict) and TASK_KEY in payload




def _unpack(payload: object) -> tuple[Task[Any, Any], list[Any], dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get(TASK_KEY), str):
        raise MalformedTaskPayload(f"not a task payload (no string {TASK_KEY!r} key): {payload!r:.120}")
    args, kwargs = payload.get("args", []), payload.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict) or not payload.keys() <= _ENVELOPE_KEYS:
        raise MalformedTaskPayload(
            f"task payload must be {{{TASK_KEY!r}: name, 'args': [...], 'kwargs': {{...}}}}, "
            f"got {payload!r:.120}"
        )
    task = registry.get(payload[TASK_KEY])
    problem = task.argument_problem(args, kwargs)
    if problem is not None:
        # e.g. the function's signature changed since the job was enqueued: retrying cannot help
        raise MalformedTaskPayload(f"task {task.name!r}: {problem}")
    return task, args, kwargs




async def _await(awaitable: Any) -> Any:
    return await awaitable


def execute_task_payload(payload: object, job: Job | None = None) -> Any:
    """Run the task a payload names and return its result (a coroutine task runs to completion).

    Raises `UnknownTask` / `MalformedTaskPayload` (both `Permanent`: dead-letter the job), or
    whatever the task raised.
    """
    task, args, kwargs = _unpack(payload)
    return _run(task, args, kwargs, job)


def _run(task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any], job: Job | None,
         entered: bool = False) -> Any:
    """Call an unpacked task with `job` as the current job (`entered`: the caller made it so),
    counting how it ended (and telling its `on_success` / `on_failure`). Its own `rate_limit`
    was applied, host-wide, when its job was claimed (see queue_max.flow)."""
    token = None if entered else enter(job)
    try:
        # no empty dict built and merged for `**` when there is no keyword argument
        result = task.fn(*args, **kwargs) if kwargs else task.fn(*args)
        if result is not None and inspect.isawaitable(result):
            import asyncio  # only coroutine tasks pay for importing it

            result = asyncio.run(_await(result))
    except BaseException as exc:
        task.stats.count("failed")
        if task.reports:
            task.report(exc)
        raise
    finally:
        if token is not None:
            _CURRENT.reset(token)
    task.stats.count("succeeded")
    if task.reports:
        task.report(None, result)
    return result


async def execute_task_payload_async(payload: object, job: Job | None = None) -> Any:
    """`execute_task_payload` for an event loop: awaits coroutine tasks in the running loop.

    A plain function runs inline, in the loop's thread; use `asyncio.to_thread` if it blocks.
    """
    task, args, kwargs = _unpack(payload)
    with running(job):
        try:
            result = task.fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except BaseException as exc:
            task.stats.count("failed")
            task.report(exc)
            raise
    task.stats.count("succeeded")
    task.report(None, result)
    return result


def _in_event_loop() -> bool:
    """Whether this thread runs an event loop (asked for every task job a worker runs)."""
    events = sys.modules.get("asyncio.events")
    if events is None:
        return False  # no loop can run without asyncio imported
    # `_get_running_loop` answers None where `get_running_loop` raises RuntimeError: 0.03 µs
    # against 0.3 µs a call (timeit, dev machine), about 1% of a worker's time per task job.
    return events._get_running_loop() is not None


def run_task(payload: dict[str, Any]) -> Any:
    """A worker `process_function` that runs task jobs: `Worker("w", run_task, queue)`.

    Called from a running event loop (an `AsyncWorker`), it returns a coroutine to await.
    It does not see the job, so `current_job()` is None inside the task; a worker without a
    `process_function` dispatches through `resolve_handler`, which does.
    """
    if _in_event_loop():
        return execute_task_payload_async(payload)
    return execute_task_payload(payload)


@dataclass(frozen=True, slots=True)
class TaskRetryOptions:
    """What a worker needs from a task's definition to run or fail its job."""

    retry_on: tuple[type[BaseException], ...] | None = None
    policy: RetryPolicy | None = None
    max_retries: int | None = None
    timeout: float | None = None

    def retry_delay(self, exc: BaseException, attempts: int) -> float | None:
        """The task's own backoff for this failure, or None (the queue's, or `Retry`'s delay)."""
        if self.policy is None or (isinstance(exc, Retry) and exc.delay is not None):
            return None
        return self.policy.delay_for(max(1, attempts))


_NO_OPTIONS = TaskRetryOptions()


def task_retry_options(payload: object) -> TaskRetryOptions:
    """The retry options of the task a payload names (defaults for any other payload)."""
    if not isinstance(payload, dict) or not isinstance(payload.get(TASK_KEY), str):
        return _NO_OPTIONS
    task = registry.find(payload[TASK_KEY])
    return _NO_OPTIONS if task is None else task.retry_options


def task_fail_kwargs(payload: object, exc: BaseException, job: Job | None = None) -> dict[str, Any]:
    """Keyword arguments for `Queue.fail_job(job, error=exc, **these)`: `retry_on`, `retry_delay`."""
    options = task_retry_options(payload)
    attempts = job.tentativas if job is not None else 1
    return {"retry_on": options.retry_on, "retry_delay": options.retry_delay(exc, attempts)}


def task_timeout(payload: object) -> float | None:
    """The `timeout=` of the task a payload names, in seconds; None if it has none."""
    return task_retry_options(payload).timeout


class TaskHandler:
    """The callable that runs one task job, with what the worker needs to know about the task.

    `timeout` and `retry_on` are the task's options; `retry_delay(exc, attempts)` its backoff.
    """

    def __init__(self, job: Job | None, name: str, options: TaskRetryOptions, *,
                 unpacked: tuple[Task[Any, Any], list[Any], dict[str, Any]] | None = None) -> None:
        self.job = job
        self.name = name
        self.timeout = options.timeout
        self.retry_on = options.retry_on
        self.retry_delay = options.retry_delay
        self._unpacked = unpacked  # the job's payload, already checked by `resolve_handler`

    def __call__(self, payload: dict[str, Any]) -> Any:
        """The task's result; from a running event loop, a coroutine that gives it."""
        if _in_event_loop():
            return execute_task_payload_async(payload, self.job)
        unpacked = self._unpacked
        if unpacked is not None and self.job is not None and payload is self.job.payload:
            return _run(*unpacked, self.job)
        return execute_task_payload(payload, self.job)

    def __repr__(self) -> str:
        return f"<TaskHandler {self.name}>"


def worker_task_handler(payload: object) -> JobHandler:
    """The handler of a task job for a thread worker whose runner makes the job current itself
    (`current_job()`) and never runs it inside an event loop: checked as `resolve_handler`
    checks it (`UnknownTask`, `MalformedTaskPayload`), then the task's one handler.

    The speed trick of the thread worker's task path: `resolve_handler` builds a `TaskHandler`
    and a `JobHandler` for every job, and running one goes through two `__call__`s, an
    event-loop probe and `enter(job)`; this builds one handler per task, on first use (-18k
    instructions a task job, 55.6k -> 37.5k: one runner thread running claimed jobs under
    callgrind). The envelope `.delay()` and `map` write (its three keys, no keyword argument)
    for a task whose parameters are all plain is then accepted here with one registry read
    and a count of its arguments (keys read by subscript, the count by two int comparisons),
    without `_unpack`'s five calls, and `run_task_job` runs it without `_run` (together -8.8k
    instructions a task job, 162.8k -> 154.0k against 141.7k for a plain job: one runner
    thread claiming, running and acknowledging, `python benchmarks/instr_task.py task plain`)."""
    if type(payload) is dict and len(payload) == 3:
        try:
            task, args, kwargs = _find_task(payload[TASK_KEY]), payload["args"], payload["kwargs"]
        except (KeyError, TypeError):  # not those three keys, or a name that cannot be one
            task = None
        if task is not None and type(args) is list and kwargs == _NO_KWARGS:
            entry = task.worker_entry
            if entry is not None and entry[1] <= len(args) <= entry[2]:
                return entry[0]
    return _checked_worker_handler(payload)


_NO_KWARGS: dict[str, Any] = {}  # compared with, never changed


# the registry dict's own `get`: no Python frame for the lookup of every task job
_find_task = registry.finder()


def _checked_worker_handler(payload: object) -> JobHandler:
    task = _unpack(payload)[0]
    entry = task.worker_entry
    if entry is None:
        options = task.retry_options
        handler = JobHandler.checked(_payload_runner(task), options.timeout, options.policy, options.retry_on)
        entry = task.worker_entry = (handler, *task.positional_counts())
    return entry[0]


def _payload_runner(task: Task[Any, Any]) -> Callable[[dict[str, Any]], Any]:
    def run_task_job(payload: dict[str, Any]) -> Any:
        try:
            # subscripts, not two `get` calls: 4.38k -> 4.12k instructions a run of this
            # function alone (a one-thread loop over decoded envelopes under callgrind)
            args, kwargs = payload["args"], payload["kwargs"]
        except KeyError:  # an envelope may leave either out
            args, kwargs = payload.get("args", ()), payload.get("kwargs", {})
        return _run(task, args, kwargs, None, True)

    run_task_job.__qualname__ = f"run_task_job[{task.name}]"
    return run_task_job


def resolve_handler(job: Job) -> JobHandler:
    """The handler of a task job (the workers' dispatch hook): the task, with its `timeout`,
    backoff `policy` and `retry_on`. Raises `UnknownTask` or `MalformedTaskPayload` (both
    `Permanent`) for a job it cannot run."""
    unpacked = _unpack(job.payload)
    task = unpacked[0]
    options = task.retry_options
    return JobHandler.checked(TaskHandler(job, task.name, options, unpacked=unpacked), options.timeout,
                              options.policy, options.retry_on)


def process_task_job(queue: Queue, job: Job) -> JobStatus:
    """Run one claimed task job and acknowledge it: completed, retried or dead-lettered.

    A result that is not JSON fails the job permanently (its type and message are kept).
    Returns the job's new status; after a lost lease (logged) it returns PROCESSING.
    """
    try:
        result = execute_task_payload(job.payload, job)
    except Exception as exc:
        return _fail(queue, job, exc, task_fail_kwargs(job.payload, exc, job))
    try:
        queue.complete_job(job, result=result)
    except InvalidPayload as exc:
        return _fail(queue, job, exc, {"permanent": True})
    except LeaseLost:
        log.warning("job %d: lease lost before completion; another worker owns it now", job.id)
        return JobStatus.PROCESSING
    return JobStatus.COMPLETED


def _fail(queue: Queue, job: Job, exc: BaseException, kwargs: dict[str, Any]) -> JobStatus:
    try:
        return queue.fail_job(job, error=exc, **kwargs)
    except LeaseLost:
        log.warning("job %d: lease lost before its failure was recorded", job.id)
        return JobStatus.PROCESSING
