"""`queue-max stats`: job counts per status and shard, lifetime totals, the backlog's age."""

from __future__ import annotations

import argparse
from typing import Any

from ..models import JobStatus
from ._context import Context, non_negative, queue_name
from ._observe import COUNT_KEYS, Snapshot, take_snapshot
from ._output import ago, emit_json, fields, plural, table

__all__ = ["collect", "register", "run"]

_COLUMNS = (*COUNT_KEYS, "total_jobs_processed", "total_jobs_failed")
_HEADERS = ("shard", "pending", "scheduled", "processing", "completed", "failed", "cancelled",
            "dead_letter", "processed_total", "failed_total")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("stats", parents=[common], help="job counts per status and shard",
                       description="Job counts per status and shard, lifetime totals and the "
                                   "age of the oldest ready job, read from the shard files.")
    p.add_argument("--shard", type=non_negative, metavar="N", help="only this shard")
    p.add_argument("--queue-name", type=queue_name, metavar="NAME",
                   help="only this named queue's counts, paused flag, circuit breaker and limits")
    p.set_defaults(run=run)


def collect(ctx: Context) -> tuple[Snapshot, int]:
    """The stored state `stats` shows (of `--shard`, or every shard), and the shard count."""
    with ctx.open_queue() as queue:
        return take_snapshot(queue, ctx.args.shard), queue.num_shards


def _one_queue(ctx: Context) -> int:
    name = ctx.args.queue_name
    with ctx.open_queue() as queue:
        # a name no job has used (or whose jobs are all gone) is an empty queue
        empty = {**{status.value: 0 for status in JobStatus}, "scheduled": 0, "paused": False,
                 "circuit_state": "closed"}
        figures = {**empty, **queue.queue_stats().get(name, {})}
    if ctx.json:
        emit_json({"queue_name": name, **figures}, ctx.stdout)
    else:
        print(f"queue {name!r} at {ctx.where}", file=ctx.stdout)
        fields(sorted(figures.items()), ctx.stdout)
    return 0


def run(ctx: Context) -> int:
    shard = ctx.args.shard
    if getattr(ctx.args, "queue_name", None) is not None:  # an integration may run stats without the option
        return _one_queue(ctx)
    snap, n = collect(ctx)
    out = ctx.stdout
    if ctx.json:
        emit_json(snap.shards[0] if shard is not None else snap.as_dict(), out)
        return 0
    only = f", showing shard {shard}" if shard is not None else ""
    print(f"queue at {ctx.where}: {plural(n, 'shard')}{only}", file=out)
    print(file=out)
    rows: list[list[Any]] = [[s["shard_id"], *(s.get(key) for key in _COLUMNS)] for s in snap.shards]
    if shard is None and len(rows) > 1:
        rows.append(["total", *(snap.total(key) for key in _COLUMNS)])
    table(_HEADERS, rows, out)
    if shard is None:
        print(file=out)
        age = snap.oldest_ready_age
        print(f"ready now: {snap.ready}; oldest ready job waiting: {'-' if age is None else ago(age)}", file=out)
        named = {name: q for name, q in snap.queues.items() if name != "default" or len(snap.queues) > 1}
        if named:
            print(file=out)
            table(("queue", "pending", "processing", "failed", "paused", "circuit"),
                  [[name, q.get("pending", 0), q.get("processing", 0), q.get("failed", 0),
                    "yes" if q.get("paused") else "no", q.get("circuit_state")] for name, q in named.items()], out)
        if snap.task_circuits:
            print(file=out)
            table(("task", "circuit", "failures", "threshold", "queues"),
                  [[name, t["circuit_state"], t["circuit_failures"], t["threshold"] or "-",
                    ",".join(t["queues"]) or "-"] for name, t in snap.task_circuits.items()], out)
        if snap.expired_leases:
            print(f"expired leases: {len(snap.expired_leases)} processing job(s) whose worker stopped "
                  "heartbeating (run 'queue-max recover', or start a worker)", file=out)
    return 0
