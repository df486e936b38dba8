"""The engines a peer benchmark drives, behind one small interface; each imports its library lazily.

An engine stores payloads ``{"i": n}``, runs ``handler(payload)`` on ``threads`` worker threads,
and, where it has one, exposes a task decorator.  Every engine keeps its library's defaults except
where a row says otherwise (durability, poll intervals short enough not to dominate a drain).
Semantics that make rows unequal are listed in docs/benchmarks.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ENGINES", "Engine"]

Handler = Callable[[dict[str, Any]], Any]
POLL = 0.01  # seconds an idle worker waits between polls, on every engine that has the knob


class Engine:
    """One engine on one data directory (a fresh directory per run)."""

    has_tasks = True

    def __init__(self, data_dir: Path, durable: bool = False, shards: int = 6) -> None:
        self.data_dir, self.durable, self.shards = data_dir, durable, shards

    def enqueue(self, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    def enqueue_many(self, payloads: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def start(self, threads: int, handler: Handler | None) -> None:
        """Start worker threads; `handler` None runs task jobs by name."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def task(self, fn: Callable[[int], Any]) -> Callable[[int], Any]:
        """A task of `fn`; returns the callable that enqueues one call (``.delay`` or alike)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class Ours(Engine):
    """queue-max from this checkout: `Queue` + one `Worker` per thread, as drain_4w_6s does.

    No rate limit (`rate_limit=0`), as `run.py` runs us and as the peers run: Huey and
    localqueue have none. A configured limit, however high, is a shared bucket in storage and
    costs a token write per claim (docs/queues.md)."""

    def __init__(self, data_dir: Path, durable: bool = False, shards: int = 6) -> None:
        super().__init__(data_dir, durable, shards)
        import queue_max

        self.lib = queue_max
        self.queue = queue_max.Queue(shards=shards, rate_limit=0, data_dir=str(data_dir), durable=durable)
        self.workers: list[Any] = []

    def enqueue(self, payload: dict[str, Any]) -> None:
        self.queue.enqueue(payload)

    def enqueue_many(self, payloads: list[dict[str, Any]]) -> None:
        self.queue.enqueue_batch([{"payload": p} for p in payloads])

    def start(self, threads: int, handler: Handler | None) -> None:
        self.workers = [self.lib.Worker(f"bench-{k}", handler, self.queue, poll_interval=POLL)
                        for k in range(threads)]
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop(10)

    def task(self, fn: Callable[[int], Any]) -> Callable[[int], Any]:
        built = self.lib.task(name=f"bench_{fn.__name__}", queue=self.queue)(fn)
        return built.delay  # type: ignore[no-any-return]

    def close(self) -> None:
        self.queue.close()


class Huey(Engine):
    """Huey's SqliteHuey with a thread consumer. Huey has no plain payloads: a job is a task call,
    so the plain rows enqueue calls of a task that runs `handler`."""

    synchronous: int | None = None  # None: Huey's default (SQLite's FULL); 1: NORMAL

    def __init__(self, data_dir: Path, durable: bool = False, shards: int = 6) -> None:
        super().__init__(data_dir, durable, shards)
        from huey import SqliteHuey
        from huey.storage import SqliteStorage

        level = 2 if durable else self.synchronous

        class Storage(SqliteStorage):  # type: ignore[misc]
            def _create_connection(self) -> Any:
                conn = super()._create_connection()
                if level is not None:
                    conn.execute(f"pragma synchronous={level}")
                return conn

        self.huey = SqliteHuey("bench", filename=str(data_dir / "huey.db"), storage_class=Storage)
        self.handler: Handler | None = None
        self.plain = self.huey.task(name="plain")(lambda payload: self.handler(payload))  # type: ignore[misc]
        self.consumer: Any = None

    def enqueue(self, payload: dict[str, Any]) -> None:
        self.plain(payload)

    def enqueue_many(self, payloads: list[dict[str, Any]]) -> None:
        for payload in payloads:  # Huey has no batch enqueue: one write per call
            self.plain(payload)

    def start(self, threads: int, handler: Handler | None) -> None:
        self.handler = handler
        self.consumer = self.huey.create_consumer(
            workers=threads, worker_type="thread", periodic=False, initial_delay=0.001,
            max_delay=POLL, check_worker_health=False)
        self.consumer.start()

    def stop(self) -> None:
        self.consumer.stop(graceful=True)
        for worker, process in self.consumer.worker_threads:
            process.join(10)

    def task(self, fn: Callable[[int], Any]) -> Callable[[int], Any]:
        return self.huey.task(name=fn.__name__)(fn)  # type: ignore[no-any-return]


class HueyNormal(Huey):
    """SqliteHuey with `synchronous=NORMAL`, our default durability."""

    synchronous = 1


class LocalQueue(Engine):
    """localqueue's SimpleQueue (SQLite, Rust core) with one of its `Worker`s per thread."""

    has_tasks = False

    def __init__(self, data_dir: Path, durable: bool = False, shards: int = 6) -> None:
        super().__init__(data_dir, durable, shards)
        import localqueue

        self.lib = localqueue
        mode = localqueue.DurabilityMode.DURABLE if durable else localqueue.DurabilityMode.RELAXED
        self.queue = localqueue.SimpleQueue(str(data_dir), durability=mode)
        self.workers: list[Any] = []
        self.threads: list[threading.Thread] = []

    def enqueue(self, payload: dict[str, Any]) -> None:
        self.queue.put(payload)

    def enqueue_many(self, payloads: list[dict[str, Any]]) -> None:
        self.queue.put_many(payloads)

    def start(self, threads: int, handler: Handler | None) -> None:
        assert handler is not None
        self.workers = [self.lib.Worker(self.queue, lambda job: handler(job.data), poll_interval=POLL)
                        for _ in range(threads)]
        self.threads = [threading.Thread(target=w.run, daemon=True) for w in self.workers]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for thread in self.threads:
            thread.join(10)

    def close(self) -> None:
        self.queue.close()


def _ceiling() -> type[Engine]:
    from ceiling import Ceiling

    return Ceiling


ENGINES: dict[str, Callable[[], type[Engine]]] = {
    "ours": lambda: Ours,
    "ceiling": _ceiling,
    "huey": lambda: Huey,
    "huey-normal": lambda: HueyNormal,
    "localqueue": lambda: LocalQueue,
}


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.001) -> bool:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        time.sleep(interval)
    return True
