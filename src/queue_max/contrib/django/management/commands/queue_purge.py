"""`manage.py queue_purge`: delete old finished jobs, or every job in a status (`queue-max purge`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser  # type: ignore[import-untyped,unused-ignore]

from queue_max.cli.commands import purge, purge_arguments

from ..._commands import add_queue_options, run_cli

__all__ = ["Command"]


class Command(BaseCommand):  # type: ignore[misc,unused-ignore]
    help = ("Delete completed and cancelled jobs that finished more than --days ago (and completed "
            "jobs whose result expired); with --status, every job in that status (as `queue-max purge`).")

    def add_arguments(self, parser: CommandParser) -> None:
        purge_arguments(parser)  # the same flags as `queue-max purge`
        add_queue_options(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        run_cli(self, purge, options)
