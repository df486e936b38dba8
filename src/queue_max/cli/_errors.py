"""The CLI's exit codes and the one-line error messages it prints instead of tracebacks."""

from __future__ import annotations

import enum

from ..errors import ConfigError, QueueMaxError

__all__ = ["CliError", "ExitCode", "UsageError", "describe"]


class ExitCode(enum.IntEnum):
    """What a `queue-max` process tells its caller (a shell, a supervisor, a health probe)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    UNHEALTHY = 3
    JOBS_RELEASED = 4
    INTERRUPTED = 130


class CliError(Exception):
    """A failure the CLI explains in one line; `code` is the exit status."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CliError):
    """The command line itself is wrong: an unknown flag, a bad value, a module that won't import."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.USAGE)


def describe(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and the message line for an exception that reached `main`."""
    if isinstance(exc, CliError):
        return exc.code, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED, "interrupted"
    if isinstance(exc, ConfigError):
        # bad settings (flags or environment variables): fixing the invocation is the cure
        return ExitCode.USAGE, str(exc)
    if isinstance(exc, QueueMaxError):
        message = str(exc) or type(exc).__name__
        return ExitCode.ERROR, message
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return ExitCode.ERROR, f"{exc.strerror or exc}{where}"
    return ExitCode.ERROR, (f"unexpected {type(exc).__name__}: {exc} "
                            "(run with --debug for the traceback; please report it)")
