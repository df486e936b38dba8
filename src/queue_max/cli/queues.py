"""`queue-max queues | pause | resume | schedules | scheduler`: named queues and schedules."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from ..loading import import_tasks
from ..tasks import PeriodicTask, Scheduler, registry
from ._context import Context, queue_name
from ._errors import UsageError
from ._output import emit_json, stamp, table

__all__ = ["register"]

_QUEUE_HEADERS = ("queue", "pending", "scheduled", "processing", "completed", "failed", "paused",
                  "circuit", "rate_limit", "concurrency")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("queues", parents=[common], help="jobs per named queue, paused queues, breakers",
                       description="Job counts per named queue, with whether it is paused, its "
                                   "circuit breaker, and the limits this process would apply.")
    p.add_argument("--queue-name", type=queue_name, metavar="NAME", help="only this queue")
    p.set_defaults(run=run_queues)

    for verb, what in (("pause", "stop every worker of the host from claiming a queue's jobs "
                                 "(running jobs finish; enqueues are still accepted)"),
                       ("resume", "let workers claim a paused queue's jobs again")):
        p = sub.add_parser(verb, parents=[common], help=what, description=what[0].upper() + what[1:] + ".")
        p.add_argument("name", type=queue_name, metavar="NAME", help="the queue's name")
        p.set_defaults(run=run_pause, paused=verb == "pause")

    p = sub.add_parser("schedules", parents=[common], help="each periodic schedule with its next and last run",
                       description="Every periodic schedule stored in the queue, with its next and "
                                   "last run. --tasks also lists registered periodic tasks that "
                                   "have not fired yet.")
    p.add_argument("--tasks", action="append", default=[], metavar="MODULE",
                   help="import MODULE to find its @periodic_task functions (repeat or comma-separate)")
    p.set_defaults(run=run_schedules)

    p = sub.add_parser("scheduler", parents=[common], help="fire periodic tasks only (run no jobs)",
                       description="Fire the ticks of the @periodic_task functions of --tasks until "
                                   "stopped, without running jobs: for deployments that want one "
                                   "process for schedules, like Celery beat. Workers fire schedules "
                                   "too unless started with --no-scheduler; each tick is enqueued "
                                   "once however many processes fire it.")
    p.add_argument("--tasks", action="append", default=[], metavar="MODULE", required=True,
                   help="import MODULE to find its @periodic_task functions (repeat or comma-separate)")
    p.set_defaults(run=run_scheduler)


def run_queues(ctx: Context) -> int:
    with ctx.open_queue() as queue:
        per_queue = queue.queue_stats()
    if ctx.args.queue_name is not None:
        per_queue = {ctx.args.queue_name: per_queue.get(ctx.args.queue_name, {})}
    if ctx.json:
        emit_json(per_queue, ctx.stdout)
        return 0
    if not per_queue:
        print("no named queue has jobs yet", file=ctx.stdout)
        return 0
    rows = [[name, *(q.get(k, 0) for k in ("pending", "scheduled", "processing", "completed", "failed")),
             "yes" if q.get("paused") else "no", q.get("circuit_state", "closed"),
             q.get("rate_limit") or "-", q.get("concurrency_limit") or "-"] for name, q in per_queue.items()]
    table(_QUEUE_HEADERS, rows, ctx.stdout)
    return 0


def run_pause(ctx: Context) -> int:
    a = ctx.args
    with ctx.open_queue(create=True) as queue:
        changed = queue.pause(a.name) if a.paused else queue.resume(a.name)
    state = "paused" if a.paused else "resumed"
    if ctx.json:
        emit_json({"queue_name": a.name, "paused": a.paused, "changed": changed}, ctx.stdout)
    else:
        print(f"queue {a.name!r} {state}" if changed else f"queue {a.name!r} was already {'paused' if a.paused else 'running'}",
              file=ctx.stdout)
    return 0


def _periodic(modules: list[str]) -> list[PeriodicTask[Any, Any]]:
    names = [name.strip() for item in modules for name in item.split(",") if name.strip()]
    if names:
        import_tasks(names)
    found = [registry.find(name) for name in registry.names()]
    return [task for task in found if isinstance(task, PeriodicTask)]


def run_schedules(ctx: Context) -> int:
    tasks = _periodic(ctx.args.tasks)
    with ctx.open_queue() as queue:
        stored = {row["name"]: row for row in queue.backend.list_schedules()}
    rows = []
    for name in sorted(set(stored) | {task.name for task in tasks}):
        row = stored.get(name, {"name": name, "next_run_at": None, "last_run_at": None, "last_job_id": None})
        task = registry.find(name) if name in registry.names() else None
        rows.append({**row, "schedule": repr(getattr(task, "schedule", None)) if task else None})
    if ctx.json:
        emit_json([{**row, "next_run_at": stamp(row["next_run_at"]), "last_run_at": stamp(row["last_run_at"])}
                   for row in rows], ctx.stdout)
        return 0
    if not rows:
        print("no periodic schedule yet (a worker or `queue-max scheduler` creates them on first run)",
              file=ctx.stdout)
        return 0
    table(("schedule", "every", "next run", "last run", "last job"),
          [[r["name"], r["schedule"] or "-", stamp(r["next_run_at"]) or "-", stamp(r["last_run_at"]) or "never",
            r["last_job_id"] or "-"] for r in rows], ctx.stdout)
    return 0


def run_scheduler(ctx: Context) -> int:
    tasks = _periodic(ctx.args.tasks)
    if not tasks:
        raise UsageError(f"--tasks {','.join(ctx.args.tasks)}: no @periodic_task is registered after importing it")
    with ctx.open_queue(create=True) as queue:
        scheduler = Scheduler(tasks, queue)
        print(f"queue-max scheduler: {len(tasks)} periodic task{'s' if len(tasks) != 1 else ''} "
              f"({', '.join(t.name for t in tasks)}), queue {ctx.data_dir}", file=sys.stderr, flush=True)
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            scheduler.start()
            while not stop.wait(0.5):
                pass
        finally:
            scheduler.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    print("scheduler stopped", file=sys.stderr)
    return 0
