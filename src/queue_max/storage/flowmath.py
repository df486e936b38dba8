"""The arithmetic of host-wide flow control that every backend shares: bucket refill, breaker steps."""

from __future__ import annotations

from ..models import BreakerView

__all__ = ["CLOSED", "breaker_after", "refill"]

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
