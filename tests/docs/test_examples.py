"""The examples run to completion, every Python block of the README and of the docs runs, and the
README's commands are the ones CI runs.

Snippets: a page's ```python blocks are concatenated in order and run as one script in an empty
directory, with a clean environment. A block that cannot run on its own (a fragment of a user's
project: settings, a view) is marked by the line `<!-- no-run: why -->` just above its fence; it
is only compiled. docs/django.md and docs/flask.md are made of such fragments (indented in their
setup steps), so their blocks are only compiled. Every page in docs/ is covered: a new page is
run as it is, unless it is added to COMPILE_ONLY.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from queue_max.config import ENV_VARS
from _helpers import clean_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DOC_PAGES = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md"))
PAGES = ["README.md", *DOC_PAGES]
# pages whose blocks are fragments of a user's project: each block must compile, none is run
COMPILE_ONLY = {"docs/django.md", "docs/flask.md"}
# pages that must have Python blocks (so that a broken fence or pattern cannot silently skip them)
HAVE_BLOCKS = ["README.md", "docs/queue.md", "docs/storage.md", "docs/configuration.md",
               "docs/errors.md", "docs/workers.md", "docs/tasks.md", "docs/fastapi.md",
               "docs/events.md", "docs/django.md", "docs/flask.md"]
# the extras a page's snippets import; without them the page is skipped (`pip install -e ".[dev]"`)
NEEDS = {"README.md": ["fastapi", "httpx", "flask", "bubus"], "docs/fastapi.md": ["fastapi", "httpx"],
         "docs/events.md": ["bubus"]}
NO_RUN = re.compile(r"^<!-- no-run\b.*-->$")
TIMEOUT = 120


def _run(args: list[str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env={**clean_env(), **extra_env}, capture_output=True,
        text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False,
    )


def _python_blocks(text: str) -> list[tuple[str, bool]]:
    """Every ```python block of a page, dedented, in order, with whether it is marked no-run."""
    blocks = []
    for match in re.finditer(r"^( *)```python\n(.*?)^\1```", text, re.DOTALL | re.MULTILINE):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        blocks.append((textwrap.dedent(match.group(2)), bool(NO_RUN.match(before))))
    return blocks


def test_the_demo_runs_to_completion_and_shows_each_feature(tmp_path):
    # When the demo runs from an unrelated directory, with its own temporary directory
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = _run([str(EXAMPLES / "demo.py")], tmp_path, TMPDIR=str(temp))
    # Then it exits 0 and shows tasks enqueued every way, the worker's timeline, results and stats
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"send_email\.delay\(to, subject\) +job \d+ +priority 2", out)
    assert re.search(r"resize_image\.map\(20 images, width\) +20 jobs +stored in one batch", out)
    assert re.search(r"build_report\.schedule_in\(1\.0, day\) +job \d+ +not before 1\.0s", out)
    assert re.search(r"same dedupe_key, twice +job (\d+) +the second call returned job \1: one job", out)
    assert "26 jobs pending, 1 of them scheduled for later" in out
    # the timeline: a retry, a permanent failure and an exhausted one, from the library's log
    assert re.search(r"\d\.\d\ds  worker demo-worker: job \d+ failed \(attempt 1 of 3\), will retry: "
                     r"TimeoutError: api\.example\.com timed out", out)
    assert "failed for good (attempt 1 of 3): Permanent: card 4000-0000-0000-0002 declined" in out
    assert "failed for good (attempt 2 of 2): ConnectionError: warehouse north unreachable" in out
    assert re.search(r"job \d+ completed \(build_report\)", out)
    # the results, read back through the handles
    assert re.search(r"resize_image +20 jobs +20 completed, first: \{'thumbnail': 'thumbs/128/img0\.png'\}", out)
    assert re.search(r"build_report +job \d+ +completed  'report for 2024-06-01', started \d\.\ds after", out)
    assert re.search(r"call_flaky_api +job \d+ +completed  'ok' after 2 attempts \(TimeoutError: ", out)
    assert re.search(r"charge_card +job \d+ +failed +TaskFailed: Permanent: card 4000-0000-0000-0002 "
                     r"declined \(1 attempt\)", out)
    assert re.search(r"sync_inventory +job \d+ +failed +TaskFailed: ConnectionError: warehouse north "
                     r"unreachable \(2 attempts\)", out)
    assert re.search(r"job \d+ +2 attempts +ConnectionError: warehouse north unreachable", out)
    assert re.search(r"job \d+ +1 attempt +Permanent: card 4000-0000-0000-0002 declined", out)
    # the stats, aligned
    assert re.search(r"completed +24   retried +2\n", out) and re.search(r"dead_letter +2   lost +0\n", out)
    assert re.search(r"pending +0   processed +24\n", out)
    assert out.rstrip().endswith("demo finished OK")
    # and it cleaned up after itself
    assert list(temp.iterdir()) == [] and list(tmp_path.iterdir()) == [temp]


def test_the_basic_usage_example_runs_its_five_jobs_on_a_worker(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = _run([str(EXAMPLES / "basic_usage.py")], tmp_path, TMPDIR=str(temp))
    assert done.returncode == 0, done.stdout + done.stderr
    for i in range(5):
        assert f"Processing: {{'task': 'job-{i}'}}" in done.stdout
    assert "Stats: {'pending': 0, 'processing': 0, 'failed': 0, 'completed': 5" in done.stdout
    assert list(temp.iterdir()) == [] and list(tmp_path.iterdir()) == [temp]


def test_the_pages_that_should_have_python_blocks_have_them():
    for page in HAVE_BLOCKS:
        assert _python_blocks((ROOT / page).read_text(encoding="utf-8")), f"{page} has no python blocks"
    assert set(COMPILE_ONLY) <= set(PAGES)


def test_the_docs_index_lists_every_page():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for page in DOC_PAGES:
        name = Path(page).name
        assert name == "index.md" or f"]({name})" in index, f"docs/index.md does not link {name}"


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_of_the_page_runs(page, tmp_path):
    # Given the page's Python blocks, concatenated in order (fragments only compiled)
    for module in NEEDS.get(page, []):
        pytest.importorskip(module)
    blocks = _python_blocks((ROOT / page).read_text(encoding="utf-8"))
    for n, (code, _) in enumerate(blocks, 1):
        compile(code, f"{page} python block {n}", "exec")
    runnable = [code for code, no_run in blocks if not no_run]
    if page in COMPILE_ONLY or not runnable:
        return
    script = tmp_path / "snippets.py"
    script.write_text("\n\n".join(runnable), encoding="utf-8")
    temp = tmp_path / "tmp"   # where their tempfile.mkdtemp() directories go
    temp.mkdir()
    # When they run as one script in a directory of their own
    done = _run([str(script)], tmp_path, TMPDIR=str(temp))
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
