"""The results table: which figure each row shows, the issue's target for it, text and markdown.

A row reads one figure from each side's median results (a dict of workload -> figures) and, where
the issue sets a target, judges ours against it: PASS, MISS, or n/a when a figure is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ROWS", "Row", "render_markdown", "render_text", "table"]

Results = dict[str, dict[str, Any]]  # workload -> median figures (or {"error": ...})
Value = float | None


def _fig(workload: str, key: str) -> Callable[[Results], Value]:
    def read(res: Results) -> Value:
        value = res.get(workload, {}).get(key)
        return float(value) if isinstance(value, (int, float)) else None

    return read


Reader = Callable[[Results], Value]


def _quotient(num: Reader, den: Reader) -> Reader:
    def read(res: Results) -> Value:
        a, b = num(res), den(res)
        return a / b if a is not None and b else None

    return read


def _ratio_at_least(x: float) -> Callable[[Value, Value], bool | None]:
    return lambda ours, ref: None if ours is None or not ref else ours / ref >= x


def _at_least(x: float) -> Callable[[Value, Value], bool | None]:
    return lambda ours, ref: None if ours is None else ours >= x


def _at_most(x: float) -> Callable[[Value, Value], bool | None]:
    return lambda ours, ref: None if ours is None else ours <= x


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure of one workload on both sides, and its target if any."""

    workload: str
    metric: str
    value: Callable[[Results], Value]
    unit: str  # "/s", "ms", "x" or "" (a count)
    target: str = ""
    check: Callable[[Value, Value], bool | None] | None = None


def _speed(workload: str, times: float) -> Row:
    """Jobs per second, with a target of ``times`` the reference's figure."""
    value = _fig(workload, "rate")
    return Row(workload, "jobs/s", value, "/s", f">= {times:g}x ref", _ratio_at_least(times))


def _latency(workload: str, pct: int, limit_ms: float | None) -> Row:
    value = _fig(workload, f"p{pct}_ms")
    if limit_ms is None:
        return Row(workload, f"p{pct}", value, "ms")
    return Row(workload, f"p{pct}", value, "ms", f"<= {limit_ms:g} ms", _at_most(limit_ms))


def _zero(workload: str, key: str) -> Row:
    return Row(workload, key, _fig(workload, key), "", "0", _at_most(0))


_DEPTH_RATIO = _fig("enqueue_at_depth", "depth_ratio")  # the two loops of one process
_16_VS_4 = _quotient(_fig("drain_16w_1s", "rate"), _fig("drain_4w_6s", "rate"))
_DELAY_VS_ENQUEUE = _quotient(_fig("task_delay", "rate"), _fig("enqueue_single", "rate"))
_TASKS_VS_PLAIN = _quotient(_fig("drain_tasks_4w_6s", "rate"), _fig("drain_4w_6s", "rate"))

ROWS: list[Row] = [
    _speed("enqueue_single", 15),
    _speed("enqueue_batch", 4),
    _speed("pop_complete", 3.5),
    Row("enqueue_at_depth", "jobs/s, 200k pending", _fig("enqueue_at_depth", "rate"), "/s"),
    Row("enqueue_at_depth", "at depth / empty", _DEPTH_RATIO, "x", ">= 0.80", _at_least(0.8)),
    _speed("drain_4w_6s", 8),
    _speed("drain_16w_1s", 12),
    Row("drain_16w_1s", "/ own drain_4w_6s", _16_VS_4, "x", ">= 0.75", _at_least(0.75)),
    Row("task_delay", "jobs/s", _fig("task_delay", "rate"), "/s"),
    Row("task_delay", "/ own enqueue_single", _DELAY_VS_ENQUEUE, "x", ">= 0.80", _at_least(0.8)),
    Row("drain_tasks_4w_6s", "jobs/s", _fig("drain_tasks_4w_6s", "rate"), "/s"),
    Row("drain_tasks_4w_6s", "/ own drain_4w_6s", _TASKS_VS_PLAIN, "x", ">= 0.80", _at_least(0.8)),
    _latency("latency_inproc", 50, 1),
    _latency("latency_inproc", 99, 3),
    _latency("latency_xproc", 50, 20),
    _latency("latency_xproc", 99, None),
    Row("multiproc_drain", "jobs/s", _fig("multiproc_drain", "rate"), "/s"),
    _zero("multiproc_drain", "duplicates"),
    _zero("multiproc_drain", "lost"),
]

HEADER = ["workload", "metric", "ours", "reference", "ours/ref", "target", "result"]


def _fmt(value: Value, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.0f}"


def _verdict(row: Row, ours: Value, ref: Value) -> str:
    if row.check is None:
        return ""
    outcome = row.check(ours, ref)
    return "n/a" if outcome is None else ("PASS" if outcome else "MISS")


def table(rows: list[Row], ours: Results, ref: Results) -> list[list[str]]:
    """The table's cells, header first."""
    cells = [HEADER]
    for row in rows:
        a, b = row.value(ours), row.value(ref)
        ratio = f"{a / b:.2f}x" if a is not None and b else "n/a"
        if row.unit == "x" or (row.unit == "" and row.check is not None):
            ratio = ""  # a ratio of ratios (or of counts) means nothing
        cells.append([row.workload, row.metric, _fmt(a, row.unit), _fmt(b, row.unit), ratio,
                      row.target, _verdict(row, a, b)])
    return cells


def render_text(cells: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in cells) for c in range(len(cells[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(cells: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(v or " " for v in r) + " |" for r in cells[1:]]
    return "\n".join(lines)
