"""The Django and Flask examples run to completion on their own, from any directory, and leave
nothing behind."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from _helpers import run_example

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT = 120


def _run(script: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_example(script, cwd, "DJANGO_SETTINGS_MODULE", timeout=TIMEOUT)


def test_the_django_example_enqueues_from_a_view_and_a_burst_worker_runs_everything(tmp_path):
    # When the Django example runs from an unrelated directory
    done = _run(EXAMPLES / "django_app" / "main.py", tmp_path)
    # Then it exits 0 after the view enqueued both kinds of task and the worker ran them
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"POST /subscribe/ -> 202 \{'welcome': \d+, 'digest': '\d+'\}", out)
    assert "worker " in out and "processed 2, failed 0" in out
    assert ("Django task build_digest: SUCCESSFUL -> {'to': 'ana@example.com', "
            "'topics': ['django', 'sqlite'], 'articles': 6}") in out
    assert "queue-max task send_welcome: welcome mail sent to ana@example.com" in out
    assert re.search(r"total\s+0\s+0\s+0\s+2\s", out)
    assert out.rstrip().endswith("django example finished OK")
    # and it removed its queue directory
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_flask_example_enqueues_from_a_view_and_the_flask_cli_worker_runs_it(tmp_path):
    done = _run(EXAMPLES / "flask_app.py", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"POST /avatars/ana -> 202 job \d+", out)
    assert "processed 1, failed 0" in out
    assert "resize_avatar: {'user': 'ana', 'size': 256, 'stored_in': 'avatars-example'}" in out
    assert re.search(r"total\s+0\s+0\s+0\s+1\s", out)
    assert out.rstrip().endswith("flask example finished OK")
    assert list((tmp_path / "tmp").iterdir()) == []
