"""Background work of the newsletter app: a queue-max task and a Django task, in one queue."""

from __future__ import annotations

from queue_max.contrib.django import task

try:
    from django.tasks import task as django_task
except ImportError:  # Django 5.2 with the django-tasks backport
    from django_tasks import task as django_task


@task(priority=2, max_retries=3)
def send_welcome(email: str) -> str:
    """A queue-max task: `.delay()` returns a handle whose `.get()` gives the result."""
    return f"welcome mail sent to {email}"


@django_task(priority=10)
def build_digest(email: str, topics: list[str]) -> dict[str, object]:
    """A Django task: `.enqueue()` returns a TaskResult, found again by its id."""
    return {"to": email, "topics": sorted(topics), "articles": 3 * len(topics)}
