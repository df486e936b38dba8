"""`queue-max worker`: run jobs in this process (threads) or in supervised worker processes."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

from ..config import child_environment
from .._flow_limits import check_queue_list
from ..workers import Supervisor, Worker, WorkerOptions
from ._context import Context, count, duration, non_negative, queue_list
from ._errors import ExitCode, UsageError
from ..loading import import_tasks, load_function
from ..logs import LEVELS, log_to_stderr
from ._output import emit_json, plural
from ._status import StatusFile, status_interval

__all__ = ["register", "timing_arguments", "worker_options"]

log = logging.getLogger("queue_max.cli")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def timing_arguments(parser: argparse.ArgumentParser) -> None:
    """A worker's `--shutdown-timeout`, `--job-timeout` and `--poll-interval`, for any argparse parser."""
    parser.add_argument("--shutdown-timeout", type=duration, default=10.0, metavar="SECONDS",
                        help="how long running jobs may finish after a stop signal (default 10)")
    parser.add_argument("--job-timeout", type=duration, metavar="SECONDS", help="time limit per job")
    parser.add_argument("--poll-interval", type=duration, default=1.0, metavar="SECONDS",
                        help="longest wait between polls when idle (default 1)")


def worker_options(flags: Mapping[str, Any], threads: int) -> WorkerOptions:
    """The `WorkerOptions` of a worker command's flags (`queue-max worker`, `flask queue worker`,
    `manage.py queue_worker`): one reading of them for every program that runs workers."""
    return WorkerOptions(concurrency=threads, poll_interval=flags["poll_interval"], job_timeout=flags["job_timeout"],
                         shutdown_timeout=flags["shutdown_timeout"], max_jobs=flags.get("max_jobs"),
                         burst=bool(flags.get("burst")), queues=check_queue_list(flags.get("queues")),
                         scheduler=not flags.get("no_scheduler", False))


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("worker", parents=[common], help="run jobs until stopped",
                       description="Run jobs: a handler function (--function) and/or registered "
                                   "tasks (--tasks), in threads of this process or in several "
                                   "supervised processes. SIGTERM or SIGINT stops gracefully "
                                   "(running jobs finish, up to --shutdown-timeout); a second "
                                   "signal stops at once, releasing running jobs.")
    p.add_argument("--function", metavar="MODULE:FUNC", help="call FUNC(payload) for each job")
    p.add_argument("--tasks", action="append", default=[], metavar="MODULE",
                   help="import MODULE and run the @task functions it registers, by name "
                        "(repeat, or separate with commas)")
    p.add_argument("--workers", type=count, metavar="N", help="threads in this process (as in queue-max 0.1.1)")
    p.add_argument("--threads", type=count, metavar="M", help="threads per process (default 1)")
    p.add_argument("--processes", type=count, default=1, metavar="N",
                   help="worker processes, each with --threads threads, restarted if they crash (default 1)")
    p.add_argument("--burst", action="store_true", help="exit once the queue has no ready job")
    p.add_argument("--max-jobs", type=count, metavar="N", help="exit after N jobs (with --processes 1): N handlers start, prefetched jobs "
                        "beyond N are given back")
    p.add_argument("--max-jobs-per-child", type=count, metavar="N",
                   help="with --processes: replace a worker process after N jobs")
    timing_arguments(p)
    p.add_argument("--rate-limit", type=non_negative, metavar="N",
                   help="jobs started per minute in each queue consumed, for the whole host (every "
                        "process shares one bucket per queue); 0 = no limit (default: RATE_LIMIT_MAX, "
                        "unset = no limit)")
    p.add_argument("--rate-limit-burst", type=count, metavar="N",
                   help="most jobs a queue may start at once under --rate-limit (default: a minute's worth)")
    p.add_argument("--queues", type=queue_list, metavar="Q1,Q2",
                   help="consume only these named queues, earlier ones first (a later queue still gets "
                        "one claim batch in 8); default: every queue")
    p.add_argument("--no-scheduler", action="store_true",
                   help="do not fire @periodic_task schedules from this worker (default: every worker "
                        "process runs them; each tick is enqueued once)")
    p.add_argument("--name", metavar="NAME", help="worker name prefix (default: the host name)")
    p.add_argument("--log-level", type=str.upper, choices=LEVELS, metavar="LEVEL",
                   help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default QUEUE_MAX_LOG_LEVEL)")
    p.set_defaults(run=run)


