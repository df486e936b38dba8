"""`queue-max dashboard`: a real server process on loopback, entered once through its token URL."""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cli_fixtures.helpers import cli, data_dir, make_cli_queue, module_env  # noqa: F401 - fixtures


class Server:
    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "queue_max", "--data-dir", str(data_dir), "dashboard",
             "--bind", "127.0.0.1:0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=module_env())
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "token=" in line:
                self.url = line.split()[-1]
                break
        else:
            raise AssertionError(self.proc.stderr.read() if self.proc.stderr else "no URL printed")
        parts = urlsplit(self.url)
        self.host, self.port, self.login = parts.hostname, parts.port, f"{parts.path}?{parts.query}"

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: str | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=30)  # waits, and closes the pipes


@pytest.fixture
def server_factory(data_dir: Path, make_cli_queue) -> Iterator:  # noqa: F811 - fixtures
    make_cli_queue().enqueue({"hello": "world"})
    started: list[Server] = []

    def start(*extra: str) -> Server:
        server = Server(data_dir, *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_the_token_url_logs_in_once_and_everyone_else_is_refused(server_factory):
    server = server_factory()
    # Without the session the dashboard refuses to show anything
    assert server.request("GET", "/").status == 403
    # The printed URL sets a session cookie and drops the token from the address bar
    login = server.request("GET", server.login)
    assert login.status == 303 and login.getheader("Location") == "/"
    cookie = login.getheader("Set-Cookie").split(";")[0]
    assert "HttpOnly" in login.getheader("Set-Cookie") and "SameSite=Strict" in login.getheader("Set-Cookie")
    assert server.request("GET", "/", headers={"Cookie": cookie}).status == 200
    # The link works once: a second visitor with the same URL gets nothing
    assert server.request("GET", server.login).status == 403


def test_the_read_only_server_registers_no_mutation(server_factory):
    server = server_factory("--read-only")
    cookie = server.request("GET", server.login).getheader("Set-Cookie").split(";")[0]
    page = server.request("GET", "/dead-letters", headers={"Cookie": cookie})
    assert page.status == 200
    refused = server.request("POST", "/dead-letters/apply", headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, body="confirm=yes")
    assert refused.status == 404


def test_binding_anything_but_loopback_is_refused(cli, make_cli_queue):  # noqa: F811 - fixtures
    make_cli_queue()
    result = cli("dashboard", "--bind", "0.0.0.0:8787")
    assert result.code != 0 and "loopback" in result.err
    result = cli("dashboard", "--poll", "0")
    assert result.code == 2 and "--poll" in result.err
