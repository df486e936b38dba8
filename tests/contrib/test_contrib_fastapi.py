"""The FastAPI integration, on real FastAPI apps driven by TestClient (lifespan included)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest

pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI, HTTPException, Request  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from queue_max import ConfigError, Queue  # noqa: E402
from queue_max.contrib.fastapi import (  # noqa: E402
    QueueDep,
    QueueMiddleware,
    admin_router,
    get_queue,
    queue_lifespan,
)
from queue_max.tasks import get_default_queue, set_default_queue, task  # noqa: E402
from queue_max.workers import WorkerState  # noqa: E402
from _helpers import assert_public_names_sorted_and_complete, run_guide  # noqa: E402


FAST = {"poll_interval": 0.05}
ADMIN = {"x-admin-token": "s3cret"}


@task(name="tests.fastapi.shout")
def shout(word: str) -> str:
    return word.upper()


@pytest.fixture
def queue(make_queue: Callable[..., Queue]) -> Queue:
    return make_queue(shards=2)


@pytest.fixture
def env_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where a queue built from the environment (`Queue()`) keeps its shards."""
    for name in ("NUM_SHARDS", "RATE_LIMIT_MAX", "QUEUE_MAX_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("RATE_LIMIT_MAX", "0")
    yield tmp_path / "env-data"
    set_default_queue(None)


def require_admin(request: Request) -> None:
    if request.headers.get("x-admin-token") != "s3cret":
        raise HTTPException(status_code=401, detail="admin token required")


def enqueue_app(**lifespan_options: Any) -> FastAPI:
    app = FastAPI(lifespan=queue_lifespan(**lifespan_options))

    @app.post("/jobs")
    def enqueue(payload: dict[str, Any], queue: QueueDep) -> dict[str, int]:
        return queue.enqueue(payload)

    return app


def test_a_job_enqueued_through_an_endpoint_is_run_by_a_worker_the_lifespan_started(queue: Queue) -> None:
    # Given an app whose lifespan runs two workers on our queue
    ran: list[dict[str, Any]] = []
    done = threading.Event()

    def handler(payload: dict[str, Any]) -> str:
        ran.append(payload)
        done.set()
        return "ok"

    app = enqueue_app(queue=queue, workers=2, process_function=handler, worker_options=FAST)

    with TestClient(app) as client:
        # When a request enqueues a job
        response = client.post("/jobs", json={"to": "ada@example.com"})

        # Then a worker of the app runs it
        assert response.status_code == 200
        assert done.wait(10)
        job_id = response.json()["id"]
        assert ran == [{"to": "ada@example.com"}]
        assert queue.get_job(job_id) is not None
        pool = app.state.queue_pool
        assert len(pool.workers) == 2

    # and the workers stopped with the app, leaving the queue it was given open
    assert all(worker.state is WorkerState.STOPPED for worker in pool.workers)
    assert queue.get_job(job_id).result == "ok"  # type: ignore[union-attr]


def test_tasks_run_by_name_on_the_app_queue_which_becomes_their_default(queue: Queue) -> None:
    # Given an app whose workers run @task jobs by name
    app = FastAPI(lifespan=queue_lifespan(queue=queue, workers=1, worker_options=FAST))

    @app.post("/shout/{word}")
    def shout_later(word: str) -> dict[str, str]:
        handle = shout.delay(word)  # no queue given: the app's queue is the default
        return {"result": handle.get(timeout=10)}

    with TestClient(app) as client:
        assert get_default_queue() is queue
        assert client.post("/shout/hello").json() == {"result": "HELLO"}


def test_the_lifespan_wraps_the_apps_own_lifespan_around_the_running_workers(queue: Queue) -> None:
    # Given an app lifespan that records what it finds at start-up and shut-down
    seen: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        seen["startup"] = (app.state.queue, getattr(app.state, "queue_pool", None))
        yield {"greeting": "hi"}
        seen["shutdown"] = (app.state.queue._closed, app.state.queue_pool, [w.state for w in pool.workers])

    app = FastAPI(lifespan=queue_lifespan(queue=queue, workers=1, worker_options=FAST, lifespan=app_lifespan))

    @app.get("/state")
    def state(request: Request) -> dict[str, Any]:
        return {"greeting": request.state.greeting, "has_queue": request.state.queue is queue}

    # When the app starts, serves a request and stops
    with TestClient(app) as client:
        assert client.get("/state").json() == {"greeting": "hi", "has_queue": True}
        pool = app.state.queue_pool

    # Then its start-up saw the queue open and no worker yet; its shut-down ran after the
    # workers stopped and before the queue would be closed
    assert seen["startup"] == (queue, None)
    assert seen["shutdown"] == (False, None, [WorkerState.STOPPED])


def test_a_queue_the_lifespan_builds_from_the_environment_is_closed_at_shutdown(env_data_dir: Path) -> None:
    app = enqueue_app(workers=0)
    with TestClient(app) as client:
        assert client.post("/jobs", json={"n": 1}).status_code == 200
        built = app.state.queue
        assert Path(built.backend.data_dir) == env_data_dir
    assert built._closed
    assert app.state.queue is None


def test_get_queue_without_lifespan_or_middleware_fails_with_a_clear_error() -> None:
    app = FastAPI()

    @app.get("/")
    def index(queue: Annotated[Queue, Depends(get_queue)]) -> None: ...

    with TestClient(app) as client, pytest.raises(ConfigError, match="pass lifespan=queue_lifespan"):
        client.get("/")


def test_the_reference_middleware_runs_workers_and_puts_the_queue_on_request_state(env_data_dir: Path) -> None:
    # Given the queue-max 0.1.1 style: app.add_middleware(QueueMiddleware, max_workers=2)
    app = FastAPI()
    app.add_middleware(QueueMiddleware, max_workers=2, worker_options=FAST)

    @app.post("/shout/{word}")
    def shout_later(word: str, request: Request, queue: QueueDep) -> dict[str, Any]:
        assert request.state.queue is queue
        return {"result": shout.delay(word).get(timeout=10)}

    # When the app runs and a request enqueues a task
    with TestClient(app) as client:
        response = client.post("/shout/hey")
        pool = app.state.queue_pool
        built = app.state.queue

    # Then a worker the middleware started ran it, and both stopped with the app
    assert response.json() == {"result": "HEY"}
    assert len(pool.workers) == 2
    assert all(worker.state is WorkerState.STOPPED for worker in pool.workers)
    assert built._closed


def test_the_middleware_starts_workers_after_the_apps_startup_and_stops_them_before_its_shutdown(
        queue: Queue) -> None:
    seen: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        seen["startup"] = (app.state.queue is queue, app.state.queue_pool)
        yield
        seen["shutdown"] = app.state.queue_pool

    app = FastAPI(lifespan=app_lifespan)
    app.add_middleware(QueueMiddleware, queue, workers=1, worker_options=FAST)
    with TestClient(app):
        assert app.state.queue_pool is not None
    assert seen == {"startup": (True, None), "shutdown": None}
    assert not queue._closed  # given, so not ours to close


def test_without_lifespan_events_the_middleware_opens_the_queue_and_warns_that_no_worker_runs(
        queue: Queue, caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    app.add_middleware(QueueMiddleware, queue, workers=2)

    @app.post("/jobs")
    def enqueue(queue: QueueDep) -> dict[str, int]:
        return queue.enqueue({"n": 1})

    client = TestClient(app)  # outside a `with` block: no lifespan events
    assert client.post("/jobs").status_code == 200
    assert queue.get_stats()["pending"] == 1
    assert app.state.queue_pool is None
    assert "no worker runs in this process" in caplog.text


@pytest.mark.parametrize("wiring", ["lifespan", "middleware"])
def test_a_queue_that_cannot_open_fails_the_apps_startup(
        wiring: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given DATA_DIR naming a file, not a directory
    (tmp_path / "not-a-dir").write_text("")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "not-a-dir"))
    if wiring == "lifespan":
        app = FastAPI(lifespan=queue_lifespan(workers=1))
    else:
        app = FastAPI()
        app.add_middleware(QueueMiddleware, workers=1)
    # Then the app does not start, and says why
    with pytest.raises(ConfigError, match="exists and is not a directory"), TestClient(app):
        pass


def test_the_middleware_refuses_both_workers_and_max_workers() -> None:
    with pytest.raises(ConfigError, match="not both"):
        QueueMiddleware(FastAPI(), workers=1, max_workers=2)
    with pytest.raises(ConfigError, match="workers must be an int"):
        QueueMiddleware(FastAPI(), workers=-1)
    with pytest.raises(ConfigError, match="unknown Worker option.*'poll'.*poll_interval"):
        queue_lifespan(worker_options={"poll": 0.1})


# ── the admin router ──

def admin_app(queue: Queue) -> FastAPI:
    app = enqueue_app(queue=queue, workers=0)
    app.include_router(admin_router(dependencies=[Depends(require_admin)]), prefix="/admin/queue")
    return app


def test_the_admin_router_cannot_be_built_without_an_auth_dependency_unless_told() -> None:
    with pytest.raises(ConfigError, match="pass dependencies="):
        admin_router(dependencies=[])
    assert admin_router(dependencies=[], allow_anonymous=True).routes


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/admin/queue/stats"), ("get", "/admin/queue/jobs"), ("get", "/admin/queue/jobs/1024"),
    ("post", "/admin/queue/jobs/1024/cancel"), ("get", "/admin/queue/dlq"),
    ("post", "/admin/queue/dlq/requeue"),
])
def test_the_auth_dependency_guards_every_admin_endpoint(queue: Queue, method: str, path: str) -> None:
    with TestClient(admin_app(queue)) as client:
        response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.json() == {"detail": "admin token required"}


