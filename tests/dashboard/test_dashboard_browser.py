"""The dashboard in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium,
installed by .ci/run; nothing is downloaded at test time).

Every page is checked for console errors and CSP violations, and screenshots of each page are
saved as test artefacts (QUEUE_MAX_ARTIFACTS, default <tmp>/screenshots)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from dashboard_clients import bury, idle_worker_process

from queue_max import Queue
from queue_max.config import Settings
from queue_max.dashboard import Dashboard, wsgi_app
from queue_max.dashboard.server import _Server

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]
HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"
SRC = Path(__file__).resolve().parents[2] / "src"

# CI (.ci/run) installs Chromium and sets QUEUE_MAX_REQUIRE_CHROMIUM, so there they never skip
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("QUEUE_MAX_REQUIRE_CHROMIUM"),
                                reason="needs Debian's chromium (apt-get install chromium; .ci/run does)")


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("QUEUE_MAX_ARTIFACTS") or tmp_path) / "screenshots"
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    queue = Queue(data_dir=tmp_path / "data", shards=2, rate_limit=0, settings=Settings())
    yield queue
    queue.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Dashboard], str]]:
    servers: list[Any] = []

    def start(dashboard: Dashboard) -> str:
        server = make_server("127.0.0.1", 0, wsgi_app(dashboard), server_class=_Server, handler_class=_Quiet)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class Watched:
    """A page whose console errors, uncaught errors, CSP reports and dialogs are all recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda msg: self.problems.append(msg.text) if msg.type in ("error", "warning") else None)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def visit(self, url: str) -> Any:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, url
        return response

    def clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.problems == [], f"console errors or CSP violations: {self.problems}"


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    yield Watched(context.new_page())
    context.close()


def enqueue_in_another_process(data_dir: Path, payload: str) -> None:
    code = (f"from queue_max import Queue; q = Queue(data_dir={str(data_dir)!r}, rate_limit=0); "
            f"q.enqueue({payload}); q.close()")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_the_overview_updates_by_itself_when_another_process_enqueues(queue, serve, watched, tmp_path):
    base = serve(Dashboard(queue, allow_anonymous=True, poll_interval=1))
    watched.visit(base + "/")
    ready = watched.page.locator('[data-count="ready"]')
    assert ready.inner_text() == "0"
    # When another process enqueues two jobs
    enqueue_in_another_process(tmp_path / "data", '{"from": "elsewhere"}')
    enqueue_in_another_process(tmp_path / "data", '{"from": "elsewhere", "n": 2}')
    # Then the page shows them without a reload
    expect(ready).to_have_text("2", timeout=30_000)
    assert int(watched.page.locator("body").get_attribute("data-updates") or 0) >= 1
    watched.clean()


def test_a_filter_narrows_the_job_list(queue, serve, watched):
    for i in range(4):
        queue.enqueue({"__task__": "mail.send", "args": [i], "kwargs": {}})
    queue.enqueue({"__task__": "pdf.render", "args": [], "kwargs": {}})
    base = serve(Dashboard(queue, allow_anonymous=True))
    watched.visit(base + "/jobs")
    rows = watched.page.locator("table.jobs tbody tr")
    assert rows.count() == 5
    watched.page.fill("input[name=task]", "pdf.render")
    watched.page.click("form.filters button[type=submit]")
    watched.page.wait_for_url("**/jobs?*task=pdf.render*")
    assert rows.count() == 1 and rows.first.locator("td.task").inner_text() == "pdf.render"
    watched.clean()


def test_a_bulk_requeue_goes_through_its_confirmation(queue, serve, watched):
    ids = [bury(queue, {"i": i}, ValueError("bad")) for i in range(3)]
    base = serve(Dashboard(queue, allow_anonymous=True))
    watched.visit(base + "/dead-letters")
    watched.page.check(f"input[name=ids][value='{ids[1]}']")
    watched.page.click("button[name=scope][value=selected]")
    # The dry run says how many, and nothing has moved yet
    assert watched.page.locator("#dry-run-count").inner_text() == "1"
    assert queue.dlq_count() == 3
    watched.page.click("text=Yes, requeue 1")
    watched.page.wait_for_url("**/dead-letters?*done=requeue*")
    assert "1 dead letters requeued" in watched.page.locator("p.notice").inner_text()
    assert queue.dlq_count() == 2 and queue.get_job(ids[1]).status.value == "pending"
    watched.clean()


def test_read_only_mode_shows_no_action_buttons(queue, serve, watched):
    job_id = bury(queue, {"i": 1}, ValueError("bad"))
    base = serve(Dashboard(queue, allow_anonymous=True, read_only=True))
    for path in ("/dead-letters", f"/jobs/{job_id}"):
        watched.visit(base + path)
        assert watched.page.locator("form[method=post]").count() == 0
        assert watched.page.locator("input[type=checkbox]").count() == 0
        assert watched.page.get_by_role("button", name="Requeue").count() == 0
    assert "read-only dashboard" in watched.page.locator("header").inner_text()
    watched.clean()


def test_hostile_payloads_errors_and_task_names_render_as_text(queue, serve, watched):
    job_id = bury(queue, {"__task__": HOSTILE, "args": [HOSTILE], "kwargs": {"note": HOSTILE}}, ValueError(HOSTILE))
    base = serve(Dashboard(queue, allow_anonymous=True))
    for path in (f"/jobs/{job_id}", "/jobs", "/dead-letters"):
        watched.visit(base + path)
        assert watched.page.locator("main img").count() == 0
        assert HOSTILE in watched.page.locator("main").inner_text()
    watched.clean()  # a dialog event (alert) fails here


def test_every_page_loads_without_console_errors_or_csp_violations(queue, serve, watched, artefacts):
    job_id = bury(queue, {"__task__": "mail.send", "args": ["ann@example.com"], "kwargs": {"password": "x"}},
                  ConnectionError("SMTP server refused"))
    for i in range(6):
        queue.enqueue({"__task__": "pdf.render", "args": [i], "kwargs": {}})
    queue.claim_jobs("worker-1", 2)
    base = serve(Dashboard(queue, allow_anonymous=True))
    pages = {"overview": "/", "queues": "/queues", "jobs": "/jobs", "job": f"/jobs/{job_id}",
             "dead-letters": "/dead-letters", "workers": "/workers", "schedules": "/schedules"}
    for name, path in pages.items():
        watched.visit(base + path)
        watched.page.screenshot(path=str(artefacts / f"{name}.png"), full_page=True)
    watched.clean()
    assert len(list(artefacts.glob("*.png"))) == len(pages)


def test_the_workers_page_shows_an_idle_worker_of_another_process(queue, serve, watched, tmp_path, artefacts):
    # Given a `queue-max worker` in another process with nothing to do
    with idle_worker_process(queue, tmp_path / "data", "emails,reports", "browser-idle") as child:
        base = serve(Dashboard(queue, allow_anonymous=True))
        # When the Workers page is opened
        watched.visit(base + "/workers")
        # Then the idle worker is there, with its host, pid, queues and no running job
        row = watched.page.locator(f'tr[data-worker="browser-idle-{child.pid}"]')
        expect(row).to_have_count(1)
        assert f"/ {child.pid}" in row.inner_text() and "emails, reports" in row.inner_text()
        expect(row.locator("[data-running]")).to_have_text("0 of 1")
        assert "idle" in row.inner_text()
        watched.page.screenshot(path=str(artefacts / "workers-idle.png"), full_page=True)
    watched.clean()
