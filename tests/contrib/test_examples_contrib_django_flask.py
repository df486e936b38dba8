"""The Django and Flask examples run to completion on their own, from any directory, and leave
nothing behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from _helpers import clean_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT = 120


def _run(script: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `script` as a user would: a clean environment (no queue-max or Django settings), this
    checkout's code first on the path, and its own temporary directory."""
    temp = cwd / "tmp"
    temp.mkdir()
    env = clean_env("DJANGO_SETTINGS_MODULE")
    env["TMPDIR"] = str(temp)
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False)


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
