"""`queue-max health` (a probe with an exit code) and `queue-max metrics` (Prometheus text format)."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import StorageError
from ..metrics import (
    Exposition,
    add_event_metrics,
    add_ready_metrics,
    add_registry_metrics,
    add_shard_job_metrics,
    add_task_circuit_metrics,
)
from ..models import MetricRow, WorkerPresence
from ._context import Context, duration, non_negative, queue_name
from ._errors import ExitCode
from ._observe import Snapshot, add_queue_backlogs, take_snapshot
from ._output import ago, emit_json, plural, stamp, table
from ._status import read_statuses, stale_after

__all__ = ["register", "render_metrics"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("health", parents=[common], help="check the queue; exit 3 when unhealthy",
                       description="Check the queue and its workers; exit 0 when healthy, 3 when "
                                   "not. Use --json for probes.")
    p.add_argument("--max-backlog", type=non_negative, metavar="N",
                   help="unhealthy when more jobs than this are ready (default QUEUE_ALERT_THRESHOLD; 0 = no limit)")
    p.add_argument("--max-age", type=duration, metavar="DURATION",
                   help="unhealthy when the oldest ready job has waited longer (e.g. 5m; default: no limit)")
    p.add_argument("--lease-grace", type=duration, metavar="DURATION",
                   help="a lease expired longer ago than this means a dead worker (default RECOVERY_INTERVAL)")
    p.add_argument("--min-workers", type=non_negative, default=0, metavar="N",
                   help="unhealthy when fewer 'queue-max worker' processes report in (default 0)")
    p.add_argument("--liveness", action="store_true",
                   help="only what a restart can cure: storage readable and writable, workers alive "
                        "(for a liveness probe; backlog, age, circuit and expired leases are alerts)")
    p.add_argument("--queue-name", type=queue_name, metavar="NAME",
                   help="check this named queue's backlog, age, expired leases, circuit (its own breaker "
                        "and those of the tasks whose jobs go to it) and pause only (storage and workers "
                        "as without it)")
    p.set_defaults(run=run_health)

    p = sub.add_parser("metrics", parents=[common], help="Prometheus text exposition of the queue",
                       description="Print metrics in the Prometheus text format (0.0.4), for a "
                                   "textfile collector or a scrape wrapper.")
    p.add_argument("--queue-name", type=queue_name, metavar="NAME",
                   help="only the series labelled with this named queue (queue_max_queue_* and the "
                        "event metrics), exactly as the full exposition shows them")
    p.set_defaults(run=run_metrics)


# ── health ──
def _check(ok: bool, detail: str, **values: Any) -> dict[str, Any]:
    return {"ok": ok, "detail": detail, **values}


def _workers_check(presences: Sequence[WorkerPresence], statuses: list[dict[str, Any]], stale_after: float,
                   now: float, minimum: int) -> dict[str, Any]:
    """Worker processes alive, from the registry every worker kind writes (the CLI's, the
    integrations' and your own `Worker`s; on PostgreSQL, every host's). A stale record on this
    host is a hung worker (a dead one's record is dropped); one on another host cannot be told
    from a dead one, so it is listed but fails nothing."""
    here = socket.gethostname()
    live = {(w.host, w.pid) for w in presences if w.age(now) <= stale_after}
    stale = sorted({w.worker_id for w in presences if w.age(now) > stale_after and w.host == here}
                   | {w["name"] for w in statuses if w["stale"]})
    elsewhere = sorted(f"{w.worker_id}@{w.host}" for w in presences if w.age(now) > stale_after and w.host != here)
    detail = f"{len(live)} worker process{'' if len(live) == 1 else 'es'} reporting"
    detail += f", stale: {', '.join(stale)}" if stale else ""
    detail += f", silent on other hosts (dead or hung): {', '.join(elsewhere)}" if elsewhere else ""
    detail += f" (min {minimum})" if minimum else ""
    return _check(not stale and len(live) >= minimum, detail, live_processes=len(live), stale=stale,
                  stale_elsewhere=elsewhere, min=minimum)


def _health(ctx: Context, snap: Snapshot, workers: list[dict[str, Any]],
            presences: Sequence[WorkerPresence], stale_after: float) -> dict[str, dict[str, Any]]:
    a = ctx.args
    grace = ctx.settings.recovery_interval if a.lease_grace is None else a.lease_grace
    max_backlog = ctx.settings.alert_threshold if a.max_backlog is None else a.max_backlog
    expired = [job.id for job in snap.expired_leases if snap.now - (job.lease_expires_ts or snap.now) > grace]
    ready, age = snap.ready, snap.oldest_ready_age
    live = [w for w in workers if not w["stale"]]
    one = snap.queue_name
    # a worker's own breaker is its default queue's: it says nothing about another named queue
    circuit_open = [w["name"] for w in live if w.get("circuit_state") == "open"] if one is None else []
    # the host-wide breakers of the named queues and of the tasks (with --queue-name: of that
    # queue and of the tasks routed to it), from storage
    circuit_open += [f"queue {name}" for name, q in snap.queues.items() if q.get("circuit_state") == "open"]
    circuit_open += [f"task {name}" for name, t in snap.task_circuits.items() if t["circuit_state"] == "open"]
    blocked = _open_breakers_by_queue(snap)
    paused = [name for name, q in snap.queues.items() if q.get("paused")]
    workers_check = _workers_check(presences, workers, stale_after, snap.now, a.min_workers)
    if a.liveness:
        return {"storage": _writable(ctx.data_dir, len(snap.shards)), "workers": workers_check}
    scope = "" if one is None else f" in queue {one!r}"
    return {
        "storage": _check(True, f"{len(snap.shards)} shards readable"),
        "expired_leases": _check(not expired, f"{plural(len(expired), 'processing job')}{scope} whose lease expired "
                                 f"more than {grace:g}s ago (dead or hung workers)",
                                 count=len(expired), job_ids=expired[:100], grace_seconds=grace),
        "backlog": _check(not max_backlog or ready <= max_backlog,
                          f"{plural(ready, 'ready job')}{scope}" + (f" (max {max_backlog})" if max_backlog else ""),
                          ready=ready, max=max_backlog or None),
        "queue_age": _check(a.max_age is None or age is None or age <= a.max_age,
                            f"no ready job{scope}" if age is None else f"oldest ready job{scope} waited {ago(age)}"
                            + (f" (max {ago(a.max_age)})" if a.max_age is not None else ""),
                            oldest_ready_age_seconds=age, max=a.max_age),
        "circuit": _check(not circuit_open, _circuit_detail(circuit_open, blocked, one, len(live)),
                          open=circuit_open, by_queue=blocked),
        "paused_queues": _check(True, f"paused: {', '.join(paused)}" if paused
                                else "no queue is paused" if one is None else f"queue {one!r} is not paused",
                                paused=paused),
        "workers": workers_check,
    }


def _open_breakers_by_queue(snap: Snapshot) -> dict[str, list[str]]:
    """Per named queue, the open host-wide breakers that hold its jobs back: its own ("queue
    NAME") and those of the tasks whose jobs go to it ("task NAME"); queues with none are left out."""
    blocked: dict[str, list[str]] = {}
    for name, q in snap.queues.items():
        if q.get("circuit_state") == "open":
            blocked.setdefault(name, []).append(f"queue {name}")
    for task, t in snap.task_circuits.items():
        if t["circuit_state"] == "open":
            for name in t.get("queues") or ():
                if snap.queue_name is None or name == snap.queue_name:
                    blocked.setdefault(name, []).append(f"task {task}")
    return {name: blocked[name] for name in sorted(blocked)}


def _circuit_detail(circuit_open: list[str], blocked: dict[str, list[str]], one: str | None, live: int) -> str:
    if circuit_open:
        where = "; ".join(f"queue {name!r}: {', '.join(breakers)}" for name, breakers in blocked.items())
        return f"open in {', '.join(circuit_open)}" + (f" ({where})" if where else "")
    if one is None:
        return f"closed in every queue, task and reporting worker ({live})"
    return f"closed in queue {one!r} and the tasks routed to it"


def _writable(data_dir: Path, shards: int) -> dict[str, Any]:
    """Whether workers could write: the directory and every shard file (no write is made)."""
    paths = [data_dir, *(data_dir / f"shard_{n}.db" for n in range(shards))]
    blocked = [str(path) for path in paths if path.exists() and not os.access(path, os.W_OK)]
    if blocked:
        return _check(False, f"not writable: {', '.join(blocked)}", not_writable=blocked)
    return _check(True, f"{shards} shards readable and writable")


def run_health(ctx: Context) -> int:
    checked_at: str | None = None
    name = getattr(ctx.args, "queue_name", None)
    try:
        with ctx.open_queue() as queue:
            snap = take_snapshot(queue, queue_name=name)
            presences, stale_worker_after = queue.workers(), queue.stale_worker_after
    except StorageError as exc:
        checks = {"storage": _check(False, str(exc))}
    else:
        checked_at = stamp(snap.now)
        checks = _health(ctx, snap, read_statuses(ctx.data_dir, stale_after(ctx.settings), snap.now),
                         presences, stale_worker_after)
    healthy = all(check["ok"] for check in checks.values())
    if ctx.json:
        emit_json({"healthy": healthy, "data_dir": ctx.where, "queue_name": name, "checked_at": checked_at,
                   "problems": [name for name, check in checks.items() if not check["ok"]],
                   "checks": checks})
    else:
        which = "queue" if name is None else f"queue {name!r}"
        print(f"{'healthy' if healthy else 'UNHEALTHY'}: {which} at {ctx.where}")
        table(["check", "status", "detail"],
              [[name, "ok" if check["ok"] else "FAIL", check["detail"]] for name, check in checks.items()])
    return ExitCode.OK if healthy else ExitCode.UNHEALTHY


# ── metrics ──
def render_metrics(snap: Snapshot, workers: list[dict[str, Any]], events: Iterable[MetricRow] = (),
                   registry: Sequence[WorkerPresence] = (), stale_worker_after: float = 0.0) -> str:
    """The Prometheus text exposition (format 0.0.4) of a snapshot, the worker status files and
    the persisted event metrics.

    A snapshot narrowed to one named queue gives only the families labelled by queue, with that
    queue's series: the lines the full exposition has for it, so that one file per queue never
    repeats a series of another."""
    out = Exposition()
    one = snap.queue_name
    if one is None:
        _store_metrics(out, snap)
    _queue_metrics(out, snap.queues)
    if one is None:
        add_task_circuit_metrics(out, snap.task_circuits)
        add_registry_metrics(out, registry, snap.now, stale_worker_after)
        _worker_metrics(out, workers)
    add_event_metrics(out, events if one is None else [row for row in events if row.queue == one])
    return out.text()


def _store_metrics(out: Exposition, snap: Snapshot) -> None:
    """Per shard and for the whole store: jobs by status, dead letters, lifetime totals, backlog."""
    per_shard = [(s["shard_id"], s) for s in snap.shards]
    add_shard_job_metrics(out, per_shard)
    out.family("jobs_processed_total", "counter",
               "Jobs completed since the shard was created (shard metadata plus kept completed jobs).",
               [({"shard": sid}, s.get("total_jobs_processed") or 0) for sid, s in per_shard])
    out.family("jobs_failed_total", "counter", "Jobs dead-lettered since the shard was created (shard metadata).",
               [({"shard": sid}, s.get("total_jobs_failed") or 0) for sid, s in per_shard])
    add_ready_metrics(out, snap.ready, snap.oldest_ready_age)
    out.family("expired_leases", "gauge",
               "Processing jobs whose lease expired (their worker died or hung; recovered by the next sweep).",
               [({}, len(snap.expired_leases))])
    out.family("shards", "gauge", "Shard files of the queue.", [({}, len(snap.shards))])


def _queue_metrics(out: Exposition, queues: dict[str, dict[str, Any]]) -> None:
    """Per named queue: jobs by status, paused, and its host-wide circuit breaker."""
    out.family("queue_jobs", "gauge", "Jobs stored, by named queue and status (pending includes scheduled).",
               [({"queue": name, "status": status}, q.get(status) or 0) for name, q in queues.items()
                for status in ("pending", "processing", "completed", "failed", "cancelled")])
    out.family("queue_paused", "gauge", "1 when the named queue is paused (host-wide).",
               [({"queue": name}, 1 if q.get("paused") else 0) for name, q in queues.items()])
    out.family("queue_circuit_state", "gauge", "Host-wide circuit breaker state of each named queue (1 = current).",
               [({"queue": name, "state": state}, 1 if q.get("circuit_state") == state else 0)
                for name, q in queues.items() for state in ("closed", "open", "half_open")])
    out.family("queue_ready_jobs", "gauge", "Jobs of each named queue that could be claimed now.",
               [({"queue": name}, q.get("ready") or 0) for name, q in queues.items()])
    out.family("queue_oldest_ready_job_age_seconds", "gauge",
               "Seconds the oldest claimable job of each named queue has been due (0 when none is ready).",
               [({"queue": name}, q.get("oldest_ready_age_seconds") or 0.0) for name, q in queues.items()])
    out.family("queue_dead_letter_jobs", "gauge", "Entries in the dead-letter queue, by the named queue of their job.",
               [({"queue": name}, q.get("dead_letter") or 0) for name, q in queues.items()])
    out.family("queue_expired_leases", "gauge", "Processing jobs of each named queue whose lease expired.",
               [({"queue": name}, q.get("expired_leases") or 0) for name, q in queues.items()])


def _worker_metrics(out: Exposition, workers: list[dict[str, Any]]) -> None:
    """Per worker process, from the status files of `queue-max worker` (single-process workers
    report circuit and limiter state; a supervisor reports its live children)."""
    out.family("worker_up", "gauge", "1 for each 'queue-max worker' reporting in, 0 if its status is stale.",
               [({"worker": w["name"]}, 0 if w["stale"] else 1) for w in workers])
    out.family("worker_processes", "gauge", "Live worker processes behind each reporting worker.",
               [({"worker": w["name"]}, w.get("live_processes") or 0) for w in workers])
    measured = [w for w in workers if w.get("circuit_state") is not None]
    out.family("worker_circuit_state", "gauge", "Circuit breaker state of each worker process (1 = current state).",
               [({"worker": w["name"], "state": state}, 1 if w["circuit_state"] == state else 0)
                for w in measured for state in ("closed", "open", "half_open")])
    out.family("worker_circuit_failures", "gauge", "Consecutive failures counted by each worker's circuit breaker.",
               [({"worker": w["name"]}, w.get("circuit_failures") or 0) for w in measured])
    out.family("worker_rate_limiter_tokens", "gauge",
               "Rate-limiter tokens available in each worker process (absent when its limiter is off).",
               [({"worker": w["name"]}, float(w["tokens_available"])) for w in measured
                if w.get("tokens_available") is not None])
    out.family("worker_jobs_processed_total", "counter", "Jobs each worker process completed since it started.",
               [({"worker": w["name"]}, w.get("processed") or 0) for w in measured])
    out.family("worker_jobs_failed_total", "counter", "Job attempts that failed in each worker process.",
               [({"worker": w["name"]}, w.get("failed") or 0) for w in measured])
    out.family("worker_jobs_in_flight", "gauge", "Jobs each worker process holds (running or prefetched).",
               [({"worker": w["name"]}, w.get("in_flight") or 0) for w in measured])


def run_metrics(ctx: Context) -> int:
    name = getattr(ctx.args, "queue_name", None)
    with ctx.open_queue() as queue:
        snap = take_snapshot(queue, queue_name=name)
        add_queue_backlogs(queue, snap)
        events = queue.event_metrics()
        registry, stale_worker_after = queue.workers(), queue.stale_worker_after
    workers = read_statuses(ctx.data_dir, stale_after(ctx.settings), snap.now) if name is None else []
    print(render_metrics(snap, workers, events, registry, stale_worker_after), end="")
    return 0
