"""The framework-free dashboard: configuration, routing, rendering, change detection."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..errors import ConfigError, QueueMaxError
from ._http import HttpError, Request, Response, parse_form
from ._present import DEFAULT_REDACT, Redactor, age, stamp
from ._routes import ROUTES, Route
from ._snapshot import Snapshots
from ._security import (
    CSRF_COOKIE,
    Access,
    audit_log,
    check_csrf,
    check_same_origin,
    csrf_nonce,
    csrf_token,
    secure_headers,
)

if TYPE_CHECKING:
    from ..queue import Queue

__all__ = ["Dashboard", "Route"]

log = logging.getLogger("queue_max.dashboard")

def _check_range(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


class Dashboard:
    """The queue's web dashboard, independent of any web framework.

    Mount it with `asgi_app`, `wsgi_app` or `django_urls`, or run `queue-max dashboard`.
    `authorize(request)` returns an `Access`; without one the dashboard refuses to build
    unless `allow_anonymous=True` says that everyone who can reach it is an admin. With
    `read_only=True` no mutating route exists at all."""

    def __init__(
        self,
        queue: Queue,
        *,
        authorize: Callable[[Request], Access] | None = None,
        allow_anonymous: bool = False,
        read_only: bool = False,
        secret: bytes | str | None = None,
        poll_interval: float = 5.0,
        page_size: int = 50,
        redact_keys: Iterable[str] = DEFAULT_REDACT,
        max_value_chars: int = 20_000,
        payload_search: bool = False,
        trusted_origins: Iterable[str] = (),
        title: str = "queue-max",
        actor: Callable[[Request], str] | None = None,
    ) -> None:
        if authorize is None and allow_anonymous is not True:
            raise ConfigError(
                "a dashboard needs authorize=<callable(request) -> Access> to decide who may see "
                "and operate the queue; pass allow_anonymous=True only if everyone who can reach it "
                "may (e.g. it listens on loopback)")
        if authorize is not None and not callable(authorize):
            raise ConfigError(f"authorize must be callable(request) -> Access, got {authorize!r}")
        self.queue = queue
        self.authorize = authorize
        self.read_only = bool(read_only)
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if secret is not None and len(secret) < 16:
            raise ConfigError("secret must be at least 16 bytes (share one between the processes serving the dashboard)")
        self.secret: bytes = secret if secret is not None else secrets.token_bytes(32)
        self.poll_interval = _check_range("poll_interval", poll_interval, 1, 300)
        self.page_size = int(_check_range("page_size", page_size, 1, 500))
        if isinstance(redact_keys, str):
            raise ConfigError(f"redact_keys must be a list of key names, got the string {redact_keys!r}")
        self.redactor = Redactor(redact_keys, int(_check_range("max_value_chars", max_value_chars, 100, 10_000_000)))
        self.payload_search = bool(payload_search)
        self.trusted_origins = frozenset(trusted_origins)
        self.title = title
        self.actor = actor
        self._generation = 0
        self._generation_lock = threading.Lock()
        self._seen = threading.local()
        self._env = _environment()
        self.snapshots = Snapshots(self)
        self.routes = [r for r in ROUTES if not (self.read_only and r.mutates)]

    # ── the request cycle ──
    def handle(self, request: Request) -> Response:
        """Answer one request (never raises for a bad request: the error becomes a page)."""
        try:
            response = self._dispatch(request)
        except HttpError as exc:
            response = self._error(request, exc.status, exc.message)
        except ConfigError as exc:
            response = self._error(request, 400, str(exc))
        except QueueMaxError as exc:
            log.warning("dashboard request %s %s failed: %s", request.method, request.path, exc)
            response = self._error(request, 503, f"the queue could not answer: {exc}")
        return secure_headers(response)

    def _dispatch(self, request: Request) -> Response:
        allowed: list[str] = []
        for route in self.routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method != request.method and not (route.method == "GET" and request.method == "HEAD"):
                allowed.append(route.method)
                continue
            access = self.access_of(request)
            if route.mutates:
                if access is not Access.ADMIN:
                    raise HttpError(403, "this account may only read the dashboard")
                check_same_origin(request, self.trusted_origins)
                request.form = parse_form(request)
                check_csrf(self.secret, request, request.form)
            elif route.live:
                self.poll_of(request)  # a bad ?poll= is refused before any work
                request.etag = self.etag(request, csrf_nonce(request)[0])
                if request.headers.get("if-none-match") == request.etag:
                    return Response(status=304, headers=[("ETag", request.etag)])
            return route.handler(self, request, match.groupdict())
        if allowed:
            response = self._error(request, 405, f"{request.method} is not allowed here")
            response.headers.append(("Allow", ", ".join(sorted(set(allowed)))))
            return response
        raise HttpError(404, f"no page at {request.path}")

    def access_of(self, request: Request) -> Access:
        """The request's access, downgraded to read-only when the dashboard is; DENY stops it."""
        access = Access.ADMIN if self.authorize is None else self.authorize(request)
        if not isinstance(access, Access):
            raise HttpError(500, "the authorize hook must return an Access value")
        if access is Access.DENY:
            raise HttpError(403, "access denied")
        return Access.READ_ONLY if self.read_only else access

    def throughput(self, since: float, until: float) -> list[tuple[float, int, int]]:
        """(minute, completed, failed) rows of the persisted metrics between two instants
        (every attempt that did not complete counts as failed)."""
        per_minute: dict[int, list[int]] = {}
        for row in self.queue.event_metrics(since, "attempt"):
            if not since <= row.minute < until:
                continue
            slot = per_minute.setdefault(row.minute, [0, 0])
            slot[0 if row.label == "completed" else 1] += int(row.value)
        return [(float(minute), done, failed) for minute, (done, failed) in sorted(per_minute.items())]

    def mark_changed(self) -> None:
        """Called after every mutation: our own commits do not move the shards' data_version."""
        with self._generation_lock:
            self._generation += 1

    def generation(self) -> int:
        """A number that grows whenever storage may have changed since any earlier call.

        `change_token()` values are only comparable on one connection, and each thread has
        its own: every thread remembers the token it saw last and bumps the shared number
        when its token moved (or on its first call), so a commit is never missed."""
        token = self.queue.change_token()
        if getattr(self._seen, "token", None) != token:
            self._seen.token = token
            self.mark_changed()
        return self._generation

    def audit(self, request: Request, action: str, **detail: Any) -> None:
        """Record a mutation: an INFO line on `queue_max.dashboard.audit` and a
        `dashboard_action` event on the queue's emitter."""
        who = self.actor(request) if self.actor is not None else (request.client or "unknown")
        audit_log.info("dashboard %s by %s: %s", action, who, detail)
        self.queue.events.emit("dashboard_action", action, who, detail)

    # ── rendering ──
    def render(self, request: Request, template: str, *, status: int = 200, live: bool = True, **context: Any) -> Response:
        nonce, new = csrf_nonce(request)
        poll = self.poll_of(request) if live else self.poll_interval
        etag = request.etag if live and status == 200 else ""
        access = self._safe_access(request)
        body = self._env.get_template(template).render(
            dashboard=self, request=request, url=lambda path, **q: self.url(request, path, **q),
            can_write=access is Access.ADMIN and not self.read_only, csrf_token=csrf_token(self.secret, nonce),
            poll=poll, etag=etag, live=live, stamp=stamp, age=age, **context)
        response = Response(status=status, body=body.encode("utf-8"))
        if etag:
            response.headers.append(("ETag", etag))
        if new:
            response.headers.append(("Set-Cookie", self._csrf_cookie(request, nonce)))
        return response

    def _safe_access(self, request: Request) -> Access:
        try:
            return self.access_of(request)
        except HttpError:
            return Access.DENY

    def _csrf_cookie(self, request: Request, nonce: str) -> str:
        secure = "; Secure" if request.scheme == "https" else ""
        return f"{CSRF_COOKIE}={nonce}; Path={request.root_path or '/'}; HttpOnly; SameSite=Strict{secure}"

    def etag(self, request: Request, nonce: str) -> str:
        """Changes when any shard commits, when we mutate, and every 10 s (ages on the page)."""
        clock = int(self.queue.clock.time() // 10)
        raw = repr((self.generation(), self.snapshots.version, clock, request.path, sorted(request.query.items()),
                    self._safe_access(request).value, nonce, self.read_only))
        return '"' + hashlib.blake2b(raw.encode(), digest_size=12).hexdigest() + '"'

    def poll_of(self, request: Request) -> float:
        raw = request.arg("poll")
        if raw is None:
            return self.poll_interval
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 1 <= value <= 300:
            raise HttpError(400, f"poll must be seconds from 1 to 300, got {raw!r}")
        return value

    def url(self, request: Request, path: str, **query: Any) -> str:
        pairs = [(k, v) for k, v in query.items() if v is not None and v != ""]
        return request.root_path + path + (("?" + urlencode(pairs, doseq=True)) if pairs else "")

    def _error(self, request: Request, status: int, message: str) -> Response:
        try:
            return self.render(request, "error.html", status=status, live=False, message=message)
        except Exception:  # the error page must not fail too
            log.exception("rendering the error page failed")
            return Response(status=status, body=message.encode("utf-8"), content_type="text/plain; charset=utf-8")


def _environment() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError("the dashboard needs Jinja2: pip install 'queue-max[dashboard]'") from exc
    return jinja2.Environment(
        loader=jinja2.PackageLoader("queue_max.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
