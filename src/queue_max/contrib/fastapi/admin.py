"""admin_router: an opt-in HTTP API to inspect and manage the queue, mounted behind your own auth."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from ...errors import ConfigError
from ...models import Job, JobStatus
from ...queue import Queue
from .lifespan import QueueDep

__all__ = ["RequeueRequest", "admin_router"]


class RequeueRequest(BaseModel):
    """Which dead-lettered jobs to requeue: by id, shard or error type, or `all`."""

    job_ids: list[int] | None = Field(default=None, description="original job ids")
    shard_id: int | None = Field(default=None, ge=0)
    error_type: str | None = Field(default=None, description="e.g. 'ValueError' or 'app.errors.Declined'")
    all: bool = Field(default=False, description="requeue every dead letter (no filter given)")


def admin_router(
    *,
    dependencies: Sequence[Any],
    prefix: str = "",
    tags: Sequence[str] = ("queue-max admin",),
    allow_anonymous: bool = False,
) -> APIRouter:
    """An `APIRouter` with the queue's stats, jobs and dead letters, for `app.include_router`.

    It shows payloads and results and can cancel and requeue jobs, so it is never mounted for
    you, and it refuses to be built without `dependencies` (e.g. `[Depends(require_admin)]`, run
    before every endpoint) unless `allow_anonymous=True` says another layer protects it.
    Endpoints: GET /stats, GET /jobs, GET /jobs/{job_id}, POST /jobs/{job_id}/cancel,
    GET /dlq, POST /dlq/requeue.
    """
    if isinstance(dependencies, (str, bytes)) or not isinstance(dependencies, Sequence):
        raise ConfigError(f"dependencies must be a list like [Depends(require_admin)], got {dependencies!r:.80}")
    if not dependencies and not allow_anonymous:
        raise ConfigError(
            "admin_router() exposes job payloads and can cancel and requeue jobs: pass "
            "dependencies=[Depends(your_auth_check)], or allow_anonymous=True if something "
            "in front of the app already restricts who reaches it"
        )
    router = APIRouter(prefix=prefix, tags=list(tags), dependencies=list(dependencies))
    router.add_api_route("/stats", stats, methods=["GET"], summary="Queue and worker statistics")
    router.add_api_route("/jobs", list_jobs, methods=["GET"], summary="List jobs, oldest first")
    router.add_api_route("/jobs/{job_id}", get_job, methods=["GET"], summary="One job, with its result or errors")
    router.add_api_route("/jobs/{job_id}/cancel", cancel_job, methods=["POST"], summary="Cancel a waiting job, or ask a running one to stop")
    router.add_api_route("/dlq", dead_letters, methods=["GET"], summary="Dead-lettered jobs, newest first")
    router.add_api_route("/dlq/requeue", requeue, methods=["POST"],
                         summary="Requeue dead-lettered jobs with fresh retries")
    return router


# ── the endpoints (plain `def`: the queue's calls are blocking, FastAPI runs them in threads) ──
def stats(queue: QueueDep, request: Request) -> dict[str, Any]:
    """`Queue.get_stats()`, plus the worker pool's statistics under "workers" (or null)."""
    result = queue.get_stats()
    pool = getattr(request.state, "queue_pool", None)
    result["workers"] = None if pool is None else pool.get_stats()
    return result


def list_jobs(
    queue: QueueDep,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    shard_id: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """Jobs in `status` (all if not given), oldest first."""
    jobs = queue.list_jobs(status, limit, _shard(queue, shard_id))
    return {"jobs": [job.to_dict(history=False) for job in jobs]}


def get_job(queue: QueueDep, job_id: int) -> dict[str, Any]:
    """One job: payload, status, attempts, result, errors."""
    return _job(queue, job_id).to_dict()


def cancel_job(queue: QueueDep, job_id: int, response: Response) -> dict[str, Any]:
    """Cancel a waiting job (200), or ask a running one to stop at its next
    `current_job().check()` (202, `"outcome": "requested"`); 409 if it already ended."""
    _job(queue, job_id)
    outcome = queue.cancel_job(job_id)
    if outcome == "requested":
        response.status_code = 202
    elif outcome != "cancelled":
        current = queue.get_job(job_id)
        status = current.status.value if current is not None else "gone"
        raise HTTPException(409, f"job {job_id} is {status}; only waiting or running jobs can be cancelled")
    return {"id": job_id, "cancelled": outcome == "cancelled", "outcome": outcome}


def dead_letters(
    queue: QueueDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    shard_id: Annotated[int | None, Query(ge=0)] = None,
    error_type: str | None = None,
) -> dict[str, Any]:
    """Dead letters, newest first, optionally of one shard or error type."""
    entries = queue.dlq_list(limit, _shard(queue, shard_id), error_type)
    return {"dead_letters": [entry.as_dict() for entry in entries]}


def requeue(queue: QueueDep, spec: Annotated[RequeueRequest, Body()]) -> dict[str, int]:
    """Give the chosen dead jobs fresh retries; a request that chooses nothing is refused, and one
    that names a job the dead-letter queue does not hold is refused whole (404), as the CLI does."""
    if spec.job_ids is None and spec.shard_id is None and spec.error_type is None and not spec.all:
        raise HTTPException(422, "say which dead letters to requeue: job_ids, shard_id, error_type, or all=true")
    missing = [job_id for job_id in spec.job_ids or ()
               if (job := queue.get_job(job_id)) is None or job.status is not JobStatus.FAILED]
    if missing:
        raise HTTPException(404, f"not in the dead-letter queue: job {', '.join(map(str, missing))}")
    return {"requeued": queue.dlq_requeue(spec.job_ids, _shard(queue, spec.shard_id), spec.error_type)}


def _job(queue: Queue, job_id: int) -> Job:
    job = queue.get_job(job_id) if job_id >= 0 else None
    if job is None:
        raise HTTPException(404, f"no job with id {job_id}")
    return job


def _shard(queue: Queue, shard_id: int | None) -> int | None:
    if shard_id is not None and shard_id >= queue.num_shards:
        raise HTTPException(422, f"shard_id must be below {queue.num_shards}, got {shard_id}")
    return shard_id
