"""Every Python example of docs/dashboard.md and docs/observability.md runs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from queue_max import tracing

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCKS = [(name, code) for name in ("dashboard.md", "observability.md")
          for code in re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), re.S)]


@pytest.mark.parametrize(("page", "code"), BLOCKS, ids=[f"{page}-{i}" for i, (page, _) in enumerate(BLOCKS)])
def test_the_example_runs(page, code, capsys):
    jobs_log, root = logging.getLogger("queue_max.jobs"), logging.getLogger()
    level, handlers = jobs_log.level, list(root.handlers)
    try:
        exec(compile(code, str(DOCS / page), "exec"), {"__name__": "__doc_example__"})
    finally:  # the examples set global things up; later tests must not inherit them
        tracing.use_tracer_provider(None)
        jobs_log.setLevel(level)
        root.handlers[:] = handlers
    printed = capsys.readouterr().out
    for expected in re.findall(r"# (True|\d+ \d+|\['send \w+'\])$", code, re.M):
        assert expected in printed
