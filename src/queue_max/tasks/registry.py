"""The task registry: stable task names mapped to the functions that run them."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .._flow_limits import TaskLimits, set_task_breaker, set_task_limits
from .errors import DuplicateTask, UnknownTask

if TYPE_CHECKING:
    from .task import Task

__all__ = ["Registry", "check_name", "default_name", "registry"]

log = logging.getLogger("queue_max.tasks")


def default_name(fn: Callable[..., Any]) -> str:
    """`module:qualname` of `fn`; a script run with `python -m pkg.mod` is named `pkg.mod`."""
    module = getattr(fn, "__module__", None) or "__main__"
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is not None and spec.name and spec.name != "__main__":
            module = spec.name
        else:
            log.info(
                "task %s is defined in a script run as __main__: a worker can only find it if "
                "it runs the same script; define tasks in an importable module or pass name=",
                getattr(fn, "__qualname__", fn),
            )
    return f"{module}:{getattr(fn, '__qualname__', getattr(fn, '__name__', repr(fn)))}"


def check_name(name: object) -> str:
    """`name` if it is a usable task name; else `ConfigError`."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or name != name.strip():
        raise ConfigError(
            f"task name must be a non-empty str of at most 200 characters without surrounding "
            f"spaces, got {name!r}"
        )
    return name


def _same_function(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """Whether `b` is `a` itself or `a` defined again (a module imported twice, or reloaded)."""
    if a is b:
        return True
    key = ("__module__", "__qualname__")
    return all(getattr(a, k, None) == getattr(b, k, None) for k in key)


class Registry:
    """Task name -> Task; safe across threads. The process-wide one is `registry`."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task[Any, Any]] = {}
        self._lock = threading.Lock()

    def register(self, task: Task[Any, Any]) -> None:
        """Add `task` under `task.name`; a different function under a taken name is refused."""
        with self._lock:
            old = self._tasks.get(task.name)
            if old is not None and not _same_function(old.fn, task.fn):
                raise DuplicateTask(
                    f"task name {task.name!r} is already registered for "
                    f"{old.fn.__module__}.{old.fn.__qualname__}; pass name='...' to "
                    f"@task to register {task.fn.__module__}.{task.fn.__qualname__} under another name"
                )
            # the same function re-imported replaces the old definition
            self._tasks[task.name] = task

    def unregister(self, name: str) -> None:
        """Remove a task (tests use this); unknown names are ignored."""
        with self._lock:
            self._tasks.pop(name, None)
        set_task_limits(name, TaskLimits())
        set_task_breaker(name, None)

    def get(self, name: str) -> Task[Any, Any]:
        """The task registered as `name`; raises `UnknownTask` (a `Permanent` error)."""
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTask(name) from None

    def find(self, name: str) -> Task[Any, Any] | None:
        """The task registered as `name`, or None."""
        return self._tasks.get(name)

    def finder(self) -> Callable[[str], Task[Any, Any] | None]:
        """`find` as the registry dict's own `get`, for a path run for every job: no Python
        call (see `dispatch.worker_task_handler`)."""
        return self._tasks.get

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._tasks)


registry = Registry()
