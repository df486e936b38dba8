"""QueueMaxBackend: a backend for Django's tasks framework that stores tasks as queue-max jobs.

    TASKS = {"default": {"BACKEND": "queue_max.contrib.django.backend.QueueMaxBackend",
                         "OPTIONS": {"ENQUEUE_ON_COMMIT": True, "MAX_RETRIES": 0}}}

Jobs go to the process's queue (`settings.QUEUE_MAX`, see `conf`) and run on
`manage.py queue_worker`. Priorities (-100..100) are queue-max priorities as they are; `run_after`
becomes the job's `run_at`; a result is found by its id (the job id) from any process, for as
long as the queue keeps results (`RESULT_TTL`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ...errors import InvalidPayload, JobNotFound
from ...queue_options import check_queue_name
from ._compat import (
    BaseTaskBackend,
    InvalidTask,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
)
from ._results import envelope_fields, make_fields, to_json, to_result
from .conf import get_queue
from .runner import run_task

__all__ = ["OPTIONS", "BackendOptions", "QueueMaxBackend", "parse_options"]

# OPTIONS key -> what it takes; see docs/django.md.
OPTIONS = {
    "ENQUEUE_ON_COMMIT": ("True or False (default False): store the job when the current database "
                          "transaction commits, and not at all if it rolls back"),
    "MAX_RETRIES": ("an int from 0 to 1000, or None (default: QUEUE_MAX['MAX_RETRIES']): retries "
                    "after a task's first failure"),
}
_PENDING_COMMIT = "uncommitted-"


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """The backend's validated OPTIONS."""

    enqueue_on_commit: bool = False
    max_retries: int | None = None


def parse_options(alias: str, raw: object) -> tuple[BackendOptions, list[tuple[str, str, str | None]]]:
    """The OPTIONS of backend `alias`, and what is wrong with them as (check id, message, hint)."""
    where = f"TASKS[{alias!r}]['OPTIONS']"
    if raw is None:
        return BackendOptions(), []
    if not isinstance(raw, Mapping):
        return BackendOptions(), [("queue_max.E010", f"{where} must be a dict, got {type(raw).__name__}", None)]
    problems: list[tuple[str, str, str | None]] = []
    for key in raw:
        if key not in OPTIONS:
            problems.append(("queue_max.E010", f"{where} has an unknown key {key!r}",
                             f"Allowed keys: {', '.join(sorted(OPTIONS))}."))
    on_commit = raw.get("ENQUEUE_ON_COMMIT", False)
    if type(on_commit) is not bool:
        message = f"{where}['ENQUEUE_ON_COMMIT'] must be {OPTIONS['ENQUEUE_ON_COMMIT']}; got {on_commit!r}"
        problems.append(("queue_max.E011", message, None))
        on_commit = False
    retries = raw.get("MAX_RETRIES")
    if retries is not None and (type(retries) is not int or not 0 <= retries <= 1000):
        message = f"{where}['MAX_RETRIES'] must be {OPTIONS['MAX_RETRIES']}; got {retries!r}"
        problems.append(("queue_max.E011", message, None))
        retries = None
    return BackendOptions(on_commit, retries), problems


def _queue_name_problem(name: object) -> str | None:
    """Why queue-max cannot store a job in queue `name`, or None."""
    try:
        check_queue_name(name)
    except InvalidPayload as exc:
        return str(exc)
    return None


def _run_at(run_after: Any) -> datetime | None:
    """`Task.run_after` as an aware datetime: a timedelta counts from now, a naive datetime
    (USE_TZ = False) is in Django's current time zone."""
    from django.utils import timezone  # type: ignore[import-untyped,unused-ignore]

    if run_after is None:
        return None
    if isinstance(run_after, timedelta):
        return datetime.now(UTC) + run_after
    if timezone.is_naive(run_after):
        aware: datetime = timezone.make_aware(run_after)
        return aware
    given: datetime = run_after
    return given


