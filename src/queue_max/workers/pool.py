"""WorkerPool: starts and stops workers together, and scales their number with the queue's depth."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ConfigError, QueueMaxError
from ._base import BaseWorker, WorkerState
from ._signals import ShutdownSignals
from .._validate import check_bool, check_callable, check_count, check_seconds

__all__ = ["WorkerPool"]

log = logging.getLogger("queue_max.workers")


class WorkerPool:
    """A group of workers; with `auto_scale`, one is added while more than `scale_up_threshold`
    jobs are ready and one idle worker is retired while fewer than `scale_down_threshold` are,
    checked every `scale_check_interval` seconds, within `min_workers`..`max_workers`.

    New workers are `worker_factory(worker_id)`, by default clones of the first worker. Only an
    idle worker (nothing running or held) is ever retired, and it stops gracefully.
    """

    def __init__(
        self,
        workers: Iterable[BaseWorker] | None = None,
        auto_scale: bool = False,
        min_workers: int = 1,
        max_workers: int = 10,
        scale_up_threshold: int = 100,
        scale_down_threshold: int = 10,
        scale_check_interval: float = 60.0,
        *,
        worker_factory: Callable[[str], BaseWorker] | None = None,
        name: str = "pool",
    ) -> None:
        if workers is not None and not isinstance(workers, Iterable):
            raise ConfigError(f"workers must be a list of Worker or AsyncWorker, got {workers!r:.60}")
        self._workers: list[BaseWorker] = list(workers or [])
        for worker in self._workers:
            if not isinstance(worker, BaseWorker):
                raise ConfigError(f"workers must hold Worker or AsyncWorker objects, got {worker!r:.60}")
        self.auto_scale = check_bool("auto_scale", auto_scale)
        self.min_workers = check_count("min_workers", min_workers, 0, 10_000)
        self.max_workers = check_count("max_workers", max_workers, 1, 10_000)
        if self.min_workers > self.max_workers:
            raise ConfigError(f"min_workers ({min_workers}) must not exceed max_workers ({max_workers})")
        self.scale_up_threshold = check_count("scale_up_threshold", scale_up_threshold, 0, 10**12)
        self.scale_down_threshold = check_count("scale_down_threshold", scale_down_threshold, 0, 10**12)
        if self.scale_down_threshold > self.scale_up_threshold:
            raise ConfigError(
                f"scale_down_threshold ({scale_down_threshold}) must not exceed scale_up_threshold "
                f"({scale_up_threshold}), or the pool would add and retire workers at the same depth")
        self.scale_check_interval = check_seconds("scale_check_interval", scale_check_interval, positive=True)
        self._factory = check_callable("worker_factory", worker_factory)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        if self.auto_scale:
            self._check_scalable()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._scaler: threading.Thread | None = None
        self._serial = 0
        self._retired: list[BaseWorker] = []
        self.scale_ups = self.scale_downs = 0
        self.last_depth: int | None = None

    def _check_scalable(self) -> None:
        if not self._workers and self._factory is None:
            raise ConfigError("auto_scale needs at least one worker to clone, or a worker_factory")
        if len(self._workers) > self.max_workers:
            raise ConfigError(f"the pool has {len(self._workers)} workers, more than max_workers={self.max_workers}")
        queues = {id(worker.queue) for worker in self._workers}
        if len(queues) > 1:
            raise ConfigError("auto_scale needs every worker of the pool on the same Queue")

    @property
    def workers(self) -> list[BaseWorker]:
        """The pool's current workers (retired ones are gone from the list)."""
        return list(self._workers)

    # ── lifecycle ──
    def start_all(self) -> None:
        """Start every worker (and, with auto_scale, at least `min_workers`, and the scaler)."""
        self._stop.clear()
        if self.auto_scale:
            while len(self._workers) < self.min_workers:
                self._workers.append(self._new_worker())
        for worker in list(self._workers):
            worker.start()
        if self.auto_scale and (self._scaler is None or not self._scaler.is_alive()):
            self._scaler = threading.Thread(target=self._scale_loop, name=f"queue-max {self.name} scaler", daemon=True)
            self._scaler.start()

    def stop_all(self, timeout: float | None = None) -> bool:
        """Stop every worker gracefully, all at once; True if no running job had to be released.

        `timeout` bounds the whole stop (default: each worker's `shutdown_timeout`)."""
        limit = check_seconds("timeout", timeout, optional=True)
        self._stop.set()
        if self._scaler is not None and self._scaler is not threading.current_thread():
            self._scaler.join()
        workers = list(self._workers)
        for worker in workers:
            worker.request_stop()
        deadline = None if limit is None else time.monotonic() + limit
        clean = True
        for worker in workers:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            clean = worker.stop(left) and clean
        return clean

    def run(self, *, handle_signals: bool = True) -> bool:
        """Start all workers and block until a signal (or `stop_all` from another thread)."""
        stop = threading.Event()
        cold = threading.Event()

        def immediate() -> None:
            cold.set()
            stop.set()

        signals = ShutdownSignals(f"pool {self.name}", stop.set, immediate)
        if handle_signals:
            signals.install()
        try:
            self.start_all()
            while not stop.wait(0.5) and not self._stop.is_set():
                if all(w.state is WorkerState.STOPPED for w in self._workers):
                    break
            return self.stop_all(0.0 if cold.is_set() else None)
        finally:
            signals.finished()

    def wait_for_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is ready or running in the queue and every worker is idle;
        False if `timeout` seconds passed first."""
        limit = check_seconds("timeout", timeout, optional=True)
        deadline = None if limit is None else time.monotonic() + limit
        while not self._idle():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _idle(self) -> bool:
        workers = list(self._workers)
        if any(worker.held_jobs() for worker in workers):
            return False
        for queue in {id(w.queue): w.queue for w in workers}.values():
            try:
                counts = queue.counts()
            except QueueMaxError:
                return False
            if counts["pending"] - counts["scheduled"] + counts["processing"] > 0:
                return False
        return True

    # ── scaling ──
    def _scale_loop(self) -> None:
        while not self._stop.wait(self.scale_check_interval):
            try:
                self.check_scale()
            except Exception:
                log.exception("pool %s: scaling check failed", self.name)

    def check_scale(self) -> int:
        """One scaling decision now (the scaler thread calls this); returns +1, -1 or 0."""
        depth = self.ready_depth()
        self.last_depth = depth
        active = [w for w in self._workers if w.state is WorkerState.RUNNING]
        if depth > self.scale_up_threshold and len(active) < self.max_workers:
            worker = self._new_worker()
            self.scale_ups += 1  # counted before the pool shows the worker
            self._workers.append(worker)
            worker.start()
            log.info("pool %s: %d jobs ready, added worker %s (%d workers)", self.name, depth,
                     worker.worker_id, len(active) + 1)
            return 1
        if depth < self.scale_down_threshold and len(active) > self.min_workers:
            idle = [w for w in reversed(active) if w.is_idle]
            if idle:
                self._retire(idle[0], depth)
                return -1
        return 0

    def ready_depth(self) -> int:
        """Jobs ready to run now in the pool's queue (pending and due, not scheduled later)."""
        template = self._workers[0] if self._workers else None
        if template is None:
            return 0
        queue = template.queue
        counts = queue.counts()
        return int(counts["pending"] - counts["scheduled"])

    def _retire(self, worker: BaseWorker, depth: int) -> None:
        self.scale_downs += 1
        self._retired.append(worker)
        self._workers.remove(worker)
        log.info("pool %s: %d jobs ready, retiring idle worker %s", self.name, depth, worker.worker_id)
        worker.stop()

    def _new_worker(self) -> BaseWorker:
        with self._lock:
            self._serial += 1
            serial = self._serial
        if self._factory is not None:
            worker = self._factory(f"{self.name}-{serial}")
            if not isinstance(worker, BaseWorker):
                raise ConfigError(f"worker_factory must return a Worker or AsyncWorker, got {worker!r:.60}")
            return worker
        template = self._workers[0] if self._workers else self._retired[0]
        clone: BaseWorker = template.clone(f"{template.worker_id}+{serial}")
        return clone

    # ── inspection ──
    def get_stats(self) -> dict[str, Any]:
        """Totals over the pool's workers (current and retired), and each current worker's stats."""
        everyone = [*self._workers, *self._retired]
        per_worker = [w.get_stats() for w in self._workers]
        totals = {key: sum(w.get_stats()[key] for w in everyone) for key in ("processed", "failed", "retried")}
        return {
            "name": self.name,
            "workers": per_worker,  # as in queue-max 0.1.1: each worker's stats
            "total_workers": len(self._workers),
            "running": sum(1 for s in per_worker if s["state"] == "running"),
            "busy": sum(1 for w in self._workers if w.held_jobs()),
            **totals,
            "total_processed": totals["processed"],
            "total_failed": totals["failed"],
            "total_retried": totals["retried"],
            "auto_scale": self.auto_scale,
            "auto_scale_enabled": self.auto_scale,
            "min_workers": self.min_workers,
            "max_workers": self.max_workers,
            "scale_ups": self.scale_ups,
            "scale_downs": self.scale_downs,
            "last_depth": self.last_depth,
            "per_worker": per_worker,
        }

    def __len__(self) -> int:
        return len(self._workers)

    def __repr__(self) -> str:
        return f"<WorkerPool {self.name!r} workers={len(self._workers)} auto_scale={self.auto_scale}>"
