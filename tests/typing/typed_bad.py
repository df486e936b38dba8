"""Wrong uses of the tasks API: mypy --strict must report exactly the lines marked `# error`."""

from __future__ import annotations

from queue_max.tasks import TaskHandle, task


@task(priority=2)
def send_email(to: str, subject: str, *, urgent: bool = False) -> int:
    return len(to) + len(subject) + urgent


def use() -> None:
    send_email.delay("a@b.com")  # error: missing argument
    send_email.delay("a@b.com", 42)  # error: wrong type
    send_email.delay("a@b.com", "Hi", colour="red")  # error: unknown keyword
    send_email.schedule_in("soon", "a@b.com", "Hi")  # error: seconds must be a float
    send_email.with_options(priority=1).delay(1, "Hi")  # error: wrong type through with_options
    send_email.with_options(prio=1)  # error: unknown option
    wrong: TaskHandle[str] = send_email.delay("a@b.com", "Hi")  # error: the result is an int
    print(wrong)
    send_email("a@b.com")  # error: direct call checked too


@task(prio=2)  # error: unknown task option
def typo() -> None: ...
