"""The webhook, AI rate-limit and FastAPI examples run to completion on their own, from any
directory, and leave nothing behind."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from _helpers import run_example

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT = 60


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_example(EXAMPLES / script, cwd, "ADMIN_TOKEN", timeout=TIMEOUT)


def _assert_clean(cwd: Path) -> None:
    assert list((cwd / "tmp").iterdir()) == [] and list(cwd.iterdir()) == [cwd / "tmp"]


def test_the_webhook_example_retries_500_and_429_and_dead_letters_the_404(tmp_path: Path) -> None:
    pytest.importorskip("requests")
    done = _run("webhook_processor.py", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"webhook receiver listening on http://127\.0\.0\.1:\d+", out)
    assert re.search(r"/hooks/ok +job \d+: completed after 1 attempt", out)
    assert re.search(r"/hooks/flaky +job \d+: completed after 3 attempt", out)
    assert re.search(r"/hooks/throttled +job \d+: completed after 2 attempt", out)
    assert re.search(r"/hooks/gone +job \d+: failed after 1 attempt", out)
    assert re.search(r"job \d+: requests\.exceptions\.HTTPError: 404 Client Error", out)
    assert out.rstrip().endswith("webhook example finished OK")
    _assert_clean(tmp_path)


def test_the_ai_example_paces_calls_past_the_burst_and_rides_out_the_outage(tmp_path: Path) -> None:
    done = _run("ai_rate_limited.py", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "rate limit 120/min: a burst of 120 calls, then one every 0.50s" in out
    assert "circuit closed -> open" in out
    assert re.search(r"120 prompts answered in [\d.]+s with \d+ API calls", out)
    assert re.search(r"circuit breaker: opened [1-9]\d* time\(s\), now closed", out)
    assert out.rstrip().endswith("AI rate-limit example finished OK")
    _assert_clean(tmp_path)


def test_the_fastapi_example_serves_enqueues_and_reports_through_its_endpoints(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    done = _run("fastapi_app.py", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert len(re.findall(r"job \d+ completed: \{'thumbnail': 'thumbs/\d+/cat-\d\.jpg'", out)) == 3
    assert "GET /admin/queue/stats without a token -> 401" in out
    assert "with the token -> completed=3 pending=0 workers=2 processed=3" in out
    assert out.rstrip().endswith("FastAPI example finished OK")
    _assert_clean(tmp_path)
