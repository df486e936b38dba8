"""Decoding of SQLite rows into job value objects."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ...models import DeadLetter, ErrorInfo, Job, JobStatus

__all__ = ["dead_letter", "full_job"]

_SHARD_BITS = 1024
# "scheduled" is how storage keeps a pending job that is not due yet
_STATUS = {**{s.value: s for s in JobStatus}, "scheduled": JobStatus.PENDING}


def full_job(shard_id: int, row: Any, errors: Iterable[Any]) -> Job:
    """A Job from a row selected with the full column list of `Q.get`."""
    (rowid, pagina_id, payload, status, priority, attempts, max_attempts, token, worker_id,
     created_at, run_at, started_at, completed_at, lease_expires_at, last_error, error_type,
     error_stack, dedupe_key, result) = row
    return Job(
        rowid * _SHARD_BITS + shard_id, shard_id, json.loads(payload), _STATUS[status], priority,
        attempts, max_attempts, created_at, run_at, token, worker_id, started_at, completed_at,
        lease_expires_at, last_error, error_type, error_stack, pagina_id, dedupe_key,
        None if result is None else json.loads(result),
        tuple(ErrorInfo(e[0] or "", e[1] or "", e[2], e[3], e[4], e[5]) for e in errors),
    )


def dead_letter(row: Any) -> DeadLetter:
    entry_id, original, shard_id, payload, error, error_type, failed_at, attempts, stack, _rowid = row
    return DeadLetter(entry_id, original, shard_id, json.loads(payload), error, error_type,
                      failed_at, attempts, stack)
