"""Logging set-up for the programs queue-max runs (the CLI, worker processes, framework commands).

The library itself only creates `queue_max.*` loggers and never sets a level or adds a handler;
an application configures logging as it likes. The commands call `log_to_stderr` once.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

from .errors import ConfigError

__all__ = ["LEVELS", "log_to_stderr"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the stream given, or to whatever `sys.stderr` is at the time (tests swap it)."""

    def __init__(self, stream: IO[str] | None) -> None:
        super().__init__(stream or sys.stderr)
        self._fixed = stream

    @property
    def stream(self) -> Any:
        return self._fixed or sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_to_stderr(level: str, *, with_pid: bool = False, stream: IO[str] | None = None) -> logging.Handler:
    """Send the `queue_max` loggers to stderr (or `stream`) at `level`; calling it again
    changes the level and the stream and adds no second handler. Returns the handler."""
    if level not in LEVELS:
        raise ConfigError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    logger = logging.getLogger("queue_max")
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler(stream)
        logger.addHandler(handler)
    handler._fixed = stream
    where = "%(name)s[%(process)d]" if with_pid else "%(name)s"
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {where}: %(message)s"))
    logger.setLevel(level)
    return handler
