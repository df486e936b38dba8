"""A FastAPI app that renders thumbnails in the background with queue-max.

- `queue_lifespan` runs the queue and two worker threads for as long as the app runs;
- `POST /thumbnails` enqueues a `@task` call and answers 202 with the job id at once;
- `GET /thumbnails/{job_id}` reports the job's status, and its result once it is done;
- the admin API (stats, jobs, dead letters) is mounted under /admin/queue behind a token check.

Run on its own, it drives the app with FastAPI's TestClient and exits (about a second):

    python examples/fastapi_app.py

or serve it (shards in $DATA_DIR, ./data by default; needs `pip install uvicorn`):

    ADMIN_TOKEN=change-me uvicorn fastapi_app:app --app-dir examples
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

try:
    import queue_max  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel

from queue_max import JobNotFound, Queue
from queue_max.contrib.fastapi import QueueDep, admin_router, queue_lifespan
from queue_max.tasks import TaskHandle, task


# ── the background work ──
@task(name="examples.fastapi.make_thumbnail", max_retries=2)
def make_thumbnail(image: str, size: int) -> dict[str, Any]:
    time.sleep(0.02)  # pretend to decode, resize and store the image
    return {"thumbnail": f"thumbs/{size}/{image}", "size": size}


# ── the web app ──
class ThumbnailRequest(BaseModel):
    image: str
    size: int = 128


def require_admin(x_admin_token: Annotated[str | None, Header()] = None) -> None:
    """Your own auth goes here; the admin router runs it before every endpoint."""
    expected = os.environ.get("ADMIN_TOKEN")
    if not expected or x_admin_token is None or not secrets.compare_digest(x_admin_token, expected):
        raise HTTPException(status_code=401, detail="admin token required")


def create_app(queue: Queue | None = None) -> FastAPI:
    """The app; without a queue, the lifespan builds one from the environment (DATA_DIR, ...)."""
    app = FastAPI(title="thumbnails", lifespan=queue_lifespan(queue, workers=2))

    @app.post("/thumbnails", status_code=202)
    def request_thumbnail(body: ThumbnailRequest, queue: QueueDep) -> dict[str, Any]:
        handle = make_thumbnail.with_options(queue=queue).delay(body.image, body.size)
        return {"job_id": handle.id, "status_url": f"/thumbnails/{handle.id}"}

    @app.get("/thumbnails/{job_id}")
    def thumbnail_status(job_id: int, queue: QueueDep) -> dict[str, Any]:
        try:
            job = TaskHandle(queue, job_id).job()
        except JobNotFound:
            raise HTTPException(status_code=404, detail=f"no job {job_id}") from None
        return {"job_id": job_id, "status": job.status.value, "result": job.result, "error": job.last_error}

    # Opt-in, and only behind your auth: it shows payloads and can cancel and requeue jobs.
    app.include_router(admin_router(dependencies=[Depends(require_admin)]), prefix="/admin/queue")
    return app


app = create_app()  # for `uvicorn fastapi_app:app`; builds nothing until the app starts


def main() -> int:
    os.environ.setdefault("ADMIN_TOKEN", "example-token")
    with tempfile.TemporaryDirectory() as data_dir, Queue(shards=2, data_dir=data_dir, rate_limit=0) as queue:
        demo_app = create_app(queue)
        with TestClient(demo_app) as client:  # `with`: runs the lifespan, so the workers start
            accepted = [client.post("/thumbnails", json={"image": f"cat-{n}.jpg", "size": 64 * (n + 1)}).json()
                        for n in range(3)]
            print("enqueued:", ", ".join(f"job {a['job_id']}" for a in accepted))

            results = {}
            deadline = time.monotonic() + 10
            while len(results) < len(accepted) and time.monotonic() < deadline:
                for a in accepted:
                    status = client.get(a["status_url"]).json()
                    if status["status"] == "completed":
                        results[a["job_id"]] = status["result"]
                time.sleep(0.02)
            for job_id, result in results.items():
                print(f"job {job_id} completed: {result}")

            print("GET /admin/queue/stats without a token ->", client.get("/admin/queue/stats").status_code)
            headers = {"x-admin-token": os.environ["ADMIN_TOKEN"]}
            stats = client.get("/admin/queue/stats", headers=headers).json()
            print(f"GET /admin/queue/stats with the token -> completed={stats['completed']} "
                  f"pending={stats['pending']} workers={stats['workers']['total_workers']} "
                  f"processed={stats['workers']['processed']}")
            print("GET /thumbnails/999999 ->", client.get("/thumbnails/999999").status_code)
        stopped = demo_app.state.queue_pool is None and demo_app.state.queue is None
        print("app stopped, and its workers with it" if stopped else "the workers are still running")
        ok = stopped and len(results) == len(accepted) and stats["completed"] == len(accepted)
        print("FastAPI example finished OK" if ok else "unexpected outcome")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
