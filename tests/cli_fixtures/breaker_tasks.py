"""A task with its own breaker, routed to the named queue "emails", whose service is down."""

from __future__ import annotations

from queue_max.tasks import task

__all__ = ["send_mail"]


@task(name="cli.send_mail", queue_name="emails", max_retries=0, circuit_breaker_threshold=2,
      circuit_breaker_timeout=3600)
def send_mail(to: str) -> None:
    raise ConnectionError(f"smtp is down, cannot send to {to}")