def test_the_admin_router_reports_stats_and_lists_jobs(queue: Queue) -> None:
    with TestClient(admin_app(queue)) as client:
        ids = [client.post("/jobs", json={"n": n}).json()["id"] for n in range(3)]

        stats = client.get("/admin/queue/stats", headers=ADMIN).json()
        listed = client.get("/admin/queue/jobs", params={"status": "pending", "limit": 2}, headers=ADMIN).json()
        one = client.get(f"/admin/queue/jobs/{ids[0]}", headers=ADMIN).json()
        missing = client.get("/admin/queue/jobs/999999", headers=ADMIN)
        bad_status = client.get("/admin/queue/jobs", params={"status": "lost"}, headers=ADMIN)

    assert (stats["pending"], stats["num_shards"], stats["workers"]) == (3, 2, None)
    assert len(listed["jobs"]) == 2 and {job["status"] for job in listed["jobs"]} == {"pending"}
    assert one["id"] == ids[0] and one["payload"] == {"n": 0}
    assert missing.status_code == 404
    assert bad_status.status_code == 422


def test_the_admin_router_cancels_pending_jobs_only(queue: Queue) -> None:
    with TestClient(admin_app(queue)) as client:
        job_id = client.post("/jobs", json={"n": 1}).json()["id"]
        first = client.post(f"/admin/queue/jobs/{job_id}/cancel", headers=ADMIN)
        again = client.post(f"/admin/queue/jobs/{job_id}/cancel", headers=ADMIN)
        unknown = client.post("/admin/queue/jobs/999999/cancel", headers=ADMIN)
    assert first.json() == {"id": job_id, "cancelled": True, "outcome": "cancelled"}
    assert again.status_code == 409 and "is cancelled" in again.json()["detail"]
    assert unknown.status_code == 404


