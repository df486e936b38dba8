"""The workers' errors: a job over its time limit, a cancelled job, a job no handler can run."""

from __future__ import annotations

from ..errors import QueueMaxError, StoppedOnCancel
from ..retry import Permanent

__all__ = ["JobCancelRequested", "JobCancelled", "JobTimeout", "NoHandler"]


class JobTimeout(QueueMaxError, TimeoutError):
    """A job ran past its time limit: the attempt is recorded as failed and retried per policy."""

    def __init__(self, job_id: int, seconds: float, detail: str = "") -> None:
        self.job_id = job_id
        self.seconds = seconds
        message = f"job {job_id} exceeded its time limit of {seconds:g}s"
        super().__init__(f"{message}; {detail}" if detail else message)


class JobCancelled(QueueMaxError):
    """The worker is shutting down and gave up waiting for this job; it was released, not failed."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} was cancelled: its worker is shutting down (the job was released)")


class JobCancelRequested(JobCancelled, StoppedOnCancel):
    """`cancel(job_id)` was asked while the job ran and its handler saw it at a `check()`: the
    job ends cancelled, not failed and not retried."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        QueueMaxError.__init__(self, f"job {job_id} was cancelled while it ran: cancel({job_id}) was asked, "
                                     "and its handler stopped at a check()")


class NoHandler(Permanent, QueueMaxError):
    """Nothing can run this job (no process_function, no registered task); it is dead-lettered."""
