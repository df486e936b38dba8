"""`queue-max dashboard`: serve the web dashboard on loopback behind a one-time login URL."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._context import Context
from ._errors import CliError

__all__ = ["register", "run_dashboard"]


def _poll(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 300:
        raise argparse.ArgumentTypeError(f"must be seconds from 1 to 300, got {text!r}")
    return value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("dashboard", parents=[common], help="serve the web dashboard on loopback",
                       description="Serve the web dashboard on a loopback address and print a "
                                   "one-time login URL (needs the 'dashboard' extra).")
    p.add_argument("--bind", default="127.0.0.1:8787", metavar="HOST:PORT",
                   help="loopback address to listen on (default 127.0.0.1:8787; port 0 picks a free one)")
    p.add_argument("--read-only", action="store_true", help="register no mutating route at all")
    p.add_argument("--poll", type=_poll, default=5.0, metavar="SECONDS",
                   help="how often open pages check for changes (default 5)")
    p.add_argument("--payload-search", action="store_true",
                   help="allow searching inside payloads (a scan, time-limited per request)")
    p.set_defaults(run=run_dashboard)


def run_dashboard(ctx: Context) -> int:
    try:
        from ..dashboard import Dashboard
        from ..dashboard.server import TokenGate, serve
    except ImportError as exc:
        raise CliError(f"the dashboard needs its extra: pip install 'queue-max[dashboard]' ({exc})") from None
    args = ctx.args
    with ctx.open_queue() as queue:

        def build(gate: TokenGate) -> Dashboard:
            return Dashboard(queue, authorize=gate.authorize, read_only=args.read_only,
                             poll_interval=args.poll, payload_search=args.payload_search)

        def ready(url: str) -> None:
            mode = " (read-only)" if args.read_only else ""
            print(f"queue-max dashboard{mode} for {ctx.data_dir}\nOpen (one-time login link): {url}", flush=True)

        try:
            serve(build, args.bind, read_only=args.read_only, ready=ready)
        except KeyboardInterrupt:
            sys.stderr.write("dashboard stopped\n")
            return 130
    return 0
