"""System checks of `settings.QUEUE_MAX`: unknown keys, bad values, and an unusable data directory.

    queue_max.E001  QUEUE_MAX is not a dict
    queue_max.E002  an unknown key (with the closest allowed one)
    queue_max.E003  a bad value (type or range), or two values that do not fit together
    queue_max.E004  the data directory cannot be used: a file, or not writable by this process
    queue_max.E005  a queue-max environment variable is malformed
    (queue_max.E010 / E011 / W010: a QueueMaxBackend's OPTIONS, see `backend`)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.core import checks  # type: ignore[import-untyped,unused-ignore]

from ...config import load_settings
from ...errors import ConfigError
from .conf import validate

__all__ = ["check_data_dir", "check_settings"]

_OBJ = "settings.QUEUE_MAX"


def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Errors for everything wrong with `settings.QUEUE_MAX` and its data directory."""
    from django.conf import settings  # type: ignore[import-untyped,unused-ignore]

    options, problems = validate(getattr(settings, "QUEUE_MAX", None))
    messages: list[checks.CheckMessage] = [
        checks.Error(p.message, hint=p.hint, obj=_OBJ, id=p.check_id) for p in problems]
    if problems:
        return messages
    data_dir = options.get("data_dir")
    if data_dir is None:
        try:
            data_dir = load_settings().data_dir
        except ConfigError as exc:
            return [checks.Error(f"a queue-max environment variable is malformed: {exc}",
                                 obj=_OBJ, id="queue_max.E005")]
    problem = check_data_dir(Path(data_dir))
    if problem is not None:
        messages.append(checks.Error(problem, hint="Set QUEUE_MAX['DATA_DIR'] to a directory this "
                                     "process can create and write.", obj=_OBJ, id="queue_max.E004"))
    return messages


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def check_data_dir(path: Path) -> str | None:
    """Why the queue could not use `path` as its data directory, or None if it can.

    Read-only: nothing is created. (A root process passes permission checks everywhere.)"""
    if path.exists():
        if not path.is_dir():
            return f"the queue's data directory {str(path)!r} is a file, not a directory"
        if not _writable(path):
            return f"the queue's data directory {str(path)!r} is not writable by this process"
        for shard in sorted(path.glob("shard_*.db")):
            if not os.access(shard, os.R_OK | os.W_OK):
                return f"the shard file {str(shard)!r} is not readable and writable by this process"
        return None
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return (f"the queue's data directory {str(path)!r} cannot be created: "
                f"{str(parent)!r} is a file, not a directory")
    if not _writable(parent):
        return (f"the queue's data directory {str(path)!r} cannot be created: "
                f"{str(parent)!r} is not writable by this process")
    return None
