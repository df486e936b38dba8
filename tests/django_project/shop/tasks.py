"""The shop's background work: queue-max tasks (@task) and Django tasks (@django_task)."""

from __future__ import annotations

from typing import Any

from queue_max.contrib.django import task

try:
    from django.tasks import task as django_task
except ImportError:
    from django_tasks import task as django_task

# what ran in this process, in order (the tests run workers in-process)
RAN: list[tuple[str, Any]] = []


@task
def send_receipt(order_id: int) -> str:
    RAN.append(("send_receipt", order_id))
    return f"receipt for order {order_id}"


@task(max_retries=0)
def broken_receipt(order_id: int) -> None:
    raise LookupError(f"order {order_id} has no customer")


@django_task
def charge(order_id: int, amount: int) -> dict[str, int]:
    RAN.append(("charge", order_id))
    return {"order": order_id, "charged": amount}


@django_task(backend="on_commit")
def charge_on_commit(order_id: int) -> int:
    RAN.append(("charge_on_commit", order_id))
    return order_id


@django_task(takes_context=True)
def with_context(context: Any, label: str) -> dict[str, Any]:
    return {"label": label, "attempt": context.attempt, "id": context.task_result.id}


@django_task
async def double(value: int) -> int:
    RAN.append(("double", value))
    return value * 2


@django_task
def declined(card: str) -> None:
    raise ValueError(f"card {card} declined")


@django_task(backend="retrying")
def flaky(key: str) -> str:
    RAN.append(("flaky", key))
    if sum(1 for name, k in RAN if name == "flaky" and k == key) < 2:
        raise ConnectionError("payment gateway unreachable")
    return "charged"


@django_task
def returns_a_set() -> Any:
    return {1, 2}


@django_task
def pairs(items: list[Any], labels: dict[str, Any]) -> list[Any]:
    return [items, labels]


def plain_job(payload: dict[str, Any]) -> str:
    """A handler for jobs that are not tasks (`queue_worker --function`)."""
    RAN.append(("plain", payload["n"]))
    return "handled"


class PaymentDeclined(Exception):
    """An error of the project's own, so its class path is not a builtin's."""


@django_task
def refuse(card: str) -> None:
    raise PaymentDeclined(f"card {card} refused by the issuer")


@django_task
async def total(amounts: list[int]) -> int:
    RAN.append(("total", sum(amounts)))
    return sum(amounts)
