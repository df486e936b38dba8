"""`flask queue worker|stats|purge`: the `queue-max` CLI's commands on the app's queue."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import time
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from ...cli.commands import (
    CliError,
    Context,
    ExitCode,
    days,
    describe,
    duration,
    flow_line,
    plural,
    purge,
    queue_name,
    run_command,
    stats,
    worker_options,
)
from ...loading import import_tasks, load_function
from ...logs import log_to_stderr
from ...errors import QueueMaxError
from ...models import JobStatus
from ._config import build_queue, to_settings
from ._state import app_state

__all__ = ["queue_cli"]

_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

queue_cli = AppGroup("queue", help="Run queue-max workers on this app's queue and inspect it.")


def _click_value(parse: Callable[[str], float]) -> Callable[[Any], float]:
    """A click option type from a CLI argument type: numbers pass, strings are parsed, and a bad
    value is a ValueError (which click reports as a bad option value)."""

    def convert(value: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse(str(value))
        except argparse.ArgumentTypeError as exc:
            raise ValueError(str(exc)) from None

    convert.__doc__ = parse.__doc__
    return convert


# seconds as `90`, `1.5`, `250ms`, `30s`, `15m`, `12h`, `7d`; days as `7`, `0.5` or `12h`
_duration = _click_value(duration)
_days = _click_value(days)


def _queue_name(value: Any) -> str:
    """A queue name, checked by the CLI's rule (a bad one is a ValueError: a bad option value)."""
    try:
        return queue_name(str(value))
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None


def _fail(exc: BaseException) -> click.ClickException:
    code, message = describe(exc)
    if code == ExitCode.USAGE:
        return click.UsageError(message)
    error = click.ClickException(message)
    setattr(error, "exit_code", int(code))  # noqa: B010 (click declares it a ClassVar)
    return error


def _options() -> dict[str, Any]:
    return app_state().options


def _queue_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--json", "as_json", is_flag=True, help="print JSON for machines")(f)
    f = click.option("--shards", type=click.IntRange(1, 1024), help="shard count (default: QUEUE_MAX_SHARDS, "
                     "or what the directory holds)")(f)
    return click.option("--data-dir", metavar="DIR", help="directory of the shard files "
                        "(default: QUEUE_MAX_DATA_DIR)")(f)


def _run_cli(run: Callable[[Context], int], **args: Any) -> None:
    """Run a `queue-max` CLI command function on the app's configuration."""
    args["json"] = args.pop("as_json")
    try:
        code = run_command(run, args, to_settings(_options()),
                           data_dir_setting="--data-dir or app.config['QUEUE_MAX_DATA_DIR']")
    except (CliError, QueueMaxError, OSError) as exc:
        raise _fail(exc) from exc
    if code:
        raise click.exceptions.Exit(code)


@queue_cli.command("stats")
@click.option("--shard", type=click.IntRange(min=0), help="only this shard")
@click.option("--queue-name", type=_queue_name, metavar="NAME",
              help="only this named queue's counts, paused flag, circuit breaker and limits")
@_queue_options
def stats_command(**args: Any) -> None:
    """Job counts per status and shard, lifetime totals, the backlog's age."""
    _run_cli(stats, **args)


@queue_cli.command("purge")
@click.option("--days", type=_days, help="age in days (default: CLEANUP_DAYS, 7); also takes 12h, 30m")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]),
              help="delete EVERY job in this status (failed: also the dead-letter queue); needs --yes")
@click.option("--queue-name", type=_queue_name, metavar="NAME",
              help="only the jobs of this named queue (with --status failed, and their dead letters)")
@click.option("--yes", is_flag=True, help="confirm --status")
@click.option("--dry-run", is_flag=True, help="count what would be deleted; change nothing")
@_queue_options
def purge_command(**args: Any) -> None:
    """Delete old finished jobs (or, with --status, every job in a status)."""
    if args["days"] is not None and args["status"] is not None:
        raise click.UsageError("give --days or --status, not both")
    _run_cli(purge, **args)


