"""The dashboard's mutations (POST handlers); none of them exists on a read-only dashboard.

The dispatcher has already checked, before any handler runs: admin access, same origin and
the CSRF token. Every handler records an audit event and answers with a redirect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._http import HttpError, Request, Response

if TYPE_CHECKING:
    from ._app import Dashboard

__all__ = ["cancel_job", "dlq_apply", "dlq_confirm", "pause_or_resume", "requeue_job"]

ACTIONS = ("requeue", "prune")
SCOPES = ("selected", "matching")


def _redirect(d: Dashboard, request: Request, path: str, **query: Any) -> Response:
    d.mark_changed()
    return Response(status=303, headers=[("Location", d.url(request, path, **query))])


def cancel_job(d: Dashboard, request: Request, params: dict[str, str]) -> Response:
    job_id = int(params["job_id"])
    outcome = d.queue.cancel_job(job_id)
    d.audit(request, "cancel_job", job_id=job_id, cancelled=outcome == "cancelled", outcome=outcome)
    return _redirect(d, request, f"/jobs/{job_id}")


def requeue_job(d: Dashboard, request: Request, params: dict[str, str]) -> Response:
    job_id = int(params["job_id"])
    moved = d.queue.dlq_requeue(job_ids=[job_id])
    d.audit(request, "requeue_job", job_id=job_id, requeued=moved)
    return _redirect(d, request, f"/jobs/{job_id}")


def pause_or_resume(d: Dashboard, request: Request, params: dict[str, str]) -> Response:
    name, op = params["name"], params["op"]
    changed = d.queue.pause(name) if op == "pause" else d.queue.resume(name)
    d.audit(request, f"{op}_queue", queue=name, changed=changed)
    d.snapshots.refresh_now()
    return _redirect(d, request, "/queues")


def _bulk_form(d: Dashboard, request: Request) -> dict[str, Any]:
    action, scope = request.field("action"), request.field("scope")
    if action not in ACTIONS:
        raise HttpError(400, f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    if scope not in SCOPES:
        raise HttpError(400, f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    ids: list[int] = []
    for raw in request.form.get("ids", []):
        try:
            ids.append(int(raw))
        except ValueError:
            raise HttpError(400, f"ids must be job ids, got {raw!r}") from None
    if scope == "selected" and not ids:
        raise HttpError(400, "select at least one dead letter, or choose 'all matching the filter'")
    shard_raw = request.field("shard")
    shard = None
    if shard_raw is not None:
        if not shard_raw.isdigit() or int(shard_raw) >= d.queue.num_shards:
            raise HttpError(400, f"shard must be from 0 to {d.queue.num_shards - 1}, got {shard_raw!r}")
        shard = int(shard_raw)
    return {"action": action, "scope": scope, "ids": ids, "error_type": request.field("error_type"), "shard": shard,
            "queue_name": request.field("queue_name")}


def dlq_confirm(d: Dashboard, request: Request, _params: dict[str, str]) -> Response:
    """The dry run: how many dead letters the action would touch, and a confirm button."""
    form = _bulk_form(d, request)
    if form["scope"] == "selected":
        present = {e.original_job_id for e in d.queue.dlq_list(10_000, form["shard"], form["error_type"],
                                                               queue_name=form["queue_name"])}
        count = sum(1 for job_id in form["ids"] if job_id in present)
    else:
        count = d.queue.dlq_count(form["shard"], form["error_type"], queue_name=form["queue_name"])
    return d.render(request, "confirm.html", live=False, page="dead_letters", form=form, count=count)


def dlq_apply(d: Dashboard, request: Request, _params: dict[str, str]) -> Response:
    form = _bulk_form(d, request)
    if request.field("confirm") != "yes":
        raise HttpError(400, "a bulk action needs its confirmation step (confirm=yes)")
    ids = form["ids"] if form["scope"] == "selected" else None
    if form["action"] == "requeue":
        count = d.queue.dlq_requeue(job_ids=ids, shard_id=form["shard"], error_type=form["error_type"],
                                    queue_name=form["queue_name"])
    else:
        count = d.queue.dlq_prune(shard_id=form["shard"], error_type=form["error_type"], job_ids=ids,
                                  queue_name=form["queue_name"])
    d.audit(request, f"dlq_{form['action']}", scope=form["scope"], count=count, error_type=form["error_type"],
            shard=form["shard"], queue_name=form["queue_name"], ids=(ids or [])[:100])
    return _redirect(d, request, "/dead-letters", done=form["action"], count=count)
