"""The examples run to completion, every Python block of the docs runs, and the README's
commands are the ones CI runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from queue_max.config import ENV_VARS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# the pages whose every ```python block must run, top to bottom, as one script
RUNNABLE_DOCS = ["README.md", "docs/queue.md", "docs/storage.md", "docs/configuration.md", "docs/errors.md"]
TIMEOUT = 120


def _clean_env() -> dict[str, str]:
    """The caller's environment without queue-max settings, with this checkout's code first."""
    env = {name: value for name, value in os.environ.items() if name not in ENV_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def _run(args: list[str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env={**_clean_env(), **extra_env}, capture_output=True,
        text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False,
    )


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


def test_the_demo_runs_to_completion_and_shows_each_feature(tmp_path):
    # When the demo runs from an unrelated directory, with its own temporary directory
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = _run([str(EXAMPLES / "demo.py")], tmp_path, TMPDIR=str(temp))
    # Then it exits 0 and shows batch, delay, dedupe, retry, dead letters, results and stats
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "enqueued a batch of 20 jobs in one call" in out
    assert re.search(r"dedupe: the same key twice gives one job: (\d+) == \1 -> True", out)
    assert re.search(r"delayed job \d+: ran \d\.\ds after it was enqueued", out)
    assert re.search(r"retried job \d+: status=completed after 2 attempts", out)
    assert "dead letter: job" in out and "ConnectionError: warehouse north unreachable" in out
    assert "Permanent: card 4000-0000-0000-0002 declined" in out
    assert re.search(r"completed\s+24\n", out) and re.search(r"dead_letter\s+2\n", out)
    assert out.rstrip().endswith("demo finished OK")
    # and it cleaned up after itself
    assert list(temp.iterdir()) == [] and list(tmp_path.iterdir()) == [temp]


def test_the_basic_usage_example_processes_its_five_jobs(tmp_path):
    done = _run([str(EXAMPLES / "basic_usage.py")], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for i in range(5):
        assert f"Processing: {{'task': 'job-{i}'}}" in done.stdout
    assert "Stats: {'pending': 0, 'processing': 0, 'failed': 0, 'completed': 5" in done.stdout


@pytest.mark.parametrize("page", RUNNABLE_DOCS)
def test_every_python_block_of_the_page_runs(page, tmp_path):
    # Given the page's Python blocks, concatenated in order
    blocks = _python_blocks((ROOT / page).read_text(encoding="utf-8"))
    assert blocks, f"{page} has no python blocks"
    script = tmp_path / "snippets.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    # When they run as one script in an empty directory
    done = _run([str(script)], tmp_path)
    # Then nothing fails
    assert done.returncode == 0, f"{page}:\n{done.stdout}\n{done.stderr}"


def test_readme_opens_with_the_demo_and_test_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    before, fence, rest = readme.partition("```bash\n")
    # only the title and one sentence come before the first code block
    lines = [line for line in before.splitlines() if line.strip()]
    assert fence and len(lines) == 2 and lines[0].startswith("# ")
    commands = rest.split("```", 1)[0].strip().splitlines()
    assert len(commands) == 2
    assert commands[0].endswith("examples/demo.py") and "pytest" in commands[1]
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    ci_lines = [line.strip() for line in ci.read_text(encoding="utf-8").splitlines()]
    assert commands[1] in ci_lines


def test_every_env_variable_and_queue_keyword_is_in_the_configuration_guide():
    import inspect

    from queue_max import Queue

    guide = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name in ENV_VARS:
        assert f"`{name}`" in guide, name
    for name in inspect.signature(Queue).parameters:
        assert f"`{name}`" in guide, name
