"""Reading jobs files (jsonl, json, csv) into job specs, naming the bad line on error."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import InvalidJobFile, InvalidPayload

__all__ = ["FORMATS", "SPEC_KEYS", "read_job_file", "spec_from_record"]

FORMATS = ("jsonl", "json", "csv")
SPEC_KEYS = frozenset({"payload", "pagina_id", "shard_key", "priority", "max_retries", "delay",
                       "run_at", "dedupe_key", "dedupe_window", "queue_name", "concurrency_key"})
_CSV_INT_COLUMNS = ("pagina_id", "shard_key", "priority", "max_retries")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def spec_from_record(record: object, where: str) -> dict[str, Any]:
    """A record with a 'payload' object and only job-option keys is a job spec; any other
    object is the payload itself."""
    if not isinstance(record, dict):
        raise InvalidJobFile(f"{where}: a job must be a JSON object, got {type(record).__name__}")
    if "payload" not in record or not isinstance(record["payload"], dict):
        return {"payload": record}
    unknown = set(record) - SPEC_KEYS
    if unknown:
        raise InvalidJobFile(
            f"{where}: unknown job option(s) {sorted(unknown)} beside 'payload'; options are "
            f"{', '.join(sorted(SPEC_KEYS - {'payload'}))} (to store this whole object as the "
            "payload, wrap it: {\"payload\": {...}})"
        )
    if "run_at" in record:
        return {**record, "run_at": _parse_run_at(record["run_at"], where)}
    return record


def _parse_run_at(value: object, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidJobFile(f"{where}: run_at must be an ISO-8601 time with an offset, got {value!r}") from None
    if parsed.tzinfo is None:
        raise InvalidJobFile(f"{where}: run_at {value!r} has no UTC offset; add one, e.g. +00:00 or Z")
    return parsed


def _jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                record = json.loads(line, parse_constant=_reject_constant)
            except json.JSONDecodeError as exc:  # one line: its column, not json's "line 1"
                raise InvalidJobFile(f"{where}, column {exc.colno}: not valid JSON ({exc.msg})") from None
            except ValueError as exc:
                raise InvalidJobFile(f"{where}: not valid JSON ({exc})") from None
            yield where, spec_from_record(record, where)


def _json(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidJobFile(f"{path.name}: not valid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("jobs"), list):
        data = data["jobs"]
    if not isinstance(data, list):
        raise InvalidJobFile(
            f"{path.name}: a json jobs file must hold an array of jobs (or {{\"jobs\": [...]}}), "
            f"got {type(data).__name__}"
        )
    for number, record in enumerate(data):
        where = f"{path.name} item {number}"
        yield where, spec_from_record(record, where)


def _csv(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            return
        for row in reader:
            where = f"{path.name} line {reader.line_num}"
            if None in row:
                raise InvalidJobFile(f"{where}: more fields than the header has")
            yield where, _csv_spec(row, where)


def _csv_spec(row: dict[str, str], where: str) -> dict[str, Any]:
    """A `payload` column holds JSON; without one, the row's columns are the payload (strings)."""
    if "payload" not in row:
        return {"payload": dict(row)}
    try:
        payload = json.loads(row["payload"], parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidJobFile(f"{where}: the payload column is not valid JSON ({exc})") from None
    spec: dict[str, Any] = {"payload": payload}
    for column, value in row.items():
        if column == "payload" or value is None or value == "":
            continue
        if column not in SPEC_KEYS:
            raise InvalidJobFile(
                f"{where}: unknown column {column!r}; with a payload column the others must be "
                f"job options: {', '.join(sorted(SPEC_KEYS - {'payload'}))}"
            )
        spec[column] = _csv_value(column, value, where)
    if "run_at" in spec:
        spec["run_at"] = _parse_run_at(spec["run_at"], where)
    return spec


def _csv_value(column: str, value: str, where: str) -> Any:
    try:
        if column in _CSV_INT_COLUMNS:
            return int(value)
        if column in ("delay", "dedupe_window"):
            return float(value)
    except ValueError:
        raise InvalidJobFile(f"{where}: column {column!r} must be a number, got {value!r}") from None
    return value


def read_job_file(path: str | Path, fmt: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (where, spec) for every job in the file; raises `InvalidJobFile` naming the line."""
    file = Path(path)
    chosen = (fmt or file.suffix.lstrip(".")).lower()
    if chosen == "ndjson":
        chosen = "jsonl"
    if chosen not in FORMATS:
        raise InvalidPayload(
            f"fmt must be one of {', '.join(FORMATS)} (or None to use the file extension), got {fmt!r}"
            + ("" if fmt else f" (extension of {file.name!r})")
        )
    if not file.is_file():
        raise InvalidJobFile(f"jobs file {str(file)!r} does not exist or is not a file")
    reader = {"jsonl": _jsonl, "json": _json, "csv": _csv}[chosen]
    try:
        yield from reader(file)
    except UnicodeDecodeError as exc:
        raise InvalidJobFile(f"{file.name}: not UTF-8 text ({exc})") from None
    except csv.Error as exc:
        raise InvalidJobFile(f"{file.name}: malformed CSV ({exc})") from None
