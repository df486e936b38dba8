"""`manage.py queue_purge`: delete old finished jobs, or every job in a status (`queue-max purge`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser  # type: ignore[import-untyped,unused-ignore]

from queue_max.cli.commands import days, purge
from queue_max.models import JobStatus

from ..._commands import add_queue_options, run_cli

__all__ = ["Command"]


class Command(BaseCommand):  # type: ignore[misc,unused-ignore]
    help = ("Delete completed and cancelled jobs that finished more than --days ago (and completed "
            "jobs whose result expired); with --status, every job in that status (as `queue-max purge`).")

    def add_arguments(self, parser: CommandParser) -> None:
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--days", type=days, metavar="N",
                          help="age in days (default: CLEANUP_DAYS, 7); also takes 12h, 30m")
        what.add_argument("--status", choices=[s.value for s in JobStatus],
                          help="delete EVERY job in this status (failed: also the dead-letter queue); needs --yes")
        parser.add_argument("--yes", action="store_true", help="confirm --status")
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")
        add_queue_options(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        run_cli(self, purge, options)
