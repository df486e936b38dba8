"""queue-max: a durable, embedded task queue on sharded SQLite."""

from .circuit import CircuitBreaker, CircuitState
from .clock import Clock, FakeClock
from .config import Settings, load_settings
from .errors import (
    CircuitBreakerOpenError,
    ConfigError,
    CorruptShard,
    ForeignDatabase,
    IncompatibleSchema,
    InvalidJobFile,
    InvalidPayload,
    InvalidProgress,
    JobNotFound,
    LeaseLost,
    MigrationFailed,
    QueueClosed,
    QueueMaxError,
    RateLimitError,
    ShardCountMismatch,
    StorageBusy,
    StorageError,
    StorageFull,
    StorageReadOnly,
)
from .handler import JobHandler
from .models import DeadLetter, Job, JobPriority, JobProgress, JobStatus, Lease
from .queue import Queue
from ._flow_limits import QueueLimits
from .ratelimit import RateLimiter, RateLimitUnit
from .retry import Permanent, Retry, RetryPolicy, is_retryable_error
from .storage.sqlite import ShardManager
from .tasks import TaskFailed, TaskHandle, periodic_task, retryable_task, task
from .workers import AsyncWorker, Supervisor, Worker, WorkerOptions, WorkerPool
from ._version import __version__

__all__ = [
    "AsyncWorker",
    "CircuitBreaker",
    "CircuitBreakerOpenError",
    "CircuitState",
    "Clock",
    "ConfigError",
    "CorruptShard",
    "DeadLetter",
    "FakeClock",
    "ForeignDatabase",
    "IncompatibleSchema",
    "InvalidJobFile",
    "InvalidPayload",
    "InvalidProgress",
    "Job",
    "JobHandler",
    "JobNotFound",
    "JobPriority",
    "JobProgress",
    "JobStatus",
    "Lease",
    "LeaseLost",
    "MigrationFailed",
    "Permanent",
    "Queue",
    "QueueClosed",
    "QueueLimits",
    "QueueMaxError",
    "RateLimitError",
    "RateLimitUnit",
    "RateLimiter",
    "Retry",
    "RetryPolicy",
    "Settings",
    "ShardCountMismatch",
    "ShardManager",
    "StorageBusy",
    "StorageError",
    "StorageFull",
    "StorageReadOnly",
    "Supervisor",
    "TaskFailed",
    "TaskHandle",
    "Worker",
    "WorkerOptions",
    "WorkerPool",
    "is_retryable_error",
    "load_settings",
    "periodic_task",
    "retryable_task",
    "task",
]