# ── signals ──
class _Signals:
    """Notes which stop signal came first; what a signal does is `on_signal`'s business."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._before: dict[int, Any] = {}

    def save(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._before = {signum: signal.getsignal(signum) for signum in _SIGNALS}

    def install(self, on_signal: Callable[[int, FrameType | None], None]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self.received.append(signum)
            on_signal(signum, frame)

        for signum in _SIGNALS:
            signal.signal(signum, handler)

    def restore(self) -> None:
        for signum, previous in self._before.items():
            signal.signal(signum, previous)

    def exit_code(self, clean: bool) -> ExitCode:
        if not clean:
            return ExitCode.JOBS_RELEASED
        if self.received and self.received[0] == signal.SIGINT:
            return ExitCode.INTERRUPTED
        return ExitCode.OK


# ── the command ──
def _options(ctx: Context) -> tuple[int, list[str]]:
    a = ctx.args
    if a.workers is not None and a.threads is not None and a.workers != a.threads:
        raise UsageError("--workers and --threads both set the threads of a process; give one")
    threads = a.threads or a.workers or 1
    tasks = [name.strip() for item in a.tasks for name in item.split(",") if name.strip()]
    if a.function is None and not tasks:
        raise UsageError("worker needs --function MODULE:FUNC, --tasks MODULE, or both")
    if a.processes > 1 and a.max_jobs is not None:
        raise UsageError("--max-jobs applies to a single process; with --processes use --max-jobs-per-child")
    if a.processes == 1 and a.max_jobs_per_child is not None:
        raise UsageError("--max-jobs-per-child applies with --processes 2 or more; use --max-jobs")
    return threads, tasks


def _name(ctx: Context) -> str:
    name = ctx.args.name or socket.gethostname() or "worker"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def run(ctx: Context) -> int:
    a = ctx.args
    threads, tasks = _options(ctx)
    level = a.log_level or ctx.settings.log_level
    function = load_function(a.function) if a.function else None
    registered = import_tasks(tasks) if tasks else []
    if tasks and not registered and function is None:
        raise UsageError(f"--tasks {','.join(tasks)}: no task is registered after importing it "
                         "(decorate functions with @task)")
    rate = a.rate_limit
    with ctx.open_queue(create=True, rate_limit=rate, rate_limit_burst=a.rate_limit_burst) as queue:  # errors in the directory surface here
        log_to_stderr(level)
        what = " and ".join(filter(None, [f"function {a.function}" if a.function else "",
                                         f"tasks {', '.join(registered) or '(none)'}" if tasks else ""]))
        flow = flow_line(queue, a.queues, not a.no_scheduler)
        if a.processes > 1:
            queue.close()
            return _run_supervised(ctx, threads, tasks, what, level, flow)
        return _run_here(ctx, queue, function, threads, what, flow)


def flow_line(queue: Any, queues: Sequence[str] | None, scheduler: bool) -> str:
    """The second start line of every worker command: the queues it consumes, every limit in
    force, and whether it fires schedules."""
    from ..tasks import PeriodicTask, registry

    periodic = [name for name in registry.names() if isinstance(registry.find(name), PeriodicTask)]
    schedules = (f"{plural(len(periodic), 'periodic task')}{' (' + ', '.join(periodic) + ')' if periodic else ''}"
                 if scheduler else "off (--no-scheduler)")
    return (f"  queues {','.join(queues) if queues else '(every queue)'}; "
            f"limits: {queue.flow.describe(queues)}; scheduler: {schedules}")


def _worker_status(worker: Worker, queue: Any) -> dict[str, Any]:
    stats = worker.get_stats()
    limiter = queue.rate_limiter
    breaker = queue.circuit_breaker
    return {
        "name": worker.worker_id, "kind": "worker", "processes": 1, "live_processes": 1,
        "threads": worker.concurrency, "state": stats["state"], "processed": stats["processed"],
        "failed": stats["failed"], "retried": stats["retried"], "in_flight": stats["in_flight"],
        "circuit_state": breaker.state.value, "circuit_failures": breaker.failures,
        "rate_limit": queue.options.rate_limit,
        "tokens_available": None if limiter is None else limiter.get_remaining_tokens(),
    }


def _run_here(ctx: Context, queue: Any, function: Any, threads: int, what: str, flow: str) -> int:
    a = ctx.args
    worker_id = f"{_name(ctx)}-{os.getpid()}"
    options = worker_options(vars(a), threads)
    # task jobs run their task, every other job `function`: the same rule as in worker processes
    worker = Worker(worker_id, None, queue, options=options, fallback=function)
    print(f"queue-max worker {worker_id}: {threads} thread{'s' if threads != 1 else ''}, {what}, "
          f"queue {ctx.where} ({queue.num_shards} shard{'s' if queue.num_shards != 1 else ''})"
          f"{', burst' if a.burst else ''}",
          file=sys.stderr, flush=True)
    print(flow, file=sys.stderr, flush=True)
    signals = _Signals()
    signals.save()
    status = StatusFile(ctx.data_dir, worker_id)
    started = time.monotonic()
    worker.start(handle_signals=True)
    # the worker's own handlers do the two-stage stop; ours wrap them to note the signal
    inner: dict[int, Any] = {signum: signal.getsignal(signum) for signum in _SIGNALS}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        handler = inner.get(signum)
        if callable(handler) and handler is not signal.default_int_handler:
            handler(signum, frame)
        else:
            worker.request_stop()

    signals.install(on_signal)
    interval = status_interval(ctx.settings)
    try:
        status.write(_worker_status(worker, queue))
        while not worker.wait(interval):
            status.write(_worker_status(worker, queue))
        clean = worker.stop()
    finally:
        signals.restore()
        status.remove()
    stats = worker.get_stats()
    code = signals.exit_code(clean)
    if ctx.json:
        emit_json({**stats, "exit_code": int(code)})
    else:
        print(f"worker {worker_id} stopped: processed {stats['processed']}, failed {stats['failed']}, "
              f"retried {stats['retried']}, released {stats['released']} in {time.monotonic() - started:.1f}s")
    return code


def _run_supervised(ctx: Context, threads: int, tasks: list[str], what: str, level: str, flow: str) -> int:
    a = ctx.args
    name = _name(ctx)
    options = {} if a.rate_limit is None else {"rate_limit": a.rate_limit}
    if a.rate_limit_burst is not None:
        options["rate_limit_burst"] = a.rate_limit_burst
    sup = Supervisor(a.function, tasks=tasks, processes=a.processes, threads=threads,
                     data_dir=str(ctx.data_dir), shards=a.shards, queue_options=options,
                     poll_interval=a.poll_interval, job_timeout=a.job_timeout,
                     max_jobs_per_child=a.max_jobs_per_child, shutdown_timeout=a.shutdown_timeout,
                     burst=a.burst, name=name, log_level=level, database_url=ctx.database_url,
                     env=None if ctx.database_url is None else child_environment(), queues=a.queues,
                     scheduler=not a.no_scheduler)
    print(f"queue-max worker {name}: {a.processes} processes x {threads} thread{'s' if threads != 1 else ''}, "
          f"{what}, queue {ctx.where}{', burst' if a.burst else ''}", file=sys.stderr, flush=True)
    print(flow, file=sys.stderr, flush=True)
    signals = _Signals()
    signals.save()
    status_name = f"{name}-{os.getpid()}"
    status = StatusFile(ctx.data_dir, status_name)
    started = time.monotonic()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        cold = len(signals.received) > 1
        threading.Thread(target=sup.stop, kwargs={"cold": cold}, daemon=True).start()

    sup.start()
    signals.install(on_signal)
    interval = status_interval(ctx.settings)
    try:
        while True:
            stats = sup.get_stats()
            live = sum(1 for child in stats["children"] if child["alive"])
            status.write({"name": status_name, "kind": "supervisor", "processes": a.processes, "live_processes": live,
                          "threads": threads, "children": stats["children"], "circuit_state": None,
                          "tokens_available": None})
            if sup.wait(interval) is not None:
                break
    finally:
        signals.restore()
        status.remove()
    if sup.error is not None:
        raise UsageError(f"a worker process could not start: {sup.error}")
    code = signals.exit_code(sup.exit_code == 0)
    stats = sup.get_stats()
    if ctx.json:
        emit_json({**stats, "exit_code": int(code)})
    else:
        restarts = sum(child["restarts"] for child in stats["children"])
        print(f"worker {name} stopped: {a.processes} processes, {restarts} restarts, "
              f"in {time.monotonic() - started:.1f}s", file=sys.stdout)
    return code
