"""Worker processes: the `Supervisor` and the modules named for their side of the fork.

`supervisor` and `_parent` run in the supervising process; `_child` is the worker process's main;
the file between them is `queue_max._scoreboard` (written by the child, read by the parent)."""

from .supervisor import KILL_GRACE, Supervisor

__all__ = ["KILL_GRACE", "Supervisor"]
