"""Type checking: mypy --strict checks `.delay()` and friends against the task's signature."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TYPING = (Path(__file__).resolve().parent.parent / "typing")
ROOT = TYPING.parent.parent
pytest.importorskip("mypy")
pytestmark = pytest.mark.slow


def test_mypy_reports_every_wrong_call_and_no_right_one(tmp_path):
    # Given a typed example of right calls and one of wrong calls, each marked "# error:"
    bad = TYPING / "typed_bad.py"
    expected = {n for n, line in enumerate(bad.read_text().splitlines(), 1) if "# error:" in line}
    # When mypy --strict checks both
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", str(tmp_path),
         "--config-file", str(ROOT / "pyproject.toml"), str(TYPING / "typed_ok.py"), str(bad)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False,
    )
    errors = re.findall(r"^(.+?):(\d+): error: (.*)$", run.stdout, re.MULTILINE)
    # Then the right calls pass, and every wrong call (and only those) is reported
    assert [e for e in errors if e[0].endswith("typed_ok.py")] == [], run.stdout
    reported = {int(line) for path, line, _ in errors if path.endswith("typed_bad.py")}
    assert reported == expected, run.stdout + run.stderr


def test_the_package_itself_passes_mypy_strict(tmp_path):
    # The package is checked with the settings of pyproject.toml ([tool.mypy]: strict, src/queue_max),
    # so a change that breaks its own annotations fails here and not only in an editor.
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(tmp_path),
         "--config-file", str(ROOT / "pyproject.toml")],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
