"""WorkerOptions: how a worker runs jobs, one validated value for threads, processes and integrations."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import ConfigError
from .._flow_limits import check_queue_list
from .._validate import check_bool, check_count, check_seconds

__all__ = ["DEFAULT_PREFETCH", "WorkerOptions"]

# Most jobs one thread claims at once. Only jobs shorter than BATCH_TARGET / prefetch (0.4 ms
# here) fill a batch (longer ones are claimed about 50 ms of work at a time, and a batch running
# past HOARD_LIMIT gives its rest back), so this bounds the tiny-job case, where each claim and
# grouped ack costs a transaction whatever its size: 128 against 32, `python benchmarks/pairs.py
# --base-tree <32> --only W --pairs 4` (2026-12-06 05:56-05:59 UTC, load 1.2-1.4): drain_4w_6s
# 1.27, drain_16w_1s 1.30, multiproc_drain 1.36, drain_tasks_4w_6s 1.51 (64 against 32: 1.24,
# 1.03, 1.22, 1.07). The price: a crashed worker's thread leaves up to this many leased jobs
# for recovery, instead of 32.
DEFAULT_PREFETCH = 128


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Every tuning knob of a worker; the same value builds a `Worker` in this process, in a
    supervised child process (it travels as `as_dict()`), in Flask and in Django.

    `concurrency` None means the worker kind's default (1 thread; 10 tasks for `AsyncWorker`).
    `max_jobs` counts jobs whose handler ran; prefetched jobs that never started do not count.
    `queues` names the queues to consume, in claim order (None: every queue; see docs/queues.md).
    `scheduler` fires the schedules of the periodic tasks registered in the process while the
    worker runs (what `queue-max worker` does unless `--no-scheduler`).
    """

    concurrency: int | None = None
    prefetch: int = DEFAULT_PREFETCH
    poll_interval: float = 1.0
    job_timeout: float | None = None
    shutdown_timeout: float = 10.0
    handle_signals: bool | None = None
    max_jobs: int | None = None
    burst: bool = False
    ack_interval: float = 0.005
    timeout_grace: float = 1.0
    queues: tuple[str, ...] | None = None
    scheduler: bool = False

    def __post_init__(self) -> None:
        checked = {
            "concurrency": check_count("concurrency", self.concurrency, 1, 10_000, optional=True),
            "prefetch": check_count("prefetch", self.prefetch, 1, 10_000),
            "poll_interval": check_seconds("poll_interval", self.poll_interval, positive=True),
            "job_timeout": check_seconds("job_timeout", self.job_timeout, optional=True, positive=True),
            "shutdown_timeout": check_seconds("shutdown_timeout", self.shutdown_timeout),
            "handle_signals": check_bool("handle_signals", self.handle_signals, optional=True),
            "max_jobs": check_count("max_jobs", self.max_jobs, 1, 10**12, optional=True),
            "burst": check_bool("burst", self.burst),
            "ack_interval": check_seconds("ack_interval", self.ack_interval),
            "timeout_grace": check_seconds("timeout_grace", self.timeout_grace),
            "queues": check_queue_list(self.queues),
            "scheduler": check_bool("scheduler", self.scheduler),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> WorkerOptions:
        """A copy with `changes` applied (and validated)."""
        unknown = sorted(set(changes) - set(self.as_dict()))
        if unknown:
            raise ConfigError(f"unknown worker options {', '.join(unknown)}; allowed: "
                              f"{', '.join(self.as_dict())}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The options as JSON values (how they reach a worker process)."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        if values["queues"] is not None:
            values["queues"] = list(values["queues"])
        return values
