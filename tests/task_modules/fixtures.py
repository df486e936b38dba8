"""Fixtures shared by the task tests (imported into each test module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from queue_max import Queue
from queue_max._clock import FakeClock
from queue_max.models import Job
from queue_max.tasks import process_task_job, registry, set_default_queue, set_eager

__all__ = ["drain", "isolated_tasks", "rq", "tq"]


@pytest.fixture(autouse=True)
def isolated_tasks() -> Iterator[None]:
    """Tasks a test registers, the default queue and eager mode do not outlive the test."""
    before = set(registry.names())
    yield
    for name in set(registry.names()) - before:
        registry.unregister(name)
    set_default_queue(None)
    set_eager(False)


@pytest.fixture
def tq(make_queue: Callable[..., Queue], clock: FakeClock) -> Queue:
    """A 2-shard queue on a fake clock, made the tasks' default queue."""
    queue = make_queue(shards=2, clock=clock)
    set_default_queue(queue)
    return queue


@pytest.fixture
def rq(make_queue: Callable[..., Queue]) -> Queue:
    """A 2-shard queue on the real clock (workers wait in real time), made the tasks' default."""
    queue = make_queue(shards=2)
    set_default_queue(queue)
    return queue


def drain(queue: Queue, limit: int = 100) -> list[Job]:
    """Run every ready task job in this thread, as a worker would; returns the jobs run."""
    ran: list[Job] = []
    while len(ran) < limit:
        jobs = queue.claim_jobs("test-worker", 10)
        if not jobs:
            return ran
        for job in jobs:
            process_task_job(queue, job)
            ran.append(job)
    return ran
