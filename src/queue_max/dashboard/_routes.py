"""The URL table of the dashboard: which handler answers which method and path."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _actions, _views
from ._http import Request, Response

if TYPE_CHECKING:
    from ._app import Dashboard

__all__ = ["ROUTES", "Route"]

Handler = Callable[["Dashboard", Request, "dict[str, str]"], Response]


@dataclass(frozen=True)
class Route:
    """One URL pattern; `mutates` routes exist only when the dashboard is not read-only."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    mutates: bool = False
    live: bool = True  # a page that live updates re-fetch (ETag / 304)


def _r(method: str, pattern: str, handler: object, mutates: bool = False, live: bool = True) -> Route:
    return Route(method, re.compile(pattern), handler, mutates, live and not mutates)  # type: ignore[arg-type]


ROUTES = [
    _r("GET", r"/", _views.overview),
    _r("GET", r"/queues", _views.queues),
    _r("POST", r"/queues/(?P<name>[A-Za-z0-9_.:-]{1,100})/(?P<op>pause|resume)", _actions.pause_or_resume,
       mutates=True),
    _r("GET", r"/jobs", _views.jobs),
    _r("GET", r"/jobs/(?P<job_id>[0-9]{1,19})", _views.job_detail),
    _r("POST", r"/jobs/(?P<job_id>[0-9]{1,19})/cancel", _actions.cancel_job, mutates=True),
    _r("POST", r"/jobs/(?P<job_id>[0-9]{1,19})/requeue", _actions.requeue_job, mutates=True),
    _r("GET", r"/dead-letters", _views.dead_letters),
    _r("POST", r"/dead-letters/confirm", _actions.dlq_confirm, mutates=True),
    _r("POST", r"/dead-letters/apply", _actions.dlq_apply, mutates=True),
    _r("GET", r"/workers", _views.workers),
    _r("GET", r"/schedules", _views.schedules),
    _r("GET", r"/metrics", _views.metrics, live=False),
    _r("GET", r"/static/(?P<name>[a-z]+\.(?:js|css|svg))", _views.static, live=False),
]
