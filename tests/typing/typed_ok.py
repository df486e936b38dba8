"""Correct uses of the tasks API: mypy --strict must accept every line."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from queue_max.tasks import (
    PeriodicTask,
    RetryableTask,
    Task,
    TaskCall,
    TaskHandle,
    periodic_task,
    retryable_task,
    task,
)


@task(priority=2, max_retries=3, retry_on=[TimeoutError])
def send_email(to: str, subject: str, *, urgent: bool = False) -> int:
    return len(to) + len(subject) + urgent


@task
def square(x: int) -> int:
    return x * x


@periodic_task(interval=60)
def cleanup() -> None: ...


@retryable_task(max_retries=5, retry_on=[TimeoutError])
def fetch(url: str) -> bytes:
    return url.encode()


def use() -> None:
    sent: int = send_email("a@b.com", "Hi")
    handle: TaskHandle[int] = send_email.delay("a@b.com", "Hi", urgent=True)
    result: int = handle.get(timeout=5)
    job_id: int = handle["id"] + handle.id
    later = send_email.schedule_in(300, "a@b.com", subject="Later")
    at = send_email.schedule_at(datetime.now(timezone.utc) + timedelta(minutes=5), "a@b.com", "At")
    call: TaskCall[[str, str], int] = send_email.with_options(priority=9, dedupe_key="welcome")
    call.delay("a@b.com", "Welcome")
    many: list[TaskHandle[int]] = square.map([1, 2, 3])
    bare: Task[[int], int] = square
    tick: PeriodicTask[[], None] = cleanup
    retried: RetryableTask[[str], bytes] = fetch
    body: bytes = fetch.delay("https://example.com").get()
    print(sent, result, job_id, later, at, many, bare, tick, retried, body)
