"""Helpers that test modules import instead of copying: waiting, threads, doc pages, public names."""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from queue_max.config import ENV_VARS

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def wait_until(predicate: Callable[[], object], timeout: float = 60.0) -> bool:
    """Poll `predicate` until it is true (True) or `timeout` real seconds pass (False). The
    timeout only bounds a failing test: a passing one returns as soon as the condition holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_for_value(produce: Callable[[], T], timeout: float = 60.0) -> T:
    """The first truthy value `produce` returns; `AssertionError` if none came within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = produce()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def run_threads(count: int, target: Callable[[], object]) -> None:
    """Run `target` in `count` threads at once and wait for all of them (pair it with a
    `threading.Barrier(count)` inside `target` so that they really start together)."""
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def clean_env(*also_drop: str) -> dict[str, str]:
    """The caller's environment as a user's would be: no queue-max settings (nor `also_drop`), and
    this checkout's code first on the path."""
    env = {name: value for name, value in os.environ.items() if name not in ENV_VARS and name not in also_drop}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def run_example(script: Path, cwd: Path, *also_drop: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run an example as a user would: from `cwd`, in `clean_env(*also_drop)`, with its own empty
    temporary directory `cwd/tmp` (so a test can check that it cleaned up after itself)."""
    temp = cwd / "tmp"
    temp.mkdir()
    env = {**clean_env(*also_drop), "TMPDIR": str(temp)}
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def run_guide(page: str, tmp_path: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the ```python blocks of `docs/<page>`, concatenated in order, as one script in
    `tmp_path`, with none of queue-max's environment variables set; the finished process."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    script = tmp_path / f"{Path(page).stem}_guide.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def assert_public_names_sorted_and_complete(package_name: str) -> None:
    """Every module of the package declares `__all__`, sorted, and defines each name in it."""
    package = importlib.import_module(package_name)
    names = [package_name] + [m.name for m in pkgutil.walk_packages(package.__path__, package_name + ".")]
    for name in names:
        module = importlib.import_module(name)
        assert module.__all__ == sorted(module.__all__), name
        assert all(hasattr(module, public) for public in module.__all__), name


@contextlib.contextmanager
def worker_running(worker: Any, stop_timeout: float = 5.0) -> Iterator[Any]:
    """`with worker_running(worker):` runs a thread or async worker for the block and stops it after,
    whatever the block raised."""
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(stop_timeout)
