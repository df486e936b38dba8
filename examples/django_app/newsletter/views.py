"""A view that enqueues work, as a real project would."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse

from .tasks import build_digest, send_welcome


def subscribe(request: HttpRequest) -> HttpResponse:
    data = json.loads(request.body)
    welcome = send_welcome.delay(data["email"])  # or .delay_on_commit(): after the transaction
    digest = build_digest.enqueue(data["email"], data["topics"])  # TASKS: ENQUEUE_ON_COMMIT
    return JsonResponse({"welcome": welcome.id, "digest": digest.id}, status=202)
