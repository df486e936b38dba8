"""The dashboard's pages through its framework-free core: what they show, how they filter and
page, how they keep secrets and hostile text harmless, and the bulk dead-letter flow."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from dashboard_clients import bury

from queue_max import Queue
from queue_max.dashboard import Access, Dashboard, Request
from queue_max.dashboard._security import CSRF_COOKIE
from queue_max.models import WorkerPresence

HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"


class Browser:
    """Keeps the CSRF cookie between requests, like a browser would."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self.cookie = ""

    def get(self, path: str, **query: str) -> Any:
        request = Request("GET", path, query={k: [v] for k, v in query.items()},
                          headers={"host": "dash", "cookie": self.cookie})
        response = self.dashboard.handle(request)
        for name, value in response.headers:
            if name == "Set-Cookie" and value.startswith(CSRF_COOKIE):
                self.cookie = value.split(";")[0]
        return response

    def post(self, path: str, form: str) -> Any:
        headers = {"host": "dash", "cookie": self.cookie, "origin": "http://dash",
                   "content-type": "application/x-www-form-urlencoded"}
        return self.dashboard.handle(Request("POST", path, headers=headers, body=form.encode()))


def token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)  # type: ignore[union-attr]


@pytest.fixture
def queue(make_queue: Callable[..., Queue]) -> Queue:
    return make_queue(shards=3)


def test_hostile_task_names_payloads_and_errors_render_as_inert_text(queue):
    # Given a dead job whose task name, payload and error message all carry markup
    job_id = bury(queue, {"__task__": HOSTILE, "args": [HOSTILE], "kwargs": {}}, ValueError(HOSTILE))
    browser = Browser(Dashboard(queue, allow_anonymous=True))
    for path in (f"/jobs/{job_id}", "/jobs", "/dead-letters"):
        html = browser.get(path).body.decode()
        # Then no tag of theirs survives: every < is escaped, and the only scripts are ours
        assert "<img" not in html and "<script>alert" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/dashboard.js" defer>']


def test_payloads_are_redacted_at_any_depth_and_truncated(queue):
    job_id = queue.enqueue({"user": {"Password": "hunter2", "name": "ann"}, "API_KEY": "k-123",
                            "blob": "x" * 5000, "headers": [{"Authorization": "Bearer abc"}]})["id"]
    html = Browser(Dashboard(queue, allow_anonymous=True, max_value_chars=1000,
                             redact_keys=["password", "api_key", "authorization"])).get(f"/jobs/{job_id}").body.decode()
    assert "hunter2" not in html and "k-123" not in html and "Bearer abc" not in html
    assert html.count("[redacted]") == 3 and "ann" in html
    assert "more characters not shown" in html and "x" * 1001 not in html


def test_the_jobs_page_filters_by_status_and_task_and_pages_by_keyset(queue):
    for i in range(7):
        queue.enqueue({"__task__": "mail.send", "args": [i], "kwargs": {}})
    queue.enqueue({"__task__": "pdf.render", "args": [], "kwargs": {}})
    browser = Browser(Dashboard(queue, allow_anonymous=True))
    only_pdf = browser.get("/jobs", task="pdf.render").body.decode()
    assert only_pdf.count('class="task">pdf.render') == 1 and "mail.send" not in only_pdf
    # Pages of 3: follow the "Older" link until it disappears; every mail job shows up once
    seen: list[str] = []
    query = {"task": "mail.send", "limit": "3"}
    while True:
        html = browser.get("/jobs", **query).body.decode()
        seen += re.findall(r'<td><a href="/jobs/(\d+)">', html)
        older = re.search(r'class="next" href="/jobs\?([^"]+)"', html)
        if older is None:
            break
        query = dict(pair.split("=") for pair in older.group(1).replace("&amp;", "&").split("&"))
    assert len(seen) == len(set(seen)) == 7


def test_payload_search_is_refused_unless_the_dashboard_enables_it(queue):
    queue.enqueue({"email": "bob@example.com"})
    assert Browser(Dashboard(queue, allow_anonymous=True)).get("/jobs", q="bob@").status == 400
    html = Browser(Dashboard(queue, allow_anonymous=True, payload_search=True)).get("/jobs", q="bob@").body.decode()
    assert "bob@example.com" in html


def test_bulk_requeue_of_all_matching_shows_a_dry_run_count_then_acts_on_confirmation(queue):
    # Given three ValueError and two KeyError dead letters
    for i in range(3):
        bury(queue, {"i": i}, ValueError("bad"))
    for i in range(2):
        bury(queue, {"k": i}, KeyError("missing"))
    browser = Browser(Dashboard(queue, allow_anonymous=True))
    token = token_of(browser.get("/dead-letters", error_type="ValueError").body.decode())
    # When "requeue all matching" is asked, the dry run counts without changing anything
    confirm = browser.post("/dead-letters/confirm",
                           f"csrf_token={token}&action=requeue&scope=matching&error_type=ValueError&shard=")
    assert confirm.status == 200 and 'id="dry-run-count">3<' in confirm.body.decode()
    assert queue.dlq_count() == 5
    # And only the confirmation does it
    done = browser.post("/dead-letters/apply",
                        f"csrf_token={token}&action=requeue&scope=matching&error_type=ValueError&shard=&confirm=yes")
    assert done.status == 303 and "count=3" in dict(done.headers)["Location"]
    assert queue.dlq_count() == 2 and queue.dlq_count(error_type="ValueError") == 0


