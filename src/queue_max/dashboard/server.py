"""`queue-max dashboard`: the dashboard on a loopback port, entered through a one-time token URL."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..errors import ConfigError
from ._app import Dashboard
from ._http import Request
from ._security import Access
from .wsgi import wsgi_app

__all__ = ["SESSION_COOKIE", "TokenGate", "parse_bind", "serve"]

log = logging.getLogger("queue_max.dashboard")

SESSION_COOKIE = "qmx_session"


def parse_bind(text: str) -> tuple[str, int]:
    """`HOST:PORT` for a loopback address; anything else is refused (use a mounted dashboard
    behind your own authentication to serve other hosts)."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"--bind must be HOST:PORT like 127.0.0.1:8787, got {text!r}")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"the standalone dashboard binds to loopback only (127.0.0.1, ::1 or localhost), got {host!r}; "
            "to serve other hosts, mount it in your web app with an authorize hook")
    return host, int(port_text)


class TokenGate:
    """One-time login token -> a session cookie; `authorize` admits only holders of a session."""

    def __init__(self, access: Access = Access.ADMIN) -> None:
        self.token = secrets.token_urlsafe(32)
        self._used = False
        self._sessions: set[str] = set()
        self._lock = threading.Lock()
        self.access = access

    def redeem(self, offered: str) -> str | None:
        """A new session id if `offered` is the unused token (it is then spent), else None."""
        with self._lock:
            if self._used or not hmac.compare_digest(offered.encode(), self.token.encode()):
                return None
            self._used = True
            session = secrets.token_urlsafe(32)
            self._sessions.add(session)
            return session

    def authorize(self, request: Request) -> Access:
        session = request.cookies.get(SESSION_COOKIE, "")
        with self._lock:
            known = any(hmac.compare_digest(session.encode(), s.encode()) for s in self._sessions)
        return self.access if session and known else Access.DENY

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """WSGI middleware: `GET /?token=...` sets the session cookie and drops the token from the URL."""

        def gate(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            query = parse_qs(environ.get("QUERY_STRING", ""))
            offered = (query.pop("token", None) or [None])[0]
            if offered is None:
                return app(environ, start_response)
            session = self.redeem(offered)
            if session is None:
                start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8"),
                                                   ("Cache-Control", "no-store")])
                return [b"this login link was already used or is wrong; restart `queue-max dashboard` for a new one\n"]
            rest = urlencode(query, doseq=True)
            location = (environ.get("PATH_INFO") or "/") + (f"?{rest}" if rest else "")
            start_response("303 See Other", [
                ("Location", location), ("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
                ("Set-Cookie", f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict")])
            return [b""]

        return gate


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("dashboard %s", format % args)


def serve(dashboard_factory: Callable[[TokenGate], Dashboard], bind: str, *,
          read_only: bool = False, ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted; `ready(url)` receives the one-time login URL once listening."""
    host, port = parse_bind(bind)
    gate = TokenGate(Access.READ_ONLY if read_only else Access.ADMIN)
    app = gate.wrap(wsgi_app(dashboard_factory(gate)))
    with make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler) as server:
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{server.server_port}/?token={gate.token}"
        if ready is not None:
            ready(url)
        server.serve_forever(poll_interval=0.5)
