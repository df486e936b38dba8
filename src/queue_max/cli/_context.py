"""What every command shares: the settings, the data directory, opening the queue, argument types."""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .._validate import check_queue_name
from ..config import Settings
from ..errors import ConfigError
from .._flow_limits import check_queue_list
from ..queue import Queue
from ..storage._open import check_database_url, redact_url
from ._errors import CliError

__all__ = ["Context", "count", "duration", "job_id", "non_negative", "queue_exists", "queue_list", "queue_name",
           "shard_count"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def duration(text: str) -> float:
    """An argparse type: seconds as `90`, `1.5`, `250ms`, `30s`, `15m`, `12h`, `7d` or `2w`."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 30, 30s, 15m, 12h or 7d, got {text!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds):
        raise argparse.ArgumentTypeError(f"duration out of range: {text!r}")
    return seconds


def _int(text: str, low: int, high: int | None, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def count(text: str) -> int:
    """An argparse type: an int >= 1."""
    return _int(text, 1, None, "an integer >= 1")


def non_negative(text: str) -> int:
    """An argparse type: an int >= 0."""
    return _int(text, 0, None, "an integer >= 0")


def queue_name(text: str) -> str:
    """An argparse type: a queue name (see docs/queues.md for the allowed characters)."""
    try:
        return check_queue_name(text, ConfigError)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def queue_list(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated queue names, each once."""
    try:
        names = check_queue_list(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    assert names is not None
    return names


def shard_count(text: str) -> int:
    """An argparse type: a shard count, 1 to 1024."""
    return _int(text, 1, 1024, "a shard count from 1 to 1024")


def job_id(text: str) -> int:
    """An argparse type: a job id (a positive int)."""
    return _int(text, 1, None, "a job id (a positive integer)")


def queue_exists(path: Path) -> bool:
    """Whether `path` holds a queue: its first shard file is there.

    Checked before opening so that read commands never create a queue where there was none
    (opening a `Queue` creates the directory and its shard files).
    """
    return (path / "shard_0.db").is_file()


@dataclass
class Context:
    """The parsed command line and the settings every command reads."""

    args: argparse.Namespace
    settings: Settings
    # how the user sets the data directory where this CLI runs (Flask and Django name their own)
    data_dir_setting: str = "--data-dir or the DATA_DIR environment variable"
    # where the command prints (an integration passes its own stream; the CLI, standard output)
    out: TextIO | None = None

    @property
    def stdout(self) -> TextIO:
        return self.out if self.out is not None else sys.stdout

    @property
    def data_dir(self) -> Path:
        given = getattr(self.args, "data_dir", None)
        return Path(given) if given is not None else Path(self.settings.data_dir)

    @property
    def database_url(self) -> str | None:
        """`--database-url`, else QUEUE_MAX_DATABASE_URL; None means SQLite shards in `data_dir`."""
        given = getattr(self.args, "database_url", None)
        if given is None:
            return self.settings.database_url
        return check_database_url(given, "--database-url") if given else None

    @property
    def where(self) -> str:
        """Where the queue lives, for people: the directory, or the URL without its password."""
        url = self.database_url
        return str(self.data_dir) if url is None else redact_url(url)

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def open_queue(self, *, create: bool = False, rate_limit: int | None = 0,
                   rate_limit_burst: int | None = None) -> Queue:
        """The queue in the data directory; unless `create`, refuse to make one where none is.

        `rate_limit=0`: commands that only inspect and manage jobs need no rate limiter."""
        url = self.database_url
        if url is not None:
            return Queue(database_url=url, rate_limit=rate_limit, settings=self.settings)
        path = self.data_dir
        if not create and not queue_exists(path):
            if path.exists() and not path.is_dir():
                raise CliError(f"no queue at {path}: it is a file, not a directory")
            what = "does not exist" if not path.exists() else "has no shard files"
            raise CliError(
                f"no queue at {path} (the directory {what}); set {self.data_dir_setting}, "
                "or create the queue by enqueueing a job or starting a worker there")
        return Queue(data_dir=path, shards=getattr(self.args, "shards", None), rate_limit=rate_limit,
                     rate_limit_burst=rate_limit_burst, settings=self.settings)
