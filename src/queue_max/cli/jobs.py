"""`queue-max enqueue | list | inspect | cancel`: putting jobs in, and looking at them one by one."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..errors import InvalidPayload
from ..models import Job, JobProgress, JobStatus
from ._context import Context, count, duration, job_id, non_negative, queue_name
from ._enqueue_file import enqueue_file
from ._errors import CliError, UsageError
from ._output import ago, compact, emit_json, fields, stamp, table

__all__ = ["register"]

_STATUSES = [s.value for s in JobStatus]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("enqueue", parents=[common], help="add a job (or every job of a file)",
                       description="Add one job (--payload) or every job of a file (--file), "
                                   "all or nothing.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--payload", metavar="JSON", help='the job\'s payload, a JSON object: \'{"task": "x"}\'')
    source.add_argument("--file", metavar="PATH", help="a jobs file: one JSON object per line (jsonl), "
                                                       "a JSON array, or CSV")
    p.add_argument("--format", choices=["jsonl", "json", "csv"],
                   help="format of --file (default: from its extension)")
    p.add_argument("--priority", type=int, metavar="N", help="-100..100, higher runs first (0 low, 1 medium, 2 high)")
    p.add_argument("--max-retries", type=non_negative, metavar="N", help="retries after the first failure")
    p.add_argument("--delay", type=duration, metavar="DURATION", help="run no sooner than this from now (30s, 5m, 2h)")
    p.add_argument("--shard-key", "--pagina-id", dest="shard_key", type=non_negative, metavar="N",
                   help="route to shard N %% shards (jobs with one key share a shard)")
    p.add_argument("--dedupe-key", metavar="KEY", help="at most one pending or running job per key")
    p.add_argument("--dedupe-window", type=duration, metavar="DURATION",
                   help="with --dedupe-key: a job of the key that completed this recently (30s, 10m, 1h) "
                        "also counts, so a retried producer does not run the job twice")
    p.add_argument("--queue-name", type=queue_name, metavar="NAME",
                   help="the named queue to put the job in (default: default)")
    p.add_argument("--concurrency-key", metavar="KEY",
                   help="jobs sharing this key run one at a time, host-wide")
    p.set_defaults(run=run_enqueue)

    p = sub.add_parser("list", parents=[common], help="list jobs, oldest first",
                       description="List jobs (all statuses, or one), oldest first.")
    p.add_argument("--status", choices=_STATUSES, help="only jobs in this status")
    p.add_argument("--limit", type=count, default=50, metavar="N", help="at most N jobs (default 50)")
    p.add_argument("--shard", type=non_negative, metavar="N", help="only this shard")
    p.add_argument("--queue-name", type=queue_name, metavar="NAME", help="only jobs of this named queue")
    p.set_defaults(run=run_list)

    p = sub.add_parser("inspect", parents=[common], help="everything about one job",
                       description="Payload, status, attempts and their errors, lease owner and "
                                   "result of one job.")
    p.add_argument("job_id", type=job_id, metavar="JOB_ID")
    p.add_argument("--queue-name", type=queue_name, metavar="NAME",
                   help="refuse (exit 1) unless the job is in this named queue")
    p.set_defaults(run=run_inspect)

    p = sub.add_parser("cancel", parents=[common], help="cancel a pending job",
                       description="Cancel a job that has not started yet. Exits 1 if the job "
                                   "is running or finished (nothing is changed).")
    p.add_argument("job_id", type=job_id, metavar="JOB_ID")
    p.set_defaults(run=run_cancel)


# ── enqueue ──
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_payload(text: str) -> dict[str, Any]:
    try:
        payload = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise UsageError(f"--payload is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise UsageError(f"--payload must be a JSON object like '{{\"task\": \"x\"}}', got a {type(payload).__name__}")
    return payload


def run_enqueue(ctx: Context) -> int:
    a = ctx.args
    options = {"priority": a.priority, "max_retries": a.max_retries, "delay": a.delay,
               "shard_key": a.shard_key, "dedupe_key": a.dedupe_key, "dedupe_window": a.dedupe_window,
               "queue_name": a.queue_name, "concurrency_key": a.concurrency_key}
    if a.file is not None:
        given = [f"--{name.replace('_', '-')}" for name, value in options.items() if value is not None]
        if given:
            raise UsageError(f"{', '.join(given)} apply to --payload; with --file put job options "
                             "in each record ({\"payload\": {...}, \"priority\": 2, ...})")
        return enqueue_file(ctx, a.file, a.format)
    if a.format is not None:
        raise UsageError("--format applies to --file")
    if a.dedupe_window is not None and a.dedupe_key is None:
        raise UsageError("--dedupe-window needs --dedupe-key: the window is how long a completed job "
                         "of that key still counts")
    payload = parse_payload(a.payload)
    kwargs = {name: value for name, value in options.items() if value is not None}
    with ctx.open_queue(create=True) as queue:
        try:
            ref = queue.enqueue(payload, **kwargs)
        except InvalidPayload as exc:
            raise UsageError(str(exc)) from None
    if ctx.json:
        emit_json(ref)
    elif ref.get("created", True):
        print(f"enqueued job {ref['id']} in shard {ref['shard_id']}")
    else:
        print(f"not enqueued: job {ref['id']} (shard {ref['shard_id']}) already holds dedupe key "
              f"{a.dedupe_key!r}, live or completed within the window")
    return 0


# ── list ──
def run_list(ctx: Context) -> int:
    a = ctx.args
    with ctx.open_queue() as queue:
        jobs = queue.list_jobs(a.status, a.limit, shard_id=a.shard, queue_name=a.queue_name)
    if ctx.json:
        emit_json([job.to_dict(history=False) for job in jobs])
        return 0
    if not jobs:
        print(f"no {a.status + ' ' if a.status else ''}jobs")
        return 0
    now = time.time()
    rows = [[job.id, job.shard_id, _status(job, now), job.priority_int, f"{job.tentativas}/{job.max_tentativas}",
             stamp(job.created_ts), job.worker_id, compact(_error(job), 40) if job.last_error or job.error_type else None,
             compact(job.payload, 50)] for job in jobs]
    table(["id", "shard", "status", "priority", "attempts", "created", "worker", "last_error", "payload"], rows)
    return 0


def _status(job: Job, now: float) -> str:
    if job.status is JobStatus.PENDING and job.run_ts > now:
        return "scheduled"
    return job.status.value


def _error(job: Job) -> str:
    return f"{job.error_type}: {job.last_error}" if job.error_type else str(job.last_error)


# ── inspect ──
def inspect_dict(job: Job) -> dict[str, Any]:
    """The `inspect --json` shape: `Job.to_dict()` plus the last traceback and each error's."""
    data = job.to_dict()
    data["error_stack"] = job.error_stack
    data["errors"] = [{"type": e.type, "message": e.message, "traceback": e.traceback} for e in job.errors]
    return data


