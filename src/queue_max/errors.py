"""The exception tree of queue-max: every error the library raises on purpose."""

from __future__ import annotations

__all__ = [
    "CircuitBreakerOpenError",
    "ConfigError",
    "CorruptShard",
    "ForeignDatabase",
    "IncompatibleSchema",
    "InvalidJobFile",
    "InvalidPayload",
    "InvalidProgress",
    "JobNotFound",
    "LeaseLost",
    "MigrationFailed",
    "QueueClosed",
    "QueueMaxError",
    "RateLimitError",
    "SearchTimeout",
    "ShardCountMismatch",
    "StoppedOnCancel",
    "StorageBusy",
    "StorageError",
    "StorageFull",
    "StorageReadOnly",
    "StorageUnavailable",
]


class QueueMaxError(Exception):
    """Base class of every error queue-max raises on purpose."""


class StoppedOnCancel(QueueMaxError):
    """Base of `workers.JobCancelRequested`: a handler stopped because `cancel` was asked while
    it ran. It lives here so that `Queue.fail_job` can end such a job cancelled without
    importing the workers (which import the queue)."""


class ConfigError(QueueMaxError, ValueError):
    """A setting (argument or environment variable) is out of range or malformed."""


class InvalidPayload(QueueMaxError, ValueError):
    """A job's payload or options cannot be stored exactly; nothing was written."""


class InvalidProgress(InvalidPayload):
    """`set_progress` got a fraction outside 0..1 or a message that is not a short str; nothing was stored."""


class InvalidJobFile(InvalidPayload):
    """A line or record of a jobs file is malformed; nothing from the file was written."""


class JobNotFound(QueueMaxError, LookupError):
    """No job (or dead-letter entry) has this id."""

    def __init__(self, job_id: int, message: str | None = None) -> None:
        self.job_id = job_id
        super().__init__(message or f"no job with id {job_id}")


class LeaseLost(QueueMaxError):
    """The job's lease expired and another worker may own it now; nothing was changed."""

    def __init__(self, job_id: int, message: str | None = None) -> None:
        self.job_id = job_id
        super().__init__(
            message
            or f"job {job_id}: this worker's lease is no longer current "
            "(it expired and was recovered, or the job was released, cancelled or purged); "
            "nothing was changed"
        )


class QueueClosed(QueueMaxError):
    """The queue (or backend) was closed; open a new one."""


class RateLimitError(QueueMaxError):
    """No rate-limiter token became available within the timeout."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class CircuitBreakerOpenError(QueueMaxError):
    """The circuit breaker is open: calls are refused until it recovers."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class StorageError(QueueMaxError):
    """The storage backend failed; the operation was not applied."""


class SearchTimeout(StorageError):
    """A job search ran past its time budget and was stopped; narrow the filter and retry."""


class StorageBusy(StorageError):
    """The storage stayed locked by other writers past the busy timeout; retry shortly."""


class StorageFull(StorageError):
    """The disk (or the database's size limit) is full; the operation was rolled back."""


class StorageReadOnly(StorageError):
    """The data directory or a shard file is read-only; the operation was rolled back."""


class StorageUnavailable(StorageError):
    """The database server cannot be reached, refused the login, or dropped the connection.

    An operation interrupted mid-way may or may not have been applied; leases make that safe."""


class IncompatibleSchema(StorageError):
    """A shard file (or database schema) was written by a newer queue-max; it was left untouched."""


class ForeignDatabase(StorageError):
    """A file where a shard should be is an SQLite database of another application; left untouched."""


class CorruptShard(StorageError):
    """A shard file is not a readable SQLite database; it was left untouched."""


class MigrationFailed(StorageError):
    """A shard could not be upgraded to the current schema; it was rolled back untouched."""


class ShardCountMismatch(StorageError, ConfigError):
    """The data directory holds a different number of shards than was asked for."""
