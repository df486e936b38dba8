"""Views that enqueue background work, as a project would."""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from .tasks import charge, charge_on_commit, send_receipt


def place_order(request: HttpRequest) -> HttpResponse:
    order = json.loads(request.body)
    result = charge.enqueue(order["id"], order["amount"])
    receipt = send_receipt.delay(order["id"])
    return JsonResponse({"charge": result.id, "receipt": receipt.id}, status=202)


def place_order_atomic(request: HttpRequest) -> HttpResponse:
    order = json.loads(request.body)
    with transaction.atomic():
        result = charge_on_commit.enqueue(order["id"])
        receipt = send_receipt.delay_on_commit(order["id"])
        in_transaction = {"charge": result.id, "receipt": receipt}
        if order.get("fail"):
            raise RuntimeError("the order could not be saved")
    return JsonResponse({"in_transaction": in_transaction, "charge": result.id}, status=202)


def result_status(request: HttpRequest, result_id: str) -> HttpResponse:
    result = charge.get_result(result_id)
    body = {"status": str(result.status), "attempts": result.attempts}
    if result.is_finished and str(result.status) == "SUCCESSFUL":
        body["value"] = result.return_value
    return JsonResponse(body)
