"""The web dashboard: see and operate the queue from a browser (extra `dashboard`).

A framework-free core (`Dashboard`) with thin adapters::

    dashboard = Dashboard(queue, authorize=my_hook)       # or allow_anonymous=True
    app.mount("/queue", asgi_app(dashboard))              # FastAPI / Starlette
    DispatcherMiddleware(flask_app.wsgi_app, {"/queue": wsgi_app(dashboard)})   # Flask
    path("queue/", include(django_urls(dashboard)))       # Django

or standalone: `queue-max dashboard --bind 127.0.0.1:8787`. See docs/dashboard.md.
"""

from ._app import Dashboard
from ._http import Request, Response
from ._present import DEFAULT_REDACT
from ._security import Access
from .asgi import asgi_app
from .django import django_urls
from .wsgi import wsgi_app

__all__ = ["DEFAULT_REDACT", "Access", "Dashboard", "Request", "Response", "asgi_app", "django_urls", "wsgi_app"]
