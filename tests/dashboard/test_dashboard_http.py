"""The dashboard over HTTP in each adapter (Starlette/ASGI, Flask/WSGI, Django), mounted under
/queue: security refusals with the right status, headers, range checks, and working actions."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dashboard_clients import ADAPTERS, PREFIX, Client, idle_worker_process

from queue_max import ConfigError, Queue
from queue_max.dashboard import Access, Dashboard, Request


@pytest.fixture(params=sorted(ADAPTERS))
def mount(request: pytest.FixtureRequest) -> Iterator[Callable[[Dashboard], Client]]:
    made: list[Any] = []

    def build(dashboard: Dashboard) -> Client:
        client = ADAPTERS[request.param](dashboard)
        made.append(client)
        return client

    yield build
    for client in made:
        if hasattr(client, "close"):
            client.close()


@pytest.fixture
def queue(make_queue: Callable[..., Queue]) -> Queue:
    return make_queue(shards=2)


def dead_job(queue: Queue, payload: dict[str, Any] | None = None, error: Exception | None = None) -> int:
    ref = queue.enqueue(payload or {"__task__": "mail.send", "args": [], "kwargs": {}})
    (job,) = queue.claim_jobs("w", 1)
    queue.fail_job(job, error=error or ValueError("bad address"), permanent=True)
    return ref["id"]


def as_admin(request: Request) -> Access:
    return Access.ADMIN


def test_every_page_renders_under_the_mount_prefix_with_the_security_headers(mount, queue):
    # Given a dashboard mounted under /queue with one dead job
    job_id = dead_job(queue)
    client = mount(Dashboard(queue, authorize=as_admin))
    for path in ("/", "/queues", "/jobs", f"/jobs/{job_id}", "/dead-letters", "/workers", "/schedules"):
        # When each page is fetched
        reply = client.get(path)
        # Then it answers, links stay under the prefix, and the headers forbid the usual attacks
        assert reply.status == 200, (path, reply.text[:300])
        assert f'href="{PREFIX}/jobs"' in reply.text and f'src="{PREFIX}/static/dashboard.js"' in reply.text
        csp = reply.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["cache-control"] == "no-store"


def test_a_mutation_without_a_csrf_token_is_refused_and_changes_nothing(mount, queue):
    job_id = dead_job(queue)
    client = mount(Dashboard(queue, authorize=as_admin))
    client.get("/dead-letters")  # gets the CSRF cookie
    reply = client.post(f"/jobs/{job_id}/requeue", {})
    assert reply.status == 403 and "CSRF token missing" in reply.text
    assert queue.get_job(job_id).status.value == "failed"


def test_a_mutation_with_a_wrong_csrf_token_is_refused(mount, queue):
    job_id = dead_job(queue)
    client = mount(Dashboard(queue, authorize=as_admin))
    client.get("/dead-letters")
    reply = client.post(f"/jobs/{job_id}/requeue", {"csrf_token": "0" * 64})
    assert reply.status == 403 and "CSRF token wrong" in reply.text
    assert queue.get_job(job_id).status.value == "failed"


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}])
def test_a_cross_site_mutation_is_refused_even_with_a_valid_token(mount, queue, headers):
    job_id = dead_job(queue)
    client = mount(Dashboard(queue, authorize=as_admin))
    token = client.get(f"/jobs/{job_id}").csrf()
    reply = client.post(f"/jobs/{job_id}/requeue", {"csrf_token": token}, headers=headers)
    assert reply.status == 403 and "cross-site request refused" in reply.text
    assert queue.get_job(job_id).status.value == "failed"


def test_a_same_origin_mutation_with_its_token_goes_through_and_is_audited(mount, queue):
    job_id = dead_job(queue)
    audit: list[tuple[Any, ...]] = []
    queue.on("dashboard_action", lambda *args: audit.append(args))
    client = mount(Dashboard(queue, authorize=as_admin))
    token = client.get(f"/jobs/{job_id}").csrf()
    reply = client.post(f"/jobs/{job_id}/requeue", {"csrf_token": token},
                        headers={"Origin": f"http://{client.host}", "Sec-Fetch-Site": "same-origin"})
    assert reply.status == 303 and reply.headers["location"].startswith(f"{PREFIX}/jobs/{job_id}")
    assert queue.get_job(job_id).status.value == "pending"
    assert [(action, detail["job_id"]) for action, _who, detail in audit] == [("requeue_job", job_id)]


def test_a_denying_authorize_hook_refuses_every_page(mount, queue):
    client = mount(Dashboard(queue, authorize=lambda request: Access.DENY))
    assert client.get("/").status == 403
    assert client.get("/jobs").status == 403


def test_read_only_access_sees_no_buttons_and_may_not_post(mount, queue):
    job_id = dead_job(queue)
    client = mount(Dashboard(queue, authorize=lambda request: Access.READ_ONLY))
    page = client.get(f"/jobs/{job_id}")
    assert page.status == 200 and 'method="post"' not in page.text and 'name="csrf_token"' not in page.text
    assert client.post(f"/jobs/{job_id}/requeue", {"csrf_token": "x"}).status == 403
    assert queue.get_job(job_id).status.value == "failed"


def test_a_read_only_dashboard_has_no_mutating_route_at_all(mount, queue):
    job_id = dead_job(queue)
    dashboard = Dashboard(queue, authorize=as_admin, read_only=True)
    assert not any(route.mutates for route in dashboard.routes)
    client = mount(dashboard)
    page = client.get("/dead-letters").text
    assert f"/jobs/{job_id}" in page and 'method="post"' not in page and 'type="checkbox"' not in page
    assert client.post(f"/jobs/{job_id}/requeue", {"csrf_token": "x"}).status == 404
    assert client.post("/dead-letters/apply", {"csrf_token": "x"}).status == 404


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=ten", "poll=0", "poll=301", "poll=x",
                                   "status=lost", "range=3y", "shard=9"])
def test_out_of_range_page_size_poll_interval_and_filters_are_refused(mount, queue, query):
    client = mount(Dashboard(queue, authorize=as_admin))
    reply = client.get(f"/jobs?{query}")
    assert reply.status == 400, reply.text[:200]
    assert query.split("=")[0] in reply.text


def settled_etag(client: Client, path: str) -> str:
    """The page's ETag once it answers 304 to itself (each server thread that first sees the
    storage counts as a possible change, so the first few polls of a thread pool answer 200)."""
    etag = client.get(path).headers["etag"]
    for _ in range(50):
        reply = client.get(path, headers={"If-None-Match": etag})
        if reply.status == 304:
            return etag
        etag = reply.headers["etag"]
    raise AssertionError("the page never answered 304")


def test_an_unchanged_page_answers_304_to_its_etag_and_a_new_job_changes_it(mount, queue, make_queue):
    client = mount(Dashboard(queue, authorize=as_admin))
    etag = settled_etag(client, "/")
    # When another connection (another Queue on the same files) enqueues a job
    make_queue(shards=2).enqueue({"new": True})
    # Then the same ETag now gets the fresh page
    fresh = client.get("/", headers={"If-None-Match": etag})
    assert fresh.status == 200 and fresh.headers["etag"] != etag


def test_a_dashboard_without_an_authorize_hook_refuses_to_build(queue):
    with pytest.raises(ConfigError, match="authorize"):
        Dashboard(queue)
    with pytest.raises(ConfigError, match="poll_interval"):
        Dashboard(queue, allow_anonymous=True, poll_interval=0)
    with pytest.raises(ConfigError, match="page_size"):
        Dashboard(queue, allow_anonymous=True, page_size=10_000)


def test_the_workers_page_lists_an_idle_worker_running_in_another_process(mount, queue, tmp_path):
    # Given a `queue-max worker` in another process, consuming two queues, with nothing to do
    with idle_worker_process(queue, tmp_path / "data", "emails,reports", "idle-host") as child:
        # When the Workers page is fetched through the adapter
        reply = mount(Dashboard(queue, authorize=as_admin)).get("/workers")
        # Then it lists the worker, idle, with its pid, host and queues
        assert reply.status == 200
        row = reply.text.split(f'data-worker="idle-host-{child.pid}"')[1].split("</tr>")[0]
        assert f"{socket.gethostname()} / {child.pid}" in row and "emails, reports" in row
        assert "idle" in row and "stale" not in row
