"""Validation of job-search filters into a `JobQuery` (what `Queue.find_jobs` accepts)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from .errors import ConfigError
from .models import JobQuery, JobStatus

__all__ = ["build_query"]

def _instant(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigError(f"{name} must be an aware datetime (with a UTC offset), got {value!r}")
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ConfigError(f"{name} must be an aware datetime or epoch seconds, got {value!r}")


def _text(name: str, value: object, longest: int = 200) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > longest:
        raise ConfigError(f"{name} must be a non-empty str of at most {longest} characters, got {value!r:.80}")
    return value


def _optional_int(name: str, value: object, low: int, high: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ConfigError(f"{name} must be an int {allowed}, got {value!r}")
    return value


def build_query(num_shards: int, **filters: Any) -> JobQuery:
    """A `JobQuery` from keyword filters, each checked; raises `ConfigError` naming the bad one."""
    status = filters.get("status")
    if status is not None:
        try:
            status = JobStatus(status.value if isinstance(status, JobStatus) else status)
        except ValueError:
            allowed = ", ".join(s.value for s in JobStatus)
            raise ConfigError(f"status must be one of {allowed} or None, got {status!r}") from None
    budget = filters.get("time_budget", 2.0)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= 60:
        raise ConfigError(f"time_budget must be seconds from 0 (exclusive) to 60, got {budget!r}")
    since = _instant("since", filters.get("since"))
    until = _instant("until", filters.get("until"))
    if since is not None and until is not None and since >= until:
        raise ConfigError(f"since must be before until, got since={since!r} until={until!r}")
    return JobQuery(
        status=status,
        task=_text("task", filters.get("task")),
        error_type=_text("error_type", filters.get("error_type")),
        shard_id=_optional_int("shard_id", filters.get("shard_id"), 0, num_shards - 1),
        created_since=since,
        created_until=until,
        payload_contains=_text("payload_contains", filters.get("payload_contains")),
        queue_name=_text("queue_name", filters.get("queue_name")),
        before_id=_optional_int("before_id", filters.get("before_id"), 1),
        time_budget=float(budget),
    )
