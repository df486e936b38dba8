"""`manage.py queue_worker`: run the project's queue-max tasks and Django tasks until stopped."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser  # type: ignore[import-untyped,unused-ignore]
from django.utils.module_loading import autodiscover_modules  # type: ignore[import-untyped,unused-ignore]

from queue_max.cli.commands import CliError, count, flow_line, non_negative, queue_list, timing_arguments, worker_options
from queue_max.loading import import_tasks, load_function
from queue_max.logs import log_to_stderr
from queue_max.errors import QueueMaxError
from queue_max.queue import Queue

from ..._commands import add_queue_options, command_error
from ...conf import build_queue, get_queue
from ...worker import DjangoWorker

__all__ = ["Command"]

_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Command(BaseCommand):  # type: ignore[misc,unused-ignore]
    help = ("Run jobs of the queue in settings.QUEUE_MAX: the @task functions and Django tasks "
            "(QueueMaxBackend) of every installed app's tasks module, plus --tasks modules. "
            "SIGTERM or SIGINT stops gracefully (running jobs finish, up to --shutdown-timeout); "
            "a second signal stops at once. Run several of these for more processes.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tasks", action="append", default=[], metavar="MODULE",
                            help="also import MODULE for its tasks (repeat, or separate with commas); "
                                 "every installed app's tasks module is imported anyway")
        parser.add_argument("--function", metavar="MODULE:FUNC",
                            help="call FUNC(payload) for each job that is not a task job")
        parser.add_argument("--workers", type=count, metavar="N", help="threads (same as --threads)")
        parser.add_argument("--threads", type=count, metavar="N", help="threads in this process (default 1)")
        parser.add_argument("--burst", action="store_true", help="exit once the queue has no ready job")
        parser.add_argument("--max-jobs", type=count, metavar="N", help="exit after N jobs")
        timing_arguments(parser)  # as `queue-max worker` has them
        parser.add_argument("--rate-limit", type=non_negative, metavar="N",
                            help="jobs started per minute in each queue consumed, host-wide; 0 = no limit "
                                 "(default QUEUE_MAX['RATE_LIMIT'], unset = no limit)")
        parser.add_argument("--queues", type=queue_list, metavar="Q1,Q2",
                            help="consume only these named queues, earlier ones first (default: every queue)")
        parser.add_argument("--no-scheduler", action="store_true",
                            help="do not fire @periodic_task schedules from this worker (each tick is "
                                 "enqueued once however many workers fire it)")
        parser.add_argument("--name", metavar="NAME", help="worker name prefix (default: the host name)")
        parser.add_argument("--log-level", type=str.upper, choices=_LEVELS, metavar="LEVEL",
                            help="log queue-max at LEVEL to stderr (default: your LOGGING setting)")
        add_queue_options(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        threads = self._threads(options)
        try:
            autodiscover_modules("tasks")
            modules = [m.strip() for item in options["tasks"] for m in item.split(",") if m.strip()]
            names = import_tasks(modules)
            function = load_function(options["function"]) if options["function"] else None
            overrides = {"data_dir": options["data_dir"], "shards": options["shards"],
                         "rate_limit": options["rate_limit"]}
            own = any(value is not None for value in overrides.values())
            queue = build_queue(**overrides) if own else get_queue()
        except (CliError, QueueMaxError) as exc:
            raise command_error(exc) from exc
        handler = self._logging(options["log_level"])
        try:
            self._run(queue, threads, function, names, options)
        finally:
            if handler is not None:
                logging.getLogger("queue_max").removeHandler(handler)
            if own:
                queue.close()

    @staticmethod
    def _threads(options: dict[str, Any]) -> int:
        workers, threads = options["workers"], options["threads"]
        if workers is not None and threads is not None and workers != threads:
            raise CommandError("--workers and --threads both set the threads of this process; give one",
                               returncode=2)
        return threads or workers or 1

    def _logging(self, level: str | None) -> logging.Handler | None:
        if level is None:
            return None
        return log_to_stderr(level, stream=self.stderr)

    def _run(self, queue: Queue, threads: int, function: Any, names: list[str], options: dict[str, Any]) -> None:
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", options["name"] or socket.gethostname() or "worker")
        worker_id = f"{name}-{os.getpid()}"
        worker = DjangoWorker(worker_id, queue, fallback=function, options=worker_options(options, threads))
        where = queue.location
        self.stderr.write(
            f"queue-max worker {worker_id}: {threads} thread{'s' if threads != 1 else ''}, "
            f"{len(names)} tasks{' and ' + options['function'] if function else ''}, queue {where} "
            f"({queue.num_shards} shard{'s' if queue.num_shards != 1 else ''})"
            f"{', burst' if options['burst'] else ''}")
        self.stderr.write(flow_line(queue, options["queues"], not options["no_scheduler"]))
        started = time.monotonic()
        clean = worker.run(handle_signals=True)
        stats = worker.get_stats()
        if options["json"]:
            self.stdout.write(json.dumps({**stats, "exit_code": 0 if clean else 4}, indent=2, default=str))
        else:
            self.stdout.write(
                f"worker {worker_id} stopped: processed {stats['processed']}, failed {stats['failed']}, "
                f"retried {stats['retried']}, released {stats['released']} in {time.monotonic() - started:.1f}s")
        if not clean:
            raise CommandError("running jobs were released at shutdown; they will run again", returncode=4)
