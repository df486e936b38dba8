"""The URL table of the dashboard."""

from __future__ import annotations

import re

from . import _actions, _views
from ._app import Route

__all__ = ["ROUTES"]


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