class QueueMaxBackend(BaseTaskBackend):  # type: ignore[misc,unused-ignore]
    """Stores Django tasks in queue-max; `manage.py queue_worker` runs them."""

    supports_defer = True
    supports_priority = True
    supports_get_result = True
    supports_async_task = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.config, self.problems = parse_options(alias, params.get("OPTIONS"))

    def _require_valid(self) -> None:
        if self.problems:
            from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped,unused-ignore]

            raise ImproperlyConfigured("; ".join(message for _id, message, _hint in self.problems))

    # ── enqueueing ──
    def enqueue(self, task: Any, args: Iterable[Any], kwargs: Mapping[str, Any]) -> Any:
        """Store a call of `task`; its result is READY (and, with ENQUEUE_ON_COMMIT inside a
        transaction, gets its id when the transaction commits)."""
        self._require_valid()
        self.validate_task(task)  # Django refuses a queue_name outside this backend's QUEUES
        problem = _queue_name_problem(task.queue_name)
        if problem is not None:
            raise InvalidTask(problem)
        where = f"the arguments of Django task {task.module_path!r}"
        result = TaskResult(
            task=task,
            id=f"{_PENDING_COMMIT}{uuid.uuid4().hex}",
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=to_json(list(args), where),
            kwargs=to_json(dict(kwargs), where),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        if self.config.enqueue_on_commit:
            from django.db import transaction  # type: ignore[import-untyped,unused-ignore]

            transaction.on_commit(functools.partial(self._store, result))
        else:
            self._store(result)
        return result

    def _store(self, result: Any) -> None:
        task = result.task
        run_at = _run_at(task.run_after)
        options: dict[str, Any] = {"queue": get_queue(), "priority": task.priority, "queue_name": task.queue_name}
        if run_at is not None:
            options["run_at"] = run_at
        if self.config.max_retries is not None:
            options["max_retries"] = self.config.max_retries
        fields = make_fields(task, result.args, result.kwargs, self.alias, run_at)
        handle = run_task.with_options(**options).delay(**fields)
        object.__setattr__(result, "id", str(handle.id))
        object.__setattr__(result, "enqueued_at", datetime.now(UTC))
        task_enqueued.send(type(self), task_result=result)

    # ── results ──
    def get_result(self, result_id: str) -> Any:
        """The result with this id, read from the queue; `TaskResultDoesNotExist` if there is none."""
        try:
            job_id = int(result_id)
        except (TypeError, ValueError):
            detail = ""
            if isinstance(result_id, str) and result_id.startswith(_PENDING_COMMIT):
                detail = ": it was enqueued with ENQUEUE_ON_COMMIT and its transaction has not committed"
            raise TaskResultDoesNotExist(f"no task result with id {result_id!r}{detail}") from None
        try:
            job = get_queue().get_job(job_id)
        except JobNotFound:
            job = None
        fields = None if job is None else envelope_fields(job.payload)
        if job is None or fields is None:
            raise TaskResultDoesNotExist(
                f"no task result with id {result_id!r} (results are kept for QUEUE_MAX['RESULT_TTL'] "
                "seconds after the task finished)")
        return to_result(job, fields)

    # ── system checks ──
    def check(self, **kwargs: Any) -> Iterable[Any]:
        from django.apps import apps  # type: ignore[import-untyped,unused-ignore]
        from django.core import checks  # type: ignore[import-untyped,unused-ignore]

        messages: list[Any] = list(super().check(**kwargs))
        messages += [checks.Error(message, hint=hint, obj=f"TASKS[{self.alias!r}]", id=check_id)
                     for check_id, message, hint in self.problems]
        messages += [checks.Error(f"TASKS[{self.alias!r}]['QUEUES']: {problem}", obj=f"TASKS[{self.alias!r}]",
                                  id="queue_max.E012")
                     for problem in map(_queue_name_problem, sorted(self.queues)) if problem is not None]
        if not apps.is_installed("queue_max.contrib.django"):
            messages.append(checks.Warning(
                f"TASKS[{self.alias!r}] uses QueueMaxBackend, but 'queue_max.contrib.django' is not in "
                "INSTALLED_APPS, so no `manage.py queue_worker` command can run its tasks",
                hint="Add 'queue_max.contrib.django' to INSTALLED_APPS.",
                obj=f"TASKS[{self.alias!r}]", id="queue_max.W010"))
        return messages
