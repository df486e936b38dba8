"""JobContext and current_job(): what a running handler may ask about its job (see `queue_max._context`)."""

from .._context import JobContext, current_job

__all__ = ["JobContext", "current_job"]
