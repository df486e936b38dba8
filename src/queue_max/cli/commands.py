"""The CLI's commands as a public seam for integrations (Flask's `flask queue`, Django's
management commands): run one on your own settings and output stream, with the CLI's argument
types, errors and exit codes. Nothing here prints except to the stream you pass."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from ..config import Settings
from ._context import Context, count, duration, non_negative, queue_list, queue_name, shard_count
from ._errors import CliError, ExitCode, UsageError, describe
from ._output import plural
from .maintenance import days, purge_arguments
from .maintenance import run_purge as purge
from .stats import run as stats
from .worker import flow_line, timing_arguments, worker_options

__all__ = [
    "CliError",
    "Command",
    "Context",
    "ExitCode",
    "UsageError",
    "count",
    "days",
    "describe",
    "duration",
    "flow_line",
    "non_negative",
    "plural",
    "purge",
    "purge_arguments",
    "queue_list",
    "queue_name",
    "run_command",
    "shard_count",
    "stats",
    "timing_arguments",
    "worker_options",
]

Command = Callable[[Context], int]


def run_command(command: Command, options: Mapping[str, Any], settings: Settings, *,
                data_dir_setting: str, out: TextIO | None = None) -> int:
    """Run `command` (`stats`, `purge`) with `options` (its flags by their `dest` names, plus
    `data_dir`, `shards` and `json`) on `settings`, printing to `out`; returns the exit status.

    `data_dir_setting` says, in error messages, how your users set the data directory."""
    ctx = Context(args=argparse.Namespace(**options), settings=settings, data_dir_setting=data_dir_setting,
                  out=out)
    return command(ctx)
