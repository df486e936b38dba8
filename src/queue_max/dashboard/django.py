"""The dashboard in Django: `path("queue/", include(django_urls(dashboard)))`.

The view is exempt from Django's CSRF middleware because the dashboard checks its own token
and the request's origin on every mutation; authorize with the Django user in the hook:
`authorize=lambda request: Access.ADMIN if request.raw.user.is_superuser else Access.DENY`."""

from __future__ import annotations

from typing import Any

from ._app import Dashboard
from ._http import Request

__all__ = ["django_urls"]


def _request(request: Any, rest: str) -> Request:
    full = request.path
    root = full[: len(full) - len(rest)] if rest and full.endswith(rest) else full
    query: dict[str, list[str]] = {key: request.GET.getlist(key) for key in request.GET}
    client = request.META.get("REMOTE_ADDR", "")
    headers = {name.lower(): value for name, value in request.headers.items()}
    # the host as Django validated it against ALLOWED_HOSTS (raises DisallowedHost -> 400)
    headers["host"] = request.get_host()
    return Request(
        method=request.method, path="/" + rest, root_path=root.rstrip("/"), query=query,
        headers=headers,
        body=request.body, scheme=request.scheme, client=client, raw=request,
    )


def django_urls(dashboard: Dashboard) -> list[Any]:
    """URL patterns serving `dashboard` under whatever prefix they are included at."""
    if not isinstance(dashboard, Dashboard):
        raise TypeError(f"django_urls needs a Dashboard, got {dashboard!r}")
    from django.http import HttpResponse
    from django.urls import re_path
    from django.views.decorators.csrf import csrf_exempt

    def view(request: Any, rest: str = "") -> Any:
        ours = dashboard.handle(_request(request, rest))
        response = HttpResponse(ours.body, status=ours.status, content_type=ours.content_type)
        for name, value in ours.headers:
            if name.lower() == "set-cookie":
                response.cookies.load(value)  # Django writes its cookie jar, not raw headers
            else:
                response[name] = value
        return response

    return [re_path(r"^(?P<rest>.*)$", csrf_exempt(view), name="queue_max_dashboard")]
