"""Printing: aligned tables and key/value blocks for people, stable JSON for machines, a progress bar."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

__all__ = ["Progress", "ago", "compact", "emit_json", "fields", "plural", "stamp", "table"]

_NUMBER = (int, float)


def emit_json(data: Any, out: TextIO | None = None) -> None:
    """Print `data` as indented JSON (keys in the order the command built them)."""
    stream = out or sys.stdout
    stream.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO | None = None) -> None:
    """Print rows under headers in aligned columns; numbers are right-aligned."""
    stream = out or sys.stdout
    raw = [list(row) for row in rows]
    cells = [[_cell(value) for value in row] for row in raw]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    numeric = [any(isinstance(r[i], _NUMBER) for r in raw)
               and all(isinstance(r[i], _NUMBER) or r[i] is None for r in raw)
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    stream.write(line(list(headers)) + "\n")
    for row in cells:
        stream.write(line(row) + "\n")


def fields(pairs: Iterable[tuple[str, Any]], out: TextIO | None = None, indent: str = "") -> None:
    """Print `name  value` lines with the values aligned."""
    stream = out or sys.stdout
    items = [(name, _cell(value)) for name, value in pairs]
    width = max((len(name) for name, _ in items), default=0)
    for name, value in items:
        stream.write(f"{indent}{name.ljust(width)}  {value}".rstrip() + "\n")


def stamp(epoch: float | None) -> str | None:
    """An epoch float as a second-precision UTC time: `2026-11-22T07:13:51Z`."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(seconds: float) -> str:
    """A duration for people: `42s`, `3m10s`, `5h02m`, `2d04h`."""
    s = int(abs(seconds))
    if s < 10:
        return f"{abs(seconds):.1f}s"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def compact(value: Any, width: int = 60) -> str:
    """One-line JSON of `value`, cut to `width` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Progress:
    """A progress bar redrawn in place on a terminal; silent when `stream` is not a TTY."""

    def __init__(self, label: str, total: int | None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.label = label
        self.total = total
        self.done = 0
        self._next_draw = 0.0

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self.enabled and time.monotonic() >= self._next_draw:
            self._next_draw = time.monotonic() + 0.1
            self._draw()

    def phase(self, label: str) -> None:
        """Change the label (e.g. from reading to writing) and redraw."""
        self.label = label
        if self.enabled:
            self._draw()

    def _draw(self) -> None:
        if self.total:
            share = min(1.0, self.done / self.total)
            filled = int(share * 30)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"{self.label} [{bar}] {share:4.0%} {self.done}/{self.total}"
        else:
            text = f"{self.label} {self.done}"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar so the summary line starts clean."""
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def plural(count: int, word: str) -> str:
    """`1 task`, `2 tasks`, `0 tasks`."""
    return f"{count} {word}{'' if count == 1 else 's'}"
