"""The `queue-max` command line: run workers and operate queues from the terminal.

`main(argv)` parses, runs one command and returns its exit status (see docs/cli.md); it prints
one `queue-max: error: ...` line instead of a traceback unless `--debug` is given.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from .._version import __version__
from ..config import load_settings
from . import dashboard, dlq, jobs, maintenance, migrate, monitor, queues, stats, worker
from ._context import Context, shard_count
from ._errors import ExitCode, UsageError, describe

__all__ = ["main"]

_PROG = "queue-max"


class _Parser(argparse.ArgumentParser):
    """Raises `UsageError` instead of printing usage and exiting, so `main` reports it in one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    # Declared on the main parser (with defaults) and on every command (without), so that
    # `queue-max --json stats` and `queue-max stats --json` both work.
    parser.add_argument("--data-dir", metavar="DIR", default=default,
                        help="directory of the shard files (default: DATA_DIR, ./data)")
    parser.add_argument("--database-url", metavar="URL", default=default,
                        help="PostgreSQL URL instead of a data directory (default: QUEUE_MAX_DATABASE_URL); "
                             "prefer the variable: a URL on the command line is visible to other users")
    parser.add_argument("--shards", type=shard_count, metavar="N", default=default,
                        help="shard count (default: NUM_SHARDS, or what the directory holds)")
    parser.add_argument("--json", action="store_true", default=default, help="print JSON for machines")
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show the traceback of an error")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=_PROG, description="Run workers and operate queue-max queues.",
                     epilog="Exit codes: 0 ok, 1 error, 2 usage, 3 unhealthy, 4 worker stopped with "
                            "jobs released, 130 interrupted. See docs/cli.md.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser, None)
    parser.set_defaults(json=False, debug=False)
    common = _Parser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for module in (stats, jobs, dlq, maintenance, worker, monitor, dashboard, migrate, queues):
        module.register(sub, common)
    return parser


_NEGATIVE_WITH_UNIT = re.compile(r"-\d+(\.\d+)?[A-Za-z]+")


def _attach_negative_values(argv: list[str]) -> list[str]:
    """`--older-than -1h` as `--older-than=-1h`: argparse takes `-1h` for an option and says
    "expected one argument"; attached, the value reaches its own check, which names it."""
    joined: list[str] = []
    for arg in argv:
        if (joined and joined[-1].startswith("--") and "=" not in joined[-1]
                and _NEGATIVE_WITH_UNIT.fullmatch(arg)):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def _wants_debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `queue-max` command; returns the exit status."""
    args_list = _attach_negative_values(list(sys.argv[1:] if argv is None else argv))
    debug = _wants_debug(args_list)
    try:
        args = build_parser().parse_args(args_list)
        debug = bool(args.debug)
        context = Context(args=args, settings=load_settings())
        return int(args.run(context))
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except BrokenPipeError:
        # the reader went away (`queue-max list | head`): not worth a message
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return ExitCode.ERROR
    except BaseException as exc:
        if isinstance(exc, (SystemExit, GeneratorExit)):
            raise
        code, message = describe(exc)
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"{_PROG}: error: {' '.join(message.split())}\n")
        return int(code)
