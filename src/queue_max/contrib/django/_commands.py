"""What the management commands share: the `queue-max` CLI's options, its commands run on the
project's settings, and its errors turned into `CommandError`."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser  # type: ignore[import-untyped,unused-ignore]

from ...cli.commands import CliError, Context, describe, run_command, shard_count
from ...errors import QueueMaxError
from .conf import queue_settings

__all__ = ["add_queue_options", "command_error", "run_cli"]


def add_queue_options(parser: CommandParser) -> None:
    """`--data-dir`, `--shards` and `--json`, as the `queue-max` CLI has them."""
    parser.add_argument("--data-dir", metavar="DIR",
                        help="directory of the shard files (default: QUEUE_MAX['DATA_DIR'])")
    parser.add_argument("--shards", type=shard_count, metavar="N",
                        help="shard count (default: QUEUE_MAX['SHARDS'], or what the directory holds)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def command_error(exc: BaseException) -> CommandError:
    """A `CommandError` with the CLI's one-line message and exit code for `exc`."""
    code, message = describe(exc)
    return CommandError(message, returncode=int(code))


def run_cli(command: BaseCommand, run: Callable[[Context], int], options: dict[str, Any]) -> None:
    """Run a `queue-max` CLI command on the project's settings, printing to the command's
    stdout; its failures become `CommandError` with the CLI's exit code."""
    out = io.StringIO()
    try:
        code = run_command(run, options, queue_settings(), out=out,
                           data_dir_setting="--data-dir or settings.QUEUE_MAX['DATA_DIR']")
    except (CliError, QueueMaxError, OSError) as exc:
        raise command_error(exc) from exc
    finally:
        command.stdout.write(out.getvalue(), ending="")
    if code:
        raise CommandError(f"exit status {code}", returncode=int(code))
