"""The dashboard as a WSGI app: Flask (`DispatcherMiddleware`), or any WSGI server."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from ._app import Dashboard
from ._http import MAX_BODY, Request

__all__ = ["wsgi_app"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_STATUS = {200: "OK", 303: "See Other", 304: "Not Modified", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
           415: "Unsupported Media Type", 500: "Internal Server Error", 503: "Service Unavailable"}


def _request(environ: dict[str, Any]) -> Request:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if "host" not in headers:
        headers["host"] = f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(min(length, MAX_BODY + 1)) if length > 0 else b""
    path = environ.get("PATH_INFO", "") or "/"
    # PEP 3333 hands the path over as latin-1 decoded bytes
    path = path.encode("latin-1").decode("utf-8", "replace")
    return Request(
        method=environ.get("REQUEST_METHOD", "GET").upper(), path=path,
        root_path=(environ.get("SCRIPT_NAME", "") or "").rstrip("/"),
        query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
        headers=headers, body=body, scheme=environ.get("wsgi.url_scheme", "http"),
        client=environ.get("REMOTE_ADDR", ""), raw=environ,
    )


def wsgi_app(dashboard: Dashboard) -> WSGIApp:
    """A WSGI application serving `dashboard` (URLs honour `SCRIPT_NAME`)."""
    if not isinstance(dashboard, Dashboard):
        raise TypeError(f"wsgi_app needs a Dashboard, got {dashboard!r}")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = _request(environ)
        response = dashboard.handle(request)
        start_response(f"{response.status} {_STATUS.get(response.status, 'Unknown')}", response.header_list())
        return [b"" if request.method == "HEAD" else response.body]

    return app
