"""`queue-max dlq list | requeue | prune` and `queue-max retry`: the dead-letter queue."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..models import DeadLetter
from ..queue import Queue
from ._context import Context, count, duration, job_id, non_negative, queue_name
from ._errors import CliError, UsageError
from ._output import compact, emit_json, stamp, table

__all__ = ["register", "report_change"]

_EVERY = 10**9  # "no limit" for the list calls that filters narrow afterwards
_CHUNK = 500  # job ids per requeue call (SQLite caps the parameters of one statement)


def _filters(p: argparse.ArgumentParser, *, by_job: bool = True) -> None:
    p.add_argument("--shard", type=non_negative, metavar="N", help="only this shard")
    p.add_argument("--queue-name", type=queue_name, metavar="NAME",
                   help="only the dead letters of this named queue's jobs")
    if by_job:
        p.add_argument("--error-type", metavar="TYPE",
                       help="only jobs that failed with this exception type (ValueError, JobTimeout, "
                            "or a qualified name such as app.errors.Declined)")
        p.add_argument("--job-id", type=job_id, action="append", metavar="ID",
                       help="only this job (repeat for several)")
    p.add_argument("--older-than", type=duration, metavar="DURATION",
                   help="only jobs that failed longer ago than this (30m, 12h, 7d)")


def _requeue_flags(p: argparse.ArgumentParser, *, with_all: bool) -> None:
    _filters(p)
    if with_all:
        p.add_argument("--all", action="store_true",
                       help="requeue every dead letter (of --shard and --queue-name, if given)")
    p.add_argument("--dry-run", action="store_true", help="count what would be requeued; change nothing")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    dlq = sub.add_parser("dlq", help="list, requeue or prune dead-lettered jobs",
                         description="The dead-letter queue: jobs that used up their retries or "
                                     "failed permanently.")
    verbs = dlq.add_subparsers(dest="dlq_command", metavar="{list,requeue,prune}", required=True)

    p = verbs.add_parser("list", parents=[common], help="dead-lettered jobs, newest first")
    _filters(p)
    p.add_argument("--limit", type=count, default=50, metavar="N", help="at most N entries (default 50)")
    p.set_defaults(run=run_list)

    p = verbs.add_parser("requeue", parents=[common], help="give dead jobs fresh retries",
                         description="Make dead-lettered jobs pending again with fresh retries. "
                                     "Needs a filter, or --all to requeue every one.")
    _requeue_flags(p, with_all=True)
    p.set_defaults(run=run_requeue, verb="dlq requeue")

    p = verbs.add_parser("prune", parents=[common], help="delete dead letters for good",
                         description="Delete dead-lettered jobs and their entries. Needs "
                                     "--older-than, or --all to delete every one.")
    _filters(p, by_job=False)
    p.add_argument("--all", action="store_true",
                   help="delete every dead letter (of --shard and --queue-name, if given)")
    p.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")
    p.set_defaults(run=run_prune)

    p = sub.add_parser("retry", parents=[common], help="requeue dead-lettered (failed) jobs",
                       description="Requeue failed, dead-lettered jobs with fresh retries "
                                   "(the same as 'dlq requeue').")
    _requeue_flags(p, with_all=False)  # as in 0.1.1: no filter requeues everything
    p.set_defaults(run=run_requeue, verb="retry")


def select(queue: Queue, a: argparse.Namespace, limit: int = _EVERY) -> list[DeadLetter]:
    """Dead letters matching the filters of `a`, newest first."""
    wanted = set(getattr(a, "job_id", None) or ())
    older = getattr(a, "older_than", None)
    narrowed = bool(wanted) or older is not None
    entries = queue.dlq_list(_EVERY if narrowed else limit, shard_id=a.shard,
                             error_type=getattr(a, "error_type", None), queue_name=a.queue_name)
    if wanted:
        entries = [e for e in entries if e.original_job_id in wanted]
    if older is not None:
        cutoff = time.time() - older
        entries = [e for e in entries if e.failed_at < cutoff]
    return entries[:limit]


def report_change(ctx: Context, command: str, verb: str, done: str, number: int, dry_run: bool,
                  queue_name: str | None = None) -> None:
    """The output of every command that changes jobs: `{"command", "dry_run", "count"}` in JSON,
    plus `"queue_name"` when the command was narrowed to one named queue.

    `verb` / `done`: "requeue" / "requeued" for the sentence people read."""
    if ctx.json:
        narrowed = {} if queue_name is None else {"queue_name": queue_name}
        emit_json({"command": command, "dry_run": dry_run, "count": number, **narrowed}, ctx.stdout)
        return
    noun = "job" if number == 1 else "jobs"
    if queue_name is not None:
        noun += f" of queue {queue_name!r}"
    if dry_run:
        print(f"would {verb} {number} {noun} (dry run: nothing was changed)", file=ctx.stdout)
    else:
        print(f"{done} {number} {noun}", file=ctx.stdout)


def run_list(ctx: Context) -> int:
    with ctx.open_queue() as queue:
        entries = select(queue, ctx.args, ctx.args.limit)
    if ctx.json:
        emit_json([entry.as_dict() for entry in entries])
        return 0
    if not entries:
        print("the dead-letter queue is empty" if not _filtered(ctx.args) else "no dead letters match")
        return 0
    rows = [[e.original_job_id, e.shard_id, e.queue_name, e.attempts, stamp(e.failed_at), e.error_type,
             compact(e.error or "", 50), compact(e.payload, 40)] for e in entries]
    table(["job_id", "shard", "queue", "attempts", "failed_at", "error_type", "error", "payload"], rows)
    return 0


def _filtered(a: argparse.Namespace) -> bool:
    return any(getattr(a, name, None) is not None
               for name in ("shard", "queue_name", "error_type", "job_id", "older_than"))


def run_requeue(ctx: Context) -> int:
    a = ctx.args
    if a.verb == "dlq requeue" and not a.dry_run:
        # like `prune`: changing every dead letter at once is asked for by name (`retry`, the
        # 0.1.1 command, keeps requeueing everything without a filter)
        if not a.all and not _filtered(a):
            raise UsageError("dlq requeue changes every dead letter without a filter: pass --error-type, "
                             "--job-id, --older-than, --shard or --queue-name, or --all to requeue every one")
        if a.all and a.job_id:
            raise UsageError("pass --job-id or --all, not both")
    asked = set(a.job_id or ())
    ids: list[int] = []
    with ctx.open_queue() as queue:
        if a.dry_run or asked or a.older_than is not None:
            ids = [entry.original_job_id for entry in select(queue, a)]
        if a.dry_run:
            moved = len(ids)
        elif not asked and a.older_than is None:
            moved = queue.dlq_requeue(shard_id=a.shard, error_type=a.error_type, queue_name=a.queue_name)
        else:
            moved = sum(queue.dlq_requeue(job_ids=ids[i:i + _CHUNK], shard_id=a.shard, error_type=a.error_type,
                                          queue_name=a.queue_name)
                        for i in range(0, len(ids), _CHUNK))
    report_change(ctx, a.verb, "requeue", "requeued", moved, a.dry_run, a.queue_name)
    missing = sorted(asked - set(ids))
    if missing:
        where = " (with these filters)" if _filtered_besides_id(a) else ""
        raise CliError(f"not in the dead-letter queue{where}: job {', '.join(map(str, missing))}")
    return 0


def _filtered_besides_id(a: argparse.Namespace) -> bool:
    return any(value is not None for value in (a.shard, a.queue_name, a.error_type, a.older_than))


def run_prune(ctx: Context) -> int:
    a = ctx.args
    if a.older_than is None and not a.all:
        raise UsageError("dlq prune deletes dead letters for good: pass --older-than DURATION, "
                         "or --all to delete every one")
    if a.older_than is not None and a.all:
        raise UsageError("pass --older-than or --all, not both")
    with ctx.open_queue() as queue:
        if a.dry_run:
            removed = len(select(queue, a))
        else:
            removed = queue.dlq_prune(older_than=a.older_than, shard_id=a.shard, queue_name=a.queue_name)
    report_change(ctx, "dlq prune", "delete", "deleted", removed, a.dry_run, a.queue_name)
    return 0
