"""The arithmetic of host-wide flow control that every backend shares: bucket refill, breaker steps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..models import BreakerView

__all__ = ["CLOSED", "blocks_from_rows", "breaker_after", "gate", "refill"]

CLOSED = BreakerView("closed", 0, None, None)


def refill(tokens: float, stamp: float, rate: float, burst: float, now: float) -> float:
    """The tokens of a bucket at `now` (a clock that stepped back refills nothing)."""
    return min(burst, tokens + max(0.0, now - stamp) * rate)


def breaker_after(view: BreakerView, outcome: str, threshold: int, now: float) -> BreakerView:
    """A breaker's next state after a job's `outcome`: success, failure, or abandoned."""
    if outcome == "success":
        return CLOSED
    if outcome == "abandoned":  # the trial claimed nothing: let the next claim try
        return view._replace(trial_until=now) if view.state == "half_open" else view
    failures = view.failures + 1
    if view.state == "open":  # a job that started before it opened: the timeout runs on
        return view._replace(failures=failures)
    if view.state == "half_open" or failures >= threshold:
        return BreakerView("open", failures, now, None)
    return view._replace(failures=failures)


def blocks_from_rows(rows: Iterable[Any]) -> tuple[frozenset[str], dict[str, BreakerView]]:
    """`claim_blocks` from the rows of its one query: ("paused", name, ...) or ("breaker", name,
    state, failures, opened_at, trial_until)."""
    paused: set[str] = set()
    breakers: dict[str, BreakerView] = {}
    for kind, name, state, failures, opened_at, trial_until in rows:
        if kind == "paused":
            paused.add(name)
        else:
            breakers[name] = BreakerView(state, int(failures), opened_at, trial_until)
    return frozenset(paused), breakers


def gate(view: BreakerView, recovery_s: float, now: float) -> str:
    """What a claim may do under this breaker: "closed", "open", or "trial" (the caller then
    records the half-open trial it takes)."""
    if view.state == "closed":
        return "closed"
    if view.state == "open" and now < (view.opened_at or 0.0) + recovery_s:
        return "open"
    if view.state == "half_open" and now < (view.trial_until or 0.0):
        return "open"  # another claimer holds the one trial
    return "trial"
