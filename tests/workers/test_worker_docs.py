"""Every Python example of docs/workers.md runs and prints what the page says it prints."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "workers.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
pytestmark = pytest.mark.slow


def expected_prints(code: str) -> list[str]:
    """The `# value` comments after print(...) lines: what each print is said to show."""
    return [m.group(1).strip() for m in re.finditer(r"^print\(.*\)\s+#\s*(.+)$", code, re.M)]


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{n}" for n in range(len(BLOCKS))])
def test_the_example_runs_and_prints_what_the_page_says(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})
    printed = out.getvalue().splitlines()
    for line, expected in zip(printed, expected_prints(code), strict=False):
        if "..." in expected:
            pattern = ".*".join(re.escape(part) for part in expected.split("..."))
            assert re.fullmatch(pattern, line), (line, expected)
        else:
            assert line == expected, (line, expected)
    assert os.getcwd()  # the example left a working directory behind
