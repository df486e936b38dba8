"""`queue-max purge` and `queue-max recover`: housekeeping of finished and orphaned jobs."""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from ..models import JobStatus
from ..queue import Queue
from ._context import Context, duration, queue_name
from ._errors import UsageError
from ._observe import take_snapshot
from .dlq import report_change

__all__ = ["days", "purge_arguments", "register"]

_EVERY = 10**9


def days(text: str) -> float:
    """An argparse type: days as a number (`7`, `0.5`) or a duration (`12h`, `30m`)."""
    try:
        days = float(text)
    except ValueError:
        return duration(text) / 86400.0
    if not math.isfinite(days) or days < 0:
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0, got {text!r}")
    return days


def purge_arguments(parser: argparse.ArgumentParser) -> None:
    """`purge`'s own flags (`--days` or `--status`, `--yes`, `--dry-run`), for any argparse parser."""
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--days", type=days, metavar="N",
                      help="age in days (default: CLEANUP_DAYS, 7); also takes 12h, 30m")
    what.add_argument("--status", choices=[s.value for s in JobStatus],
                      help="delete EVERY job in this status (failed: also the dead-letter queue); needs --yes")
    parser.add_argument("--queue-name", type=queue_name, metavar="NAME",
                        help="only the jobs of this named queue (with --status failed, and their dead letters)")
    parser.add_argument("--yes", action="store_true", help="confirm --status")
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("purge", parents=[common], help="delete old finished jobs (or every job in a status)",
                       description="Delete completed and cancelled jobs that finished more than "
                                   "--days ago (and completed jobs whose result expired). With "
                                   "--status, delete every job in that status instead.")
    purge_arguments(p)
    p.set_defaults(run=run_purge)

    p = sub.add_parser("recover", parents=[common], help="requeue jobs whose worker died (expired leases)",
                       description="Requeue processing jobs whose lease expired because their "
                                   "worker died or hung; jobs out of attempts are dead-lettered. "
                                   "Running workers do this on their own every RECOVERY_INTERVAL.")
    p.add_argument("--dry-run", action="store_true", help="count what would be recovered; change nothing")
    p.set_defaults(run=run_recover)


def _would_clean(queue: Queue, days: float, name: str | None) -> int:
    """What `cleanup_old_jobs(days)` would delete, read through the API.

    Completed jobs also go once their result TTL has passed; this counts those by this
    process's `result_ttl` setting, which is what the workers use unless they were given another."""
    now = time.time()
    before = now - days * 86400.0
    ttl = queue.options.result_ttl
    removed = 0
    for job in queue.list_jobs(JobStatus.COMPLETED, _EVERY, queue_name=name):
        finished = job.completed_ts or 0.0
        removed += finished < before or finished + ttl <= now
    for job in queue.list_jobs(JobStatus.CANCELLED, _EVERY, queue_name=name):
        removed += (job.completed_ts or 0.0) < before
    return removed


def run_purge(ctx: Context) -> int:
    a = ctx.args
    name = getattr(a, "queue_name", None)  # an integration may run purge without the option
    with ctx.open_queue() as queue:
        if a.status is not None:
            if not (a.yes or a.dry_run):
                of = "" if name is None else f" of queue {name!r}"
                raise UsageError(f"purge --status {a.status} deletes every {a.status} job{of}; "
                                 "add --yes to confirm (or --dry-run to count them)")
            if a.dry_run:
                removed = queue.counts(queue_name=name)[a.status]
            else:
                removed = queue.purge_queue(a.status, queue_name=name)
        else:
            age = ctx.settings.cleanup_days if a.days is None else a.days
            removed = _would_clean(queue, age, name) if a.dry_run else queue.cleanup_old_jobs(age, queue_name=name)
    report_change(ctx, "purge", "delete", "deleted", removed, a.dry_run, name)
    return 0


def run_recover(ctx: Context) -> int:
    a = ctx.args
    with ctx.open_queue() as queue:
        if a.dry_run:
            recovered = len(take_snapshot(queue).expired_leases)
        else:
            recovered = queue.recover_orphans()
    report_change(ctx, "recover", "recover", "recovered", recovered, a.dry_run)
    return 0
