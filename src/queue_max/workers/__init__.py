"""Workers: threads, asyncio, an auto-scaling pool, and a supervisor of worker processes."""

from ._base import WorkerState
from .async_worker import AsyncWorker
from .context import JobContext, current_job
from .errors import JobCancelled, JobCancelRequested, JobTimeout, NoHandler
from .pool import WorkerPool
from .supervisor import Supervisor
from .options import WorkerOptions
from .worker import Worker

__all__ = [
    "AsyncWorker",
    "JobCancelRequested",
    "JobCancelled",
    "JobContext",
    "JobTimeout",
    "NoHandler",
    "Supervisor",
    "Worker",
    "WorkerOptions",
    "WorkerPool",
    "WorkerState",
    "current_job",
]
