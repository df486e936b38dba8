"""Regenerate the screenshots in docs/images/ (run: python docs/dashboard_screenshots.py [PAGE ...],
PAGE one of overview, jobs, job, dead-letters, workers; default all).

Builds a demo queue with an hour of history (a fake clock drives the enqueues and acks, so the
persisted metrics spread over past minutes), serves it, and photographs each page with
Debian's Chromium through Playwright."""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from queue_max import Queue  # noqa: E402
from queue_max.clock import FakeClock  # noqa: E402
from queue_max.config import Settings  # noqa: E402
from queue_max.dashboard import Dashboard, wsgi_app  # noqa: E402
from queue_max.dashboard.server import _Server  # noqa: E402
from queue_max.models import WorkerPresence  # noqa: E402

OUT = Path(__file__).resolve().parent / "images"
TASKS = ["mail.send_welcome", "billing.charge_card", "pdf.render_invoice", "search.reindex"]
ERRORS = [ConnectionError("SMTP server refused the connection"), TimeoutError("card gateway timed out"),
          ValueError("invoice 88121 has no lines")]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def history(data: Path) -> None:
    rng = random.Random(7)
    clock = FakeClock(time.time() - 3600)
    queue = Queue(data_dir=data, shards=4, rate_limit=0, settings=Settings(), clock=clock, retry_backoff=0.0)
    for minute in range(60):
        wave = 20 + int(15 * abs((minute % 20) - 10) / 10) + rng.randint(0, 8)
        for _ in range(wave):
            task = rng.choice(TASKS)
            queue.enqueue({"__task__": task, "args": [rng.randint(1, 9999)],
                           "kwargs": {"email": f"user{rng.randint(1, 500)}@example.com", "api_key": "sk-live-123"}})
        clock.advance(rng.uniform(5, 20))
        jobs = queue.claim_jobs(f"worker-{rng.randint(1, 3)}", wave)
        clock.advance(rng.uniform(0.01, 0.4))
        failed = [job for job in jobs if rng.random() < 0.06]
        queue.complete_jobs([(job, {"ok": True}) for job in jobs if job not in failed])
        for job in failed:
            queue.fail_job(job, error=rng.choice(ERRORS), permanent=rng.random() < 0.5)
        clock.advance(60 - clock.time() % 60 + 1)
    queue.close()


def live(data: Path) -> Queue:
    queue = Queue(data_dir=data, rate_limit=0, settings=Settings())
    for i in range(40):
        queue.enqueue({"__task__": random.choice(TASKS), "args": [i], "kwargs": {"password": "hunter2"}})
    queue.claim_jobs("worker-1", 3)
    queue.claim_jobs("worker-2", 2)
    # the worker registry: two busy workers, an idle one on two named queues, and one that stopped
    # heartbeating (as their heartbeats would report them)
    now = queue.clock.time()
    queue.report_workers([
        WorkerPresence("worker-1", "app-1", 4121, "Worker", None, 4, 3, now - 5400, now - 1.2),
        WorkerPresence("worker-2", "app-2", 3077, "AsyncWorker", None, 10, 2, now - 5400, now - 3.4),
        WorkerPresence("mailer-1", "app-2", 3102, "Worker", ("emails", "reports"), 2, 0, now - 900, now - 2.1),
        WorkerPresence("reindex-1", "app-3", 977, "Worker", ("search",), 1, 0, now - 7200, now - 412.0),
    ])
    return queue


def main() -> None:
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp()) / "data"
    history(data)
    queue = live(data)
    dead = queue.dlq_list(1)[0].original_job_id
    server = make_server("127.0.0.1", 0, wsgi_app(Dashboard(queue, allow_anonymous=True)), server_class=_Server,
                         handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        pages = {"overview": "/", "jobs": "/jobs?status=failed&limit=14", "job": f"/jobs/{dead}",
                 "dead-letters": "/dead-letters?limit=10", "workers": "/workers"}
        for name, path in pages.items():
            if sys.argv[1:] and name not in sys.argv[1:]:
                continue
            page.goto(base + path)
            page.screenshot(path=str(OUT / f"dashboard-{name}.png"), full_page=True)
        browser.close()
    server.shutdown()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
