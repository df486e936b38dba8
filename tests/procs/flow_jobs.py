"""Handlers and tasks of the host-wide flow-control process tests: each run appends one JSON line
(pid, start, end, payload) to a file of its own process under $FLOW_LOG."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from queue_max.tasks import periodic_task, task


def _log(record: dict[str, Any]) -> None:
    path = Path(os.environ["FLOW_LOG"]) / f"{os.getpid()}.jsonl"
    with path.open("a") as out:
        out.write(json.dumps(record) + "\n")


def record(payload: dict[str, Any]) -> None:
    """Run for `payload["sleep"]` seconds (default 0) and log when. `meet`: first wait until jobs
    with `meet` have started in that many processes (at most 60 s), so that many take part."""
    start = time.time()
    if payload.get("meet"):
        _meet(int(payload["meet"]))
    time.sleep(float(payload.get("sleep", 0)))
    _log({"pid": os.getpid(), "start": start, "end": time.time(), "payload": payload})
    if payload.get("fail"):
        raise RuntimeError("the downstream service is down")


def _meet(processes: int) -> None:
    log = Path(os.environ["FLOW_LOG"])
    (log / f"{os.getpid()}.meet").touch()
    deadline = time.monotonic() + 60.0
    while len(list(log.glob("*.meet"))) < processes and time.monotonic() < deadline:
        time.sleep(0.01)


@task(name="flow.bill", concurrency_key=lambda customer, **_: customer)
def bill(customer: str, n: int) -> None:
    start = time.time()
    time.sleep(0.02)
    _log({"pid": os.getpid(), "start": start, "end": time.time(), "payload": {"customer": customer, "n": n}})


@task(name="flow.flaky", circuit_breaker_threshold=3, circuit_breaker_timeout=3600, max_retries=0)
def flaky(n: int) -> None:
    """A task whose downstream service is down, behind its own breaker."""
    start = time.time()
    time.sleep(0.05)
    _log({"pid": os.getpid(), "start": start, "end": time.time(), "payload": {"flaky": n}})
    raise RuntimeError("the downstream service is down")


@task(name="flow.trial", circuit_breaker_threshold=2, circuit_breaker_timeout=1, max_retries=0)
def trial(n: int) -> None:
    _log({"pid": os.getpid(), "start": time.time(), "end": time.time(), "payload": {"trial": n}})
    raise RuntimeError("still down")


@task(name="flow.steady")
def steady(n: int) -> None:
    _log({"pid": os.getpid(), "start": time.time(), "end": time.time(), "payload": {"steady": n}})


@periodic_task(interval=0.5, name="flow.tick")
def tick() -> None:
    _log({"pid": os.getpid(), "start": time.time(), "end": time.time(), "payload": {"tick": True}})


def read_log(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(directory.glob("*.jsonl")) for line in path.read_text().splitlines()]
