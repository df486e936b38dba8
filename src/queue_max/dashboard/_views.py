"""The dashboard's pages (GET handlers): each reads through public Queue and Backend verbs."""

from __future__ import annotations

from collections import defaultdict
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..errors import SearchTimeout
from ..models import Job, JobStatus
from ._http import HttpError, Request, Response
from ._present import age, bars, bucket
from ._snapshot import Snapshot

if TYPE_CHECKING:
    from ._app import Dashboard

__all__ = ["dead_letters", "job_detail", "jobs", "metrics", "overview", "queues", "schedules", "static", "workers"]

RANGES = {"15m": 900.0, "1h": 3600.0, "24h": 86400.0, "7d": 604800.0}
STATUSES = [status.value for status in JobStatus]


def _int_arg(request: Request, name: str, low: int, high: int | None = None) -> int | None:
    raw = request.arg(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f">= {low}"
        raise HttpError(400, f"{name} must be an integer {allowed}, got {raw!r}")
    return value


def page_size(d: Dashboard, request: Request) -> int:
    return _int_arg(request, "limit", 1, 500) or d.page_size


def _queue_rows(snap: Snapshot) -> list[dict[str, Any]]:
    """One row per named queue (Queue.queue_stats), `default` first."""
    rows = []
    for name, stats in sorted(snap.queues.items(), key=lambda item: (item[0] != "default", item[0])):
        rows.append({"name": name, "ready": stats.get("pending", 0) - stats.get("scheduled", 0),
                     "scheduled": stats.get("scheduled", 0), "processing": stats.get("processing", 0),
                     "failed": stats.get("failed", 0), "paused": bool(stats.get("paused")),
                     "circuit": stats.get("circuit_state", "closed")})
    return rows or [{"name": "default", "ready": 0, "scheduled": 0, "processing": 0, "failed": 0,
                     "paused": False, "circuit": "closed"}]


def _health(d: Dashboard, counts: dict[str, int], ready: int, oldest: float | None, expired: int) -> list[dict[str, str]]:
    threshold = d.queue.options.alert_threshold
    lights = [{"name": "storage", "level": "green", "detail": f"{d.queue.num_shards} shards readable"}]
    backlog = "amber" if threshold and ready > threshold else "green"
    lights.append({"name": "backlog", "level": backlog,
                   "detail": f"{ready} ready" + (f" (alert above {threshold})" if threshold else "")})
    level = "green" if oldest is None or oldest < 60 else "amber" if oldest < 600 else "red"
    lights.append({"name": "oldest ready", "level": level,
                   "detail": "nothing waiting" if oldest is None else f"waited {age(oldest)}"})
    lights.append({"name": "leases", "level": "red" if expired else "green",
                   "detail": f"{expired} expired (dead or hung workers)" if expired else "no expired lease"})
    dead = counts["dead_letter"]
    lights.append({"name": "dead letters", "level": "amber" if dead else "green", "detail": f"{dead} dead letters"})
    return lights


def _history(series: list[tuple[float, int, int]], now: float) -> dict[str, Any]:
    hour = bucket(series, now - 3600.0, 3600.0, 60)
    day = bucket(series, now - 86400.0, 86400.0, 96)
    return {"hour": bars(hour), "day": bars(day), "known": bool(series),
            "hour_totals": (sum(r[1] for r in hour), sum(r[2] for r in hour)),
            "day_totals": (sum(r[1] for r in day), sum(r[2] for r in day))}


def overview(d: Dashboard, request: Request, _params: dict[str, str]) -> Response:
    snap = d.snapshots.get()
    expired = sum(1 for job in snap.running if (job.lease_expires_ts or snap.taken) < snap.taken)
    return d.render(request, "overview.html", page="overview", counts=snap.counts, ready=snap.ready,
                    oldest=snap.oldest_ready_age, queues=_queue_rows(snap),
                    health=_health(d, snap.counts, snap.ready, snap.oldest_ready_age, expired),
                    history=_history(snap.history, snap.taken), taken=snap.taken)


def queues(d: Dashboard, request: Request, _params: dict[str, str]) -> Response:
    snap = d.snapshots.get()
    return d.render(request, "queues.html", page="queues", queues=_queue_rows(snap),
                    taken=snap.taken)


def _job_filters(d: Dashboard, request: Request) -> dict[str, Any]:
    status = request.arg("status")
    if status is not None and status not in STATUSES:
        raise HttpError(400, f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    span = request.arg("range")
    if span is not None and span not in RANGES:
        raise HttpError(400, f"range must be one of {', '.join(RANGES)}, got {span!r}")
    text = request.arg("q")
    if text is not None and not d.payload_search:
        raise HttpError(400, "payload search is off for this dashboard (Dashboard(payload_search=True))")
    return {"status": status, "task": request.arg("task"), "queue": request.arg("queue"), "error_type": request.arg("error_type"),
            "shard": _int_arg(request, "shard", 0, d.queue.num_shards - 1), "range": span, "q": text}


def jobs(d: Dashboard, request: Request, _params: dict[str, str]) -> Response:
    filters = _job_filters(d, request)
    limit = page_size(d, request)
    before = _int_arg(request, "before", 1)
    since = None if filters["range"] is None else d.queue.clock.time() - RANGES[filters["range"]]
    notice = None
    try:
        found = d.queue.find_jobs(
            status=filters["status"], task=filters["task"], error_type=filters["error_type"],
            shard_id=filters["shard"], since=since, payload_contains=filters["q"], before_id=before,
            queue_name=filters["queue"],
            limit=limit, time_budget=2.0)
    except SearchTimeout as exc:
        found, notice = [], str(exc)
    next_before = found[-1].id if len(found) == limit else None
    rows = [{"job": job, "task": _task_of(job.payload), "payload": d.redactor.brief(job.payload)} for job in found]
    return d.render(request, "jobs.html", page="jobs", rows=rows, filters=filters, statuses=STATUSES,
                    ranges=list(RANGES), next_before=next_before, before=before, limit=limit,
                    notice=notice, shards=range(d.queue.num_shards))


def _task_of(payload: Any) -> str:
    task = payload.get("__task__") if isinstance(payload, dict) else None
    return task if isinstance(task, str) else ""


def job_detail(d: Dashboard, request: Request, params: dict[str, str]) -> Response:
    job = d.queue.get_job(int(params["job_id"]))
    if job is None:
        raise HttpError(404, f"no job {params['job_id']}")
    redact = d.redactor
    errors = [{"attempt": e.attempt, "type": e.type, "message": redact.text(e.message),
               "traceback": redact.text(e.traceback), "worker": e.worker_id, "at": e.failed_at}
              for e in job.errors]
    return d.render(request, "job.html", page="jobs", job=job, task=_task_of(job.payload),
                    payload=redact.pretty(job.payload),
                    result=None if job.result is None else redact.pretty(job.result),
                    errors=errors, last_error=redact.text(job.last_error), now=d.queue.clock.time())


def dead_letters(d: Dashboard, request: Request, _params: dict[str, str]) -> Response:
    error_type, queue_name = request.arg("error_type"), request.arg("queue_name")
    shard = _int_arg(request, "shard", 0, d.queue.num_shards - 1)
    limit = page_size(d, request)
    # a malformed queue name raises ConfigError: the dispatcher answers 400 with its message
    entries = d.queue.dlq_list(limit, shard, error_type, queue_name=queue_name)
    total = d.queue.dlq_count(shard, error_type, queue_name=queue_name)
    rows = [{"entry": e, "task": _task_of(e.payload), "payload": d.redactor.brief(e.payload),
             "error": d.redactor.text(e.error)} for e in entries]
    return d.render(request, "dead_letters.html", page="dead_letters", rows=rows, total=total,
                    error_type=error_type, queue_name=queue_name, shard=shard, shards=range(d.queue.num_shards),
                    done=request.arg("done"), count=_int_arg(request, "count", 0))


def workers(d: Dashboard, request: Request, _params: dict[str, str]) -> Response:
    """Every registered worker, idle ones too, with the jobs it holds; then any lease holder
    that is not registered (a worker of an older version, or one that died long ago)."""
    snap = d.snapshots.get()
    now, stale_after = snap.taken, d.queue.stale_worker_after
    held: dict[str, list[Job]] = defaultdict(list)
    for job in snap.running:
        held[job.worker_id or "?"].append(job)
    rows = [{"name": w.worker_id, "kind": w.kind, "host": w.host, "pid": w.pid,
             "queues": "every queue" if w.queues is None else ", ".join(w.queues), "running": w.running,
             "concurrency": w.concurrency, "heartbeat_age": w.age(now), "stale": w.age(now) > stale_after,
             "registered": True, "jobs": sorted(job.id for job in held.get(w.worker_id, ()))[:20]}
            for w in snap.workers]
    registered = {w.worker_id for w in snap.workers}
    lease = d.queue.options.lease_timeout
    for name, jobs in sorted(held.items()):
        if name in registered:
            continue
        latest = max(job.lease_expires_ts or now for job in jobs)
        rows.append({"name": name, "kind": "", "host": "", "pid": None, "queues": "", "running": len(jobs),
                     "concurrency": None, "heartbeat_age": max(0.0, now - (latest - lease)), "stale": latest < now,
                     "registered": False, "jobs": sorted(job.id for job in jobs)[:20]})
    return d.render(request, "workers.html", page="workers", rows=rows, taken=snap.taken, stale_after=stale_after)


def schedules(d: Dashboard, request: Request, _params: dict[str, str]) -> Response:
    rows = d.queue.list_schedules()
    return d.render(request, "schedules.html", page="schedules", rows=rows, now=d.queue.clock.time())


def metrics(d: Dashboard, request: Request, _params: dict[str, str]) -> Response:
    """The queue's gauges and event metrics in the Prometheus text format."""
    from ..metrics import render_queue_metrics

    snap = d.snapshots.get()
    text = render_queue_metrics(d.queue, snap.per_shard, snap.oldest_ready_age)
    return Response(body=text.encode("utf-8"),
                    content_type="text/plain; version=0.0.4; charset=utf-8")


_TYPES = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8",
          "favicon.svg": "image/svg+xml"}


def static(d: Dashboard, request: Request, params: dict[str, str]) -> Response:
    name = params["name"]
    if name not in _TYPES:
        raise HttpError(404, f"no static file {name}")
    body = resources.files("queue_max.dashboard").joinpath("static", name).read_bytes()
    return Response(body=body, content_type=_TYPES[name])
