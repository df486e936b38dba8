"""Turning stored values into safe, readable text: redaction, truncation, ages, a chart."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "DEFAULT_REDACT",
    "Bar",
    "Redactor",
    "age",
    "bars",
    "bucket",
    "clip",
    "stamp",
]

DEFAULT_REDACT = ("password", "token", "secret", "authorization", "api_key")
_MASK = "[redacted]"


class Redactor:
    """Masks values under sensitive keys (at any depth) and truncates what is shown."""

    def __init__(self, keys: Iterable[str], max_chars: int) -> None:
        self.keys = tuple(key.lower() for key in keys)
        self.max_chars = max_chars

    def _sensitive(self, key: object) -> bool:
        name = str(key).lower()
        return any(part in name for part in self.keys)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _MASK if self._sensitive(k) else self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, str):
            return clip(value, self.max_chars)
        return value

    def pretty(self, value: Any) -> str:
        """Indented JSON of `value` with secrets masked: each string cut to `max_chars`, the
        whole text to five times that."""
        text = json.dumps(self.scrub(value), indent=2, ensure_ascii=False, sort_keys=True, default=repr)
        return clip(text, self.max_chars * 5)

    def brief(self, value: Any, chars: int = 120) -> str:
        """One line of JSON for a table cell."""
        return clip(json.dumps(self.scrub(value), ensure_ascii=False, default=repr), chars)

    def text(self, value: str | None) -> str:
        return "" if value is None else clip(value, self.max_chars)


def clip(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    return f"{text[:chars]}… [{len(text) - chars} more characters not shown]"


def stamp(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(seconds: float | None) -> str:
    """A duration as a short human figure: 850ms, 12s, 4m 10s, 3h 5m, 2d 4h."""
    if seconds is None:
        return "—"
    if seconds < 0:
        return "in " + age(-seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


@dataclass(frozen=True)
class Bar:
    """One column of the throughput chart, in SVG user units (the viewBox is 100 high)."""

    x: float
    width: float
    done_height: float
    failed_height: float
    label: str


def bars(series: Sequence[tuple[float, int, int]], width: float = 600.0) -> list[Bar]:
    """Columns for (bucket start, completed, failed) rows, scaled to the tallest bucket."""
    if not series:
        return []
    top = max(done + failed for _start, done, failed in series) or 1
    step = width / len(series)
    scale = 96.0 / top
    out = []
    for index, (start, done, failed) in enumerate(series):
        out.append(Bar(
            x=round(index * step, 2), width=round(max(step - 1, 0.5), 2),
            done_height=round(done * scale, 2), failed_height=round(failed * scale, 2),
            label=f"{stamp(start)}: {done} completed, {failed} failed",
        ))
    return out


def bucket(series: Iterable[tuple[float, int, int]], start: float, span: float, count: int) -> list[tuple[float, int, int]]:
    """Fold per-minute rows into `count` equal buckets from `start` (empty buckets are zeros)."""
    width = span / count
    done = [0] * count
    failed = [0] * count
    for minute, ok, bad in series:
        index = math.floor((minute - start) / width)
        if 0 <= index < count:
            done[index] += ok
            failed[index] += bad
    return [(start + i * width, done[i], failed[i]) for i in range(count)]