def run_inspect(ctx: Context) -> int:
    with ctx.open_queue() as queue:
        job = queue.get_job(ctx.args.job_id)
        progress = None if job is None else queue.job_progress(job.id)
    if job is None:
        raise CliError(f"no job with id {ctx.args.job_id}")
    wanted = getattr(ctx.args, "queue_name", None)
    if wanted is not None and job.queue_name != wanted:
        raise CliError(f"no job with id {job.id} in queue {wanted!r} (it is in queue {job.queue_name!r})")
    if ctx.json:
        data = inspect_dict(job)
        data["progress"] = None if progress is None else {"fraction": progress.fraction,
                                                          "message": progress.message}
        emit_json(data)
        return 0
    now = time.time()
    print(f"job {job.id}")
    fields([
        ("status", _status(job, now)),
        ("queue", job.queue_name),
        ("shard", job.shard_id),
        ("priority", job.priority_int),
        ("attempts", f"{job.tentativas} of {job.max_tentativas}"),
        ("lease", _lease(job, now)),
        ("progress", None if progress is None else _progress(progress)),
        ("created", stamp(job.created_ts)),
        ("run at", stamp(job.run_ts)),
        ("started", stamp(job.started_ts)),
        ("finished", stamp(job.completed_ts)),
        ("shard key", job.pagina_id),
        ("dedupe key", job.dedupe_key),
        ("payload", json.dumps(job.payload, ensure_ascii=False)),
        ("result", None if job.result is None else json.dumps(job.result, ensure_ascii=False)),
    ], indent="  ")
    if job.errors:
        print(f"errors ({len(job.errors)}, oldest first)")
        table(["#", "type", "message"], [[n, e.type, compact(e.message, 100)] for n, e in enumerate(job.errors, 1)])
    stack = job.error_stack or next((e.traceback for e in reversed(job.errors) if e.traceback), None)
    if stack:
        print("traceback of the last error")
        for line in stack.rstrip().splitlines():
            print("  " + line)
    return 0


def _progress(progress: JobProgress) -> str:
    shown = f"{progress.fraction:.0%}"
    return shown if progress.message is None else f"{shown} {progress.message}"


def _lease(job: Job, now: float) -> str | None:
    if job.status is not JobStatus.PROCESSING:
        return None
    expires = job.lease_expires_ts
    if expires is None:
        return f"held by {job.worker_id}"
    when = f"expires in {ago(expires - now)}" if expires >= now else f"EXPIRED {ago(now - expires)} ago"
    return f"held by {job.worker_id}, {when}"


# ── cancel ──
def run_cancel(ctx: Context) -> int:
    wanted = ctx.args.job_id
    with ctx.open_queue() as queue:
        outcome = queue.cancel_job(wanted)
        job = queue.get_job(wanted)
    if job is None:
        raise CliError(f"no job with id {wanted}")
    cancelled = outcome == "cancelled"
    if ctx.json:
        emit_json({"id": wanted, "cancelled": cancelled, "status": job.status.value, "outcome": outcome})
    elif cancelled:
        print(f"cancelled job {wanted}")
    elif outcome == "requested":
        print(f"job {wanted} is running: cancel requested; its handler stops at its next "
              "current_job().check() and the job ends cancelled")
    if outcome == "finished":
        raise CliError(f"job {wanted} is {job.status.value}; only pending or running jobs can be cancelled")
    return 0
