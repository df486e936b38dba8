"""`manage.py queue_stats`: job counts per status and shard (`queue-max stats` on the project's queue)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser  # type: ignore[import-untyped,unused-ignore]

from queue_max.cli.commands import non_negative, queue_name, stats

from ..._commands import add_queue_options, run_cli

__all__ = ["Command"]


class Command(BaseCommand):  # type: ignore[misc,unused-ignore]
    help = ("Job counts per status and shard, lifetime totals and the age of the oldest ready job "
            "of the queue in settings.QUEUE_MAX (as `queue-max stats`).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shard", type=non_negative, metavar="N", help="only this shard")
        parser.add_argument("--queue-name", type=queue_name, metavar="NAME",
                            help="only this named queue's counts, paused flag, circuit breaker and limits")
        add_queue_options(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        run_cli(self, stats, options)
