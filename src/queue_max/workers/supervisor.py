"""The Supervisor of worker processes (its home is `queue_max.workers.processes`)."""

from .processes.supervisor import KILL_GRACE, Supervisor

__all__ = ["KILL_GRACE", "Supervisor"]
