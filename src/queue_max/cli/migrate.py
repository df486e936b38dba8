"""`queue-max migrate --to postgresql://...`: move a data directory's queue into PostgreSQL."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..models import JobStatus
from ..queue import Queue
from ..storage._open import check_database_url, redact_url
from ._context import Context
from ._errors import CliError, UsageError
from ._output import emit_json

__all__ = ["register"]

_EVERY = 10**9
# what is copied: everything but running jobs (refused) and cancelled ones (nothing to do)
_COPIED = (JobStatus.PENDING, JobStatus.FAILED, JobStatus.COMPLETED)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("migrate", parents=[common], help="copy a data directory's queue into PostgreSQL",
                       description="Copy the pending and scheduled jobs, the dead-lettered jobs with "
                                   "their dead-letter entries, the completed jobs with their results, "
                                   "and the periodic schedules of --data-dir into an empty PostgreSQL "
                                   "schema, all in one transaction. Refused while workers hold leases. "
                                   "The data directory is left as it was.")
    p.add_argument("--to", required=True, metavar="URL",
                   help="postgresql:// URL of the target (its schema: QUEUE_MAX_DATABASE_SCHEMA)")
    p.add_argument("--dry-run", action="store_true", help="count what would be copied; write nothing")
    p.set_defaults(run=run)


def run(ctx: Context) -> int:
    a = ctx.args
    try:
        url = check_database_url(a.to, "--to")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if getattr(a, "database_url", None):
        raise UsageError("migrate reads the SQLite queue of --data-dir; give the target with --to, "
                         "not --database-url")
    with Queue(data_dir=_source(ctx), rate_limit=0, settings=ctx.settings.with_(database_url=None)) as source:
        leased = source.counts()["processing"]
        if leased:
            raise CliError(f"{leased} job{'s are' if leased != 1 else ' is'} leased by running workers; stop "
                           "every worker of this queue (or wait for `queue-max recover`) and run migrate again")
        jobs = [job for status in _COPIED for job in source.list_jobs(status, _EVERY)]
        dead = source.dlq_list(_EVERY)
        schedules = source.backend.list_schedules()
    now = time.time()
    counted = {"pending": 0, "scheduled": 0, "dead_letter": len(dead), "failed": 0, "completed": 0,
               "schedules": len(schedules)}
    for job in jobs:
        counted["scheduled" if job.status is JobStatus.PENDING and job.run_ts > now else job.status.value] += 1
    report: dict[str, Any] = {"from": str(ctx.data_dir), "to": redact_url(url), **counted,
                              "dry_run": bool(a.dry_run)}
    if not a.dry_run:
        from ..storage.postgres import PostgresBackend

        with Queue(database_url=url, rate_limit=0, settings=ctx.settings) as target:
            assert isinstance(target.backend, PostgresBackend)
            target.backend.import_snapshot(jobs, dead, schedules, now, target.options.result_ttl)
    _say(ctx, report)
    return 0


def _source(ctx: Context) -> str:
    path = ctx.data_dir
    if not (path / "shard_0.db").is_file():
        raise CliError(f"no queue at {path} to migrate (no shard files); pass --data-dir or set DATA_DIR")
    return str(path)


def _say(ctx: Context, report: dict[str, Any]) -> None:
    if ctx.json:
        emit_json(report, ctx.stdout)
        return
    copied = ", ".join(f"{report[k]} {k.replace('_', '-')}" for k in
                       ("pending", "scheduled", "dead_letter", "failed", "completed", "schedules"))
    verb = "would copy" if report["dry_run"] else "copied"
    print(f"{verb} {copied} from {report['from']} to {report['to']}"
          + (" (dry run: nothing was written)" if report["dry_run"] else "; the data directory was left as it was"),
          file=ctx.stdout)
