"""The dashboard's own request and response values, so the core never sees a framework."""

from __future__ import annotations

from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

__all__ = ["MAX_BODY", "HttpError", "Request", "Response", "parse_cookies", "parse_form"]

# The largest form body a mutation may send (a bulk selection of a few thousand ids fits).
MAX_BODY = 1_000_000


class HttpError(Exception):
    """Stops a request with `status` and a plain message shown to the user (escaped)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    """One HTTP request as the core sees it.

    `path` is relative to the mount point and `root_path` is the mount prefix ("" at the
    root), so every URL the dashboard writes is `root_path + path`. `raw` is the framework's
    own request (ASGI scope, WSGI environ or Django `HttpRequest`) for `authorize` hooks."""

    method: str
    path: str
    root_path: str = ""
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    scheme: str = "http"
    client: str = ""
    raw: Any = None
    form: dict[str, list[str]] = field(default_factory=dict)  # set for checked mutations
    etag: str = ""  # set for live pages before their handler runs
    nonce: tuple[str, bool] | None = None  # (CSRF nonce, whether it is new), once per request

    def field(self, name: str) -> str | None:
        """The first value of form field `name`, or None (empty counts as absent)."""
        values = self.form.get(name)
        return values[0] if values and values[0] != "" else None

    def arg(self, name: str) -> str | None:
        """The first value of query parameter `name`, or None (empty counts as absent)."""
        values = self.query.get(name)
        return values[0] if values and values[0] != "" else None

    @property
    def cookies(self) -> dict[str, str]:
        return parse_cookies(self.headers.get("cookie", ""))

    @property
    def host(self) -> str:
        return self.headers.get("host", "")


@dataclass
class Response:
    """Status, headers (a list: Set-Cookie may repeat) and a body of bytes."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "text/html; charset=utf-8"

    def header_list(self) -> list[tuple[str, str]]:
        return [("Content-Type", self.content_type), ("Content-Length", str(len(self.body))), *self.headers]


def parse_cookies(header: str) -> dict[str, str]:
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in cookie.items()}


def parse_form(request: Request) -> dict[str, list[str]]:
    """The urlencoded body of a POST; any other encoding is refused."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not request.body:
        return {}
    if kind != "application/x-www-form-urlencoded":
        raise HttpError(415, f"forms must be application/x-www-form-urlencoded, got {kind or 'nothing'!r}")
    if len(request.body) > MAX_BODY:
        raise HttpError(413, f"the form is larger than {MAX_BODY} bytes")
    try:
        return parse_qs(request.body.decode("utf-8"), keep_blank_values=True, max_num_fields=20_000)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, f"unreadable form: {exc}") from None
