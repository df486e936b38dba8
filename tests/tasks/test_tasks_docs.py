"""docs/tasks.md: its Python examples run, in order, as one program."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "tasks.md"
pytestmark = pytest.mark.slow


def test_the_examples_of_the_tasks_guide_run(tmp_path):
    pytest.importorskip("queue_max.workers")
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.MULTILINE | re.DOTALL)
    assert len(blocks) > 10
    script = tmp_path / "tasks_guide.py"
    script.write_text("\n".join(blocks))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DATA_DIR": str(tmp_path / "data"),
           "RATE_LIMIT_MAX": "0"}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
