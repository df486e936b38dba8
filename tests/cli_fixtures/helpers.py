"""Fixtures of the CLI tests: a clean environment, `main(argv)` with captured output, subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from queue_max import Queue
from queue_max._clock import SYSTEM_CLOCK, Clock
from queue_max.cli import main
from queue_max.config import ENV_VARS, Settings

__all__ = ["Result", "cli", "data_dir", "make_cli_queue", "module_env", "run_module"]

TESTS = Path(__file__).resolve().parent.parent
SRC = TESTS.parent / "src"


@dataclass
class Result:
    """What one CLI run printed and returned."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A queue directory under tmp_path, with every variable the config reads unset."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


@pytest.fixture
def cli(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `queue-max --data-dir DATA_DIR ARGS...` through `main(argv)`."""

    def run(*args: str, where: Path | None = data_dir) -> Result:
        argv = (["--data-dir", str(where)] if where is not None else []) + list(args)
        code = main(argv)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def make_cli_queue(data_dir: Path) -> Iterator[Callable[..., Queue]]:
    """Open the test's queue directly (to set up jobs), as any producer would."""
    opened: list[Queue] = []

    def make(shards: int = 2, clock: Clock = SYSTEM_CLOCK, **kwargs: Any) -> Queue:
        queue = Queue(data_dir=data_dir, shards=shards, rate_limit=0, settings=Settings(), clock=clock, **kwargs)
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        queue.close()


def run_module(*args: str, timeout: float = 60.0, **popen: Any) -> subprocess.CompletedProcess[str]:
    """`python -m queue_max ARGS...` in a child process with a clean environment."""
    return subprocess.run([sys.executable, "-m", "queue_max", *args], capture_output=True, text=True, check=False,
                          env=module_env(), timeout=timeout, **popen)


def module_env() -> dict[str, str]:
    """The environment of a CLI child process: ours, less the queue's variables, plus the sources."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(TESTS)])
    return env