def test_bulk_prune_of_a_selection_removes_only_the_selected(queue):
    ids = [bury(queue, {"i": i}, ValueError("bad")) for i in range(4)]
    browser = Browser(Dashboard(queue, allow_anonymous=True))
    token = token_of(browser.get("/dead-letters").body.decode())
    form = f"csrf_token={token}&action=prune&scope=selected&ids={ids[0]}&ids={ids[2]}"
    assert 'id="dry-run-count">2<' in browser.post("/dead-letters/confirm", form).body.decode()
    assert browser.post("/dead-letters/apply", form + "&confirm=yes").status == 303
    assert sorted(e.original_job_id for e in queue.dlq_list()) == [ids[1], ids[3]]
    # Without the confirmation step nothing happens
    assert browser.post("/dead-letters/apply", f"csrf_token={token}&action=prune&scope=matching").status == 400
    assert queue.dlq_count() == 2


def worker_row(html: str, name: str) -> str:
    return html.split(f'data-worker="{name}"')[1].split("</tr>")[0]


def test_the_workers_page_shows_unregistered_lease_holders_and_flags_one_whose_leases_expired(queue, clock):
    queue.enqueue({"a": 1})
    queue.enqueue({"b": 2})
    queue.claim_jobs("worker-alive", 1)
    queue.backend.claim("worker-dead", 1, -5.0, queue.clock.time())  # a lease already expired
    html = Browser(Dashboard(queue, allow_anonymous=True)).get("/workers").body.decode()
    alive, dead = worker_row(html, "worker-alive"), worker_row(html, "worker-dead")
    assert "busy" in alive and "leases only" in alive
    assert "stale" in dead and "leases only" in dead


def test_the_workers_page_shows_every_registered_worker_idle_or_busy_or_stale(queue):
    # Given an idle worker on two queues, a busy one, and one whose heartbeats stopped long ago
    now = queue.clock.time()
    idle = WorkerPresence("idle-1", "host-a", 11, "Worker", ("emails", "reports"), 2, 0, now - 60, now - 1)
    busy = WorkerPresence("busy-1", "host-b", 22, "AsyncWorker", None, 10, 1, now - 60, now - 2)
    hung = WorkerPresence("hung-1", "host-a", 33, "Worker", None, 1, 0, now - 600, now - 300)
    queue.report_workers([idle, busy, hung])
    queue.enqueue({"a": 1})
    (job,) = queue.claim_jobs("busy-1", 1)
    # When the Workers page is shown
    html = Browser(Dashboard(queue, allow_anonymous=True)).get("/workers").body.decode()
    # Then each is there with its host, pid, queues, running jobs, heartbeat age and state
    row = worker_row(html, "idle-1")
    assert "host-a / 11" in row and "emails, reports" in row and "idle" in row and re.search(r">\d+s ago<", row)
    row = worker_row(html, "busy-1")
    assert "host-b / 22" in row and "every queue" in row and "busy" in row and f"/jobs/{job.id}" in row
    assert "AsyncWorker" in row and ">1 <" in row.replace('data-running>', '>')
    row = worker_row(html, "hung-1")
    assert "stale" in row and "5m" in row


def test_the_overview_shows_counts_health_lights_and_the_default_queue(queue):
    queue.enqueue({"a": 1})
    bury(queue, {"b": 2}, ValueError("x"))
    html = Browser(Dashboard(queue, allow_anonymous=True)).get("/").body.decode()
    assert 'data-count="ready">1<' in html and 'data-count="dead_letter">1<' in html
    assert "light-amber" in html and "dead letters" in html
    assert "<td>default</td>" in html


def test_the_dead_letter_page_shows_the_queue_of_each_entry(queue):
    # Given a dead letter in the queue "mail"
    job_id = queue.enqueue({"m": 1}, queue_name="mail")["id"]
    (job,) = queue.claim_jobs("w", 1)
    assert job.id == job_id
    queue.fail_job(job, error=ValueError("x"), permanent=True)
    # When the dead-letter page is shown, then the entry's row names its queue
    html = Browser(Dashboard(queue, allow_anonymous=True)).get("/dead-letters").body.decode()
    assert "<th>Queue</th>" in html and '<td class="queue">mail</td>' in html


