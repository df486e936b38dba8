"""One small client interface over each framework's own test client, for the dashboard's
HTTP tests: the dashboard mounted under /queue in Starlette (ASGI), Flask (WSGI) and Django;
`bury`, which the dashboard tests use to make a dead letter; and `idle_worker_process`, a real
`queue-max worker` subprocess with nothing to do."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from queue_max import Queue
from queue_max.dashboard import Dashboard, asgi_app, django_urls, wsgi_app

PREFIX = "/queue"
TESTS = Path(__file__).resolve().parent


def bury(queue: Queue, payload: dict[str, Any], error: Exception) -> int:
    job_id = queue.enqueue(payload)["id"]
    for job in queue.claim_jobs("w", 100):
        if job.id == job_id:
            queue.fail_job(job, error=error, permanent=True)
        else:
            queue.release_job(job)
    return job_id


@contextlib.contextmanager
def idle_worker_process(queue: Queue, data_dir: Path, queues: str, name: str) -> Iterator[subprocess.Popen[str]]:
    """`queue-max worker --queues QUEUES --name NAME` in a child process, yielded once `queue`
    lists it in its worker registry (it has no job to run); stopped with SIGTERM afterwards."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)])}
    child = subprocess.Popen(
        [sys.executable, "-m", "queue_max", "--data-dir", str(data_dir), "worker", "--function",
         "cli_fixtures.handlers:echo", "--queues", queues, "--name", name, "--rate-limit", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(w.pid == child.pid for w in queue.workers()):
            if child.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not register: {child.communicate(timeout=10)}")
            time.sleep(0.05)
        yield child
    finally:
        child.terminate()
        child.communicate(timeout=30)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def csrf(self) -> str:
        match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', self.text)
        assert match, "the page has no form with a CSRF token"
        return match.group(1)


class Client(Protocol):
    host: str

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply: ...

    def post(self, path: str, data: dict[str, Any], headers: dict[str, str] | None = None) -> Reply: ...


class StarletteClient:
    host = "testserver"

    def __init__(self, dashboard: Dashboard) -> None:
        from starlette.applications import Starlette
        from starlette.routing import Mount
        from starlette.testclient import TestClient

        app = Starlette(routes=[Mount(PREFIX, app=asgi_app(dashboard))])
        self._client = TestClient(app, follow_redirects=False)

    def _reply(self, response: Any) -> Reply:
        return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.text)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self._reply(self._client.get(PREFIX + path, headers=headers))

    def post(self, path: str, data: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        return self._reply(self._client.post(PREFIX + path, data=data, headers=headers))


class FlaskClient:
    host = "localhost"

    def __init__(self, dashboard: Dashboard) -> None:
        from flask import Flask
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        app = Flask("dashboard-test")
        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {PREFIX: wsgi_app(dashboard)})  # type: ignore[method-assign]
        self._client = app.test_client()

    def _reply(self, response: Any) -> Reply:
        return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                     response.get_data(as_text=True))

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self._reply(self._client.get(PREFIX + path, headers=headers))

    def post(self, path: str, data: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        return self._reply(self._client.post(PREFIX + path, data=data, headers=headers))


class DjangoClient:
    host = "testserver"

    def __init__(self, dashboard: Dashboard) -> None:
        import django
        from django.test import Client as TestClient
        from django.test import override_settings
        from django.urls import clear_url_caches, include, path

        self._env = os.environ.get("DJANGO_SETTINGS_MODULE")
        os.environ["DJANGO_SETTINGS_MODULE"] = self._env or "django_project.settings"
        django.setup()
        from django_project import dashboard_urls

        dashboard_urls.urlpatterns[:] = [path("queue/", include(django_urls(dashboard)))]
        # Django's own CSRF middleware is on: the dashboard's view must be exempt from it
        self._settings = override_settings(ROOT_URLCONF="django_project.dashboard_urls",
                                           MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"])
        self._settings.enable()
        clear_url_caches()
        self._client = TestClient()

    def close(self) -> None:
        from django.urls import clear_url_caches

        self._settings.disable()
        clear_url_caches()
        if self._env is None:
            os.environ.pop("DJANGO_SETTINGS_MODULE", None)

    def _reply(self, response: Any) -> Reply:
        return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                     response.content.decode())

    @staticmethod
    def _meta(headers: dict[str, str] | None) -> dict[str, str]:
        return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self._reply(self._client.get(PREFIX + path, **self._meta(headers)))

    def post(self, path: str, data: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        from urllib.parse import urlencode

        # what a browser sends for the dashboard's forms (Django's client defaults to multipart)
        return self._reply(self._client.post(PREFIX + path, data=urlencode(data, doseq=True),
                                             content_type="application/x-www-form-urlencoded",
                                             **self._meta(headers)))


ADAPTERS = {"asgi-starlette": StarletteClient, "wsgi-flask": FlaskClient, "django": DjangoClient}
