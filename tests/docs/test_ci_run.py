"""`.ci/run`, the CI entry point: a leg whose Python is missing is said and skipped, never run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("python3.12", path="/usr/local/bin:/usr/bin:/bin") is not None,
                    reason="this machine has a system Python 3.12")
def test_a_leg_whose_python_is_missing_is_reported_and_skipped_and_nothing_tested_is_no_pass(tmp_path):
    # Given a machine without Python 3.12: an empty pyenv and no python3.12 on PATH
    (tmp_path / "versions").mkdir()
    env = {**os.environ, "PYENV_ROOT": str(tmp_path), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    # When only the 3.12 leg is asked for
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run"), "3.12"], env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, cwd=ROOT)
    # Then the leg is skipped and says why, and a run that tested
    # nothing at all fails instead of passing
    assert "leg 3.12: SKIPPED, Python 3.12 is not on this machine" in done.stdout
    assert "3.12     skipped Python 3.12 is not on this machine" in done.stdout
    assert "no leg ran: nothing was tested" in done.stdout and done.returncode == 1
    assert "pytest" not in done.stdout
