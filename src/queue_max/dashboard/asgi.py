"""The dashboard as an ASGI app: `app.mount("/queue", asgi_app(dashboard))` in FastAPI or Starlette."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from urllib.parse import parse_qs

from ._app import Dashboard
from ._http import MAX_BODY, Request

__all__ = ["asgi_app"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY + 1:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _request(scope: Scope, body: bytes) -> Request:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}; {value}" if name == "cookie" and name in headers else value
    root = scope.get("root_path", "") or ""
    path = scope.get("path", "/")
    if root and path.startswith(root):
        path = path[len(root):]
    client = scope.get("client")
    return Request(
        method=scope.get("method", "GET"), path=path or "/", root_path=root.rstrip("/"),
        query=parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True),
        headers=headers, body=body, scheme=scope.get("scheme", "http"),
        client=f"{client[0]}" if client else "", raw=scope,
    )


def asgi_app(dashboard: Dashboard) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI 3 application serving `dashboard`; requests run in its own small thread pool
    (SQLite blocks; long-lived threads keep their connections and change tokens)."""
    if not isinstance(dashboard, Dashboard):
        raise TypeError(f"asgi_app needs a Dashboard, got {dashboard!r}")
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="queue-max-dashboard")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].replace("lifespan.", "")
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        request = _request(scope, await _read_body(receive))
        response = await asyncio.get_running_loop().run_in_executor(pool, dashboard.handle, request)
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.header_list()]})
        await send({"type": "http.response.body", "body": b"" if request.method == "HEAD" else response.body})

    return app
