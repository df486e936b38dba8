"""QueueRuntime: the queue and worker pool a web app runs, opened and closed with the app."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import ConfigError
from ...queue import Queue
from ...tasks import set_default_queue
from ...workers import Worker, WorkerPool

__all__ = ["QueueRuntime"]

log = logging.getLogger("queue_max.fastapi")

Handler = Callable[[dict[str, Any]], Any]


def _worker_options() -> frozenset[str]:
    """What worker_options may set: the keyword arguments of Worker's constructor (the first one
    in its MRO that spells them out), less those the runtime decides."""
    for cls in Worker.__mro__:
        params = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
        if not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            return frozenset(p.name for p in params) - {"self", "worker_id", "process_function", "queue"}
    return frozenset()


_WORKER_OPTIONS = _worker_options()


class QueueRuntime:
    """Opens the queue (given, or `Queue()` from the environment), then starts `workers` worker
    threads in a `WorkerPool`; stops them and closes the queue it opened, in reverse order.

    Jobs run `process_function(payload)`, or, without one, the `@task` their payload names.
    `worker_options` go to each `Worker` (poll_interval, job_timeout, shutdown_timeout, ...).
    With `set_default`, the queue is also the default queue of `@task`s without `queue=`.
    """

    def __init__(
        self,
        queue: Queue | None = None,
        *,
        workers: int = 4,
        process_function: Handler | None = None,
        worker_options: Mapping[str, Any] | None = None,
        set_default: bool = True,
        name: str = "web",
    ) -> None:
        if queue is not None and not isinstance(queue, Queue):
            raise ConfigError(f"queue must be a queue_max.Queue or None (built from the environment), "
                              f"got {queue!r:.80}")
        if isinstance(workers, bool) or not isinstance(workers, int) or not 0 <= workers <= 1000:
            raise ConfigError(f"workers must be an int from 0 (enqueue only) to 1000, got {workers!r}")
        if process_function is not None and not callable(process_function):
            raise ConfigError(f"process_function must be callable or None (run @task jobs), "
                              f"got {process_function!r:.80}")
        if worker_options is not None and not isinstance(worker_options, Mapping):
            raise ConfigError(f"worker_options must be a dict of Worker keyword arguments, got {worker_options!r:.80}")
        unknown = sorted(set(worker_options or ()) - _WORKER_OPTIONS)
        if unknown:
            raise ConfigError(f"worker_options: unknown Worker option(s) {', '.join(map(repr, unknown))}; "
                              f"allowed: {', '.join(sorted(_WORKER_OPTIONS))}")
        if not isinstance(set_default, bool):
            raise ConfigError(f"set_default must be a bool, got {set_default!r}")
        self._given = queue
        self.workers = workers
        self.process_function = process_function
        self.worker_options = dict(worker_options or {})
        self.set_default = set_default
        self.name = name
        self.queue: Queue | None = None
        self.pool: WorkerPool | None = None

    def open(self) -> Queue:
        """The queue, built now if none was given; idempotent."""
        if self.queue is None:
            self.queue = self._given if self._given is not None else Queue()
            if self.set_default:
                set_default_queue(self.queue)
        return self.queue

    def start_workers(self) -> None:
        """Start the worker pool (no-op with workers=0 or when already running)."""
        queue = self.open()
        if self.workers == 0 or self.pool is not None:
            return
        prefix = f"{self.name}-{os.getpid()}"
        pool = WorkerPool(
            [Worker(f"{prefix}-{n}", self.process_function, queue, **self.worker_options)
             for n in range(1, self.workers + 1)],
            name=prefix,
        )
        pool.start_all()
        self.pool = pool
        log.info("started %d workers on %r", self.workers, queue)

    def stop_workers(self) -> bool:
        """Stop the pool gracefully; True if no running job had to be released."""
        pool, self.pool = self.pool, None
        return True if pool is None else pool.stop_all()

    def close(self) -> None:
        """Stop the workers, and close the queue if it was built here."""
        self.stop_workers()
        queue, self.queue = self.queue, None
        if queue is None:
            return
        if self.set_default and _is_default(queue):
            set_default_queue(None)
        if self._given is None:
            queue.close()

    @property
    def state(self) -> dict[str, Any]:
        """What requests find in `request.state`: `queue` and `queue_pool`."""
        return {"queue": self.queue, "queue_pool": self.pool}


def _is_default(queue: Queue) -> bool:
    from ...tasks import current_default_queue

    return current_default_queue() is queue