def test_the_admin_router_asks_a_running_job_to_stop(queue: Queue) -> None:
    with TestClient(admin_app(queue)) as client:
        # Given a job a worker has claimed
        job_id = client.post("/jobs", json={"n": 1}).json()["id"]
        (running,) = queue.claim_jobs("w", 1)
        # When the admin cancels it
        answer = client.post(f"/admin/queue/jobs/{job_id}/cancel", headers=ADMIN)
    # Then it is marked (202), and its handler's next check() will see the request
    assert running.id == job_id
    assert answer.status_code == 202
    assert answer.json() == {"id": job_id, "cancelled": False, "outcome": "requested"}
    assert queue.cancel_requested(job_id)


def test_the_admin_router_lists_and_requeues_dead_letters(queue: Queue) -> None:
    with TestClient(admin_app(queue)) as client:
        # Given a job that failed for good
        job_id = client.post("/jobs", json={"n": 1}).json()["id"]
        job = queue.pop_job("test")
        assert job is not None and job.id == job_id
        queue.fail_job(job, error=ValueError("broken"), permanent=True)

        # When we list the dead letters and requeue that job
        dead = client.get("/admin/queue/dlq", headers=ADMIN).json()["dead_letters"]
        vague = client.post("/admin/queue/dlq/requeue", json={}, headers=ADMIN)
        unknown = client.post("/admin/queue/dlq/requeue", json={"job_ids": [job_id, 999999]}, headers=ADMIN)
        requeued = client.post("/admin/queue/dlq/requeue", json={"job_ids": [job_id]}, headers=ADMIN)
        listed = client.get("/admin/queue/jobs", params={"status": "pending"}, headers=ADMIN).json()["jobs"]

    # Then the listing showed it, a request without a filter was refused, and it is pending again
    assert [(d["original_job_id"], d["error"], d["error_type"]) for d in dead] == [(job_id, "broken", "ValueError")]
    assert vague.status_code == 422
    # and one that named an unknown id was refused whole, as the CLI refuses it
    assert unknown.status_code == 404 and unknown.json()["detail"] == "not in the dead-letter queue: job 999999"
    assert requeued.json() == {"requeued": 1}
    assert listed[0]["last_error"] == "broken" and "errors" not in listed[0]
    assert queue.get_job(job_id).status.value == "pending"  # type: ignore[union-attr]
    assert queue.dlq_list() == []


def test_the_public_names_are_sorted_and_complete() -> None:
    assert_public_names_sorted_and_complete("queue_max.contrib.fastapi")


def test_every_python_block_of_the_fastapi_guide_runs(tmp_path: Path) -> None:
    # Given docs/fastapi.md's Python blocks, run in order as one script
    done = run_guide("fastapi.md", tmp_path)
    # Then nothing fails, and the outputs are the ones the guide shows
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "{'status': 'completed', 'result': 'welcome mail sent to ada@example.com'}" in out
    assert "app start-up: the queue is open, no worker runs yet: True" in out
    assert "app shut-down: the workers have stopped: True" in out
    assert "{'pending': 0}" in out
    assert "401\n1 completed, 0 pending" in out