@queue_cli.command("worker")
@click.option("--tasks", multiple=True, metavar="MODULE",
              help="also import MODULE for its tasks (repeat, or separate with commas)")
@click.option("--function", metavar="MODULE:FUNC", help="call FUNC(payload) for each job that is not a task job")
@click.option("--workers", type=click.IntRange(min=1), help="threads (same as --threads)")
@click.option("--threads", type=click.IntRange(min=1), help="threads in this process (default 1)")
@click.option("--burst", is_flag=True, help="exit once the queue has no ready job")
@click.option("--max-jobs", type=click.IntRange(min=1), help="exit after N jobs")
@click.option("--shutdown-timeout", type=_duration, default=10.0,
              help="how long running jobs may finish after a stop signal (default 10)")
@click.option("--job-timeout", type=_duration, help="time limit per job")
@click.option("--poll-interval", type=_duration, default=1.0, help="longest wait between polls when idle (default 1)")
@click.option("--rate-limit", type=click.IntRange(min=0),
              help="jobs started per minute in each queue consumed, host-wide; 0 = no limit "
                   "(default QUEUE_MAX_RATE_LIMIT, unset = no limit)")
@click.option("--queues", metavar="Q1,Q2",
              help="consume only these named queues, earlier ones first (default: every queue)")
@click.option("--no-scheduler", is_flag=True,
              help="do not fire @periodic_task schedules from this worker (each tick is enqueued once)")
@click.option("--name", help="worker name prefix (default: the host name)")
@click.option("--log-level", type=click.Choice(_LEVELS, case_sensitive=False),
              help="log queue-max at LEVEL to stderr (default: the app's logging setup)")
@_queue_options
def worker_command(**args: Any) -> None:
    """Run the app's tasks (and --function for other jobs) until stopped, each job inside the
    app context. SIGTERM or SIGINT stops gracefully; a second signal stops at once."""
    from .worker import FlaskWorker

    if args["workers"] is not None and args["threads"] is not None and args["workers"] != args["threads"]:
        raise click.UsageError("--workers and --threads both set the threads of this process; give one")
    threads = args["threads"] or args["workers"] or 1
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    overrides = {k: args[k] for k in ("data_dir", "shards", "rate_limit") if args[k] is not None}
    state = app_state()
    try:
        names = import_tasks([m.strip() for item in args["tasks"] for m in item.split(",") if m.strip()])
        function = load_function(args["function"]) if args["function"] else None
        # tasks that enqueue more work use the app's queue: share it unless told otherwise
        queue = build_queue({**state.options, **overrides}) if overrides else state.queue
    except (CliError, QueueMaxError) as exc:
        raise _fail(exc) from exc
    if args["log_level"]:
        log_to_stderr(args["log_level"].upper())
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", args["name"] or socket.gethostname() or "worker")
    worker_id = f"{name}-{os.getpid()}"
    try:
        worker = FlaskWorker(worker_id, queue, app=app, fallback=function, options=worker_options(args, threads))
        click.echo(f"queue-max worker {worker_id}: {plural(threads, 'thread')}, "
                   f"{plural(len(names), 'task')}, queue {queue.location} "
                   f"({plural(queue.num_shards, 'shard')})"
                   f"{', burst' if args['burst'] else ''}", err=True)
        click.echo(flow_line(queue, worker.queues, not args["no_scheduler"]), err=True)
        started = time.monotonic()
        clean = worker.run(handle_signals=True)
    except QueueMaxError as exc:
        raise _fail(exc) from exc
    finally:
        if overrides:
            queue.close()
    result = worker.get_stats()
    if args["as_json"]:
        click.echo(json.dumps({**result, "exit_code": 0 if clean else 4}, indent=2, default=str))
    else:
        click.echo(f"worker {worker_id} stopped: processed {result['processed']}, failed {result['failed']}, "
                   f"retried {result['retried']}, released {result['released']} in {time.monotonic() - started:.1f}s")
    if not clean:
        raise click.exceptions.Exit(int(ExitCode.JOBS_RELEASED))
