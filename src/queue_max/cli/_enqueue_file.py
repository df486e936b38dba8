"""`queue-max enqueue --file`: read and check every record (with a progress bar), then store all or none."""

from __future__ import annotations

import re
import time
from pathlib import Path

from .._files import read_job_file
from ..errors import InvalidPayload
from ._context import Context
from ._errors import UsageError
from ._output import Progress, emit_json

__all__ = ["enqueue_file"]

_ITEM = re.compile(r"^enqueue_batch item (\d+)")


def _count_records(path: Path, fmt: str | None) -> int | None:
    """How many records the file holds, for the progress bar (None when only parsing can tell)."""
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen not in ("jsonl", "ndjson", "csv") or not path.is_file():
        return None
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return max(0, lines - 1) if chosen == "csv" else lines


def _name_record(message: str, wheres: list[str]) -> str:
    """Say which line of the file a batch item came from ("enqueue_batch item 7" -> "jobs.jsonl line 8")."""
    match = _ITEM.match(message)
    if match and int(match.group(1)) < len(wheres):
        return wheres[int(match.group(1))] + message[match.end():]
    return message


def enqueue_file(ctx: Context, path: str, fmt: str | None) -> int:
    """Validate every record of the file, then enqueue them in one all-or-nothing batch."""
    file = Path(path)
    started = time.monotonic()
    progress = Progress(f"reading {file.name}", None)
    if progress.enabled:
        progress.total = _count_records(file, fmt)
    specs: list[dict[str, object]] = []
    wheres: list[str] = []
    try:
        try:
            for where, spec in read_job_file(file, fmt):
                specs.append(spec)
                wheres.append(where)
                progress.advance()
            progress.phase(f"writing {len(specs)} jobs")
            with ctx.open_queue(create=True) as queue:
                result = queue.enqueue_batch(specs)
        except InvalidPayload as exc:
            raise UsageError(f"{_name_record(str(exc), wheres)}; nothing was enqueued") from None
    finally:
        progress.close()
    elapsed = time.monotonic() - started
    if ctx.json:
        emit_json({"file": str(file), "total": result["total"], "ids": result["ids"]})
    else:
        print(f"enqueued {result['total']} job{'s' if result['total'] != 1 else ''} from {file} "
              f"in {elapsed:.2f}s")
    return 0