def test_the_dead_letter_page_filters_by_queue_and_its_bulk_action_stays_in_that_queue(queue):
    # Given dead letters in the queues "mail" (2) and "reports" (1)
    queue.enqueue_batch([{"payload": {"n": n}, "queue_name": name} for n, name in enumerate(["mail", "mail", "reports"])])
    for job in queue.claim_jobs("w", 10):
        queue.fail_job(job, error=ValueError("x"), permanent=True)
    browser = Browser(Dashboard(queue, allow_anonymous=True))
    # When the page is filtered to "mail", then it lists and counts that queue's only
    html = browser.get("/dead-letters", queue_name="mail").body.decode()
    assert html.count('<td class="queue">mail</td>') == 2 and '<td class="queue">reports</td>' not in html
    assert '<span class="count">2</span>' in html and 'name="queue_name" value="mail"' in html
    # And "requeue all matching" counts, then requeues, the mail queue's dead letters alone
    token = token_of(html)
    form = f"csrf_token={token}&action=requeue&scope=matching&error_type=&shard=&queue_name=mail"
    confirm = browser.post("/dead-letters/confirm", form).body.decode()
    assert 'id="dry-run-count">2<' in confirm and 'name="queue_name" value="mail"' in confirm
    assert browser.post("/dead-letters/apply", form + "&confirm=yes").status == 303
    assert [e.queue_name for e in queue.dlq_list()] == ["reports"]


def test_a_malformed_queue_name_on_the_dead_letter_page_is_a_clear_400(queue):
    browser = Browser(Dashboard(queue, allow_anonymous=True))
    page = browser.get("/dead-letters", queue_name="no spaces")
    assert page.status == 400 and "queue_name must be 1 to 64 characters" in page.body.decode()
    token = token_of(browser.get("/dead-letters").body.decode())
    form = f"csrf_token={token}&action=prune&scope=matching&queue_name=a/b&confirm=yes"
    assert browser.post("/dead-letters/apply", form).status == 400


def test_a_read_only_grant_from_the_hook_renders_pages_without_forms(queue):
    bury(queue, {"b": 2}, ValueError("x"))
    dashboard = Dashboard(queue, authorize=lambda request: Access.READ_ONLY)
    html = Browser(dashboard).get("/dead-letters").body.decode()
    assert "read-only access" in html and 'method="post"' not in html


def test_the_throughput_chart_comes_from_persisted_metrics_and_survives_a_restart(make_queue):
    # Given a queue that completed three jobs and dead-lettered one, then was closed
    first = make_queue(shards=3)
    for i in range(4):
        first.enqueue({"i": i})
    jobs = first.claim_jobs("w", 4)
    first.complete_jobs([(job, None) for job in jobs[:3]])
    first.fail_job(jobs[3], error=ValueError("x"), permanent=True)
    first.close()
    # When a new dashboard process opens it
    html = Browser(Dashboard(make_queue(shards=3), allow_anonymous=True)).get("/").body.decode()
    # Then the last hour's chart shows them
    hour = html.split("Last hour")[1].split("</figcaption>")[0]
    assert "3 completed" in hour and "1 failed" in hour
    assert html.count('class="done"') >= 1


def test_the_queues_page_pauses_and_resumes_a_named_queue_through_its_confirmed_post(queue):
    # Given a job in the named queue "mail"
    queue.enqueue({"n": 1}, queue_name="mail")
    browser = Browser(Dashboard(queue, allow_anonymous=True))
    html = browser.get("/queues").body.decode()
    assert "<td>mail</td>" in html and "/queues/mail/pause" in html
    # When an admin pauses it
    done = browser.post("/queues/mail/pause", f"csrf_token={token_of(html)}")
    # Then workers of the host stop claiming it, and the page says so
    assert done.status == 303 and queue.paused_queues() == ["mail"]
    html = browser.get("/queues").body.decode()
    assert "paused" in html and "/queues/mail/resume" in html
    assert browser.post("/queues/mail/resume", f"csrf_token={token_of(html)}").status == 303
    assert queue.paused_queues() == []


def test_a_read_only_dashboard_cannot_pause_a_queue(queue):
    queue.enqueue({"n": 1}, queue_name="mail")
    browser = Browser(Dashboard(queue, allow_anonymous=True, read_only=True))
    assert "/queues/mail/pause" not in browser.get("/queues").body.decode()
    assert browser.post("/queues/mail/pause", "csrf_token=x").status == 404
    assert queue.paused_queues() == []


def test_the_jobs_page_filters_by_named_queue(queue):
    queue.enqueue({"__task__": "mail.send", "args": [], "kwargs": {}}, queue_name="mail")
    queue.enqueue({"__task__": "pdf.render", "args": [], "kwargs": {}})
    html = Browser(Dashboard(queue, allow_anonymous=True)).get("/jobs", queue="mail").body.decode()
    assert 'class="task">mail.send' in html and "pdf.render" not in html
