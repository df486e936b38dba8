"""QueueMaxBackend through Django's public tasks API, on whichever line is installed.

Python 3.12+ gets Django 6 and its own `django.tasks`; Python 3.11 gets Django 5.2 and the
`django-tasks` backport (see pyproject's `django` extra). CI runs this file on both lines. Only
the public names of the line in use are imported: on Django 6 nothing imports the backport.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import django
import pytest
from django.core import checks
from django.core.management import call_command
from django.db import transaction
from django_project.fixtures import django_project_settings  # noqa: F401
from django.test import override_settings

DJANGO_6 = django.VERSION >= (6, 0)
if DJANGO_6:
    from django.tasks import TaskResultStatus, default_task_backend, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
else:
    from django_tasks import TaskResultStatus, default_task_backend, task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """The project's queue in tmp_path (where a subprocess with TMPDIR=tmp_path finds it too)."""
    from django_project.shop.tasks import RAN

    path = tmp_path / "queue-max-django-tests"
    RAN.clear()
    with override_settings(QUEUE_MAX={"DATA_DIR": path, "SHARDS": 1, "RATE_LIMIT": 0}):
        yield path
    RAN.clear()


def burst_worker(*options: str) -> None:
    """`manage.py queue_worker --burst [options]`, in this process."""
    call_command("queue_worker", "--burst", "--poll-interval", "0.05", *options,
                 stdout=io.StringIO(), stderr=io.StringIO())


def ran() -> list[tuple[str, Any]]:
    from django_project.shop.tasks import RAN

    return list(RAN)


# ── the line in use ──
def test_the_backend_is_a_backend_of_the_tasks_framework_in_use():
    # Given the installed Django
    backend = task_backends["default"]
    # Then the backend is built on that line's base class, and Django 6 needs no backport at all
    assert isinstance(backend, BaseTaskBackend)
    assert default_task_backend.alias == "default"
    if DJANGO_6:
        assert importlib.util.find_spec("django_tasks") is None
        assert "django_tasks" not in sys.modules
    else:
        assert django.VERSION[:2] == (5, 2)


def test_the_backend_declares_every_capability_it_has():
    # Given Django's four optional capabilities (each is proven by a test below)
    backend = task_backends["default"]
    # Then the backend declares them all
    assert backend.supports_defer  # run_after: test_run_after_...
    assert backend.supports_async_task  # test_aenqueue_...
    assert backend.supports_get_result  # from another process: test_a_worker_process_...
    assert backend.supports_priority  # test_priorities_...


# ── enqueue, aenqueue, get_result, aget_result ──
def test_enqueue_and_get_result_through_the_backend(data_dir):
    from django_project.shop.tasks import charge

    # Given a result enqueued through the backend itself
    backend = task_backends["default"]
    result = backend.enqueue(charge, (7,), {"amount": 70})
    assert result.status == TaskResultStatus.READY and result.backend == "default"
    # When a worker runs it
    burst_worker()
    # Then the backend gives the finished result by its id
    found = backend.get_result(result.id)
    assert found.status == TaskResultStatus.SUCCESSFUL
    assert found.return_value == {"order": 7, "charged": 70}
    assert found.args == [7] and found.kwargs == {"amount": 70}
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("424242")


def test_aenqueue_and_aget_result_of_an_async_task(data_dir):
    from django_project.shop.tasks import total

    backend = task_backends["default"]

    async def enqueue() -> Any:
        return await backend.aenqueue(total, ([1, 2, 3],), {})

    # Given an async task enqueued from a coroutine
    result = asyncio.run(enqueue())
    # When a worker runs it
    burst_worker()

    async def lookup() -> Any:
        return await backend.aget_result(result.id)

    # Then its result is read back from a coroutine too
    found = asyncio.run(lookup())
    assert found.status == TaskResultStatus.SUCCESSFUL and found.return_value == 6
    assert ran() == [("total", 6)]


def test_a_worker_process_runs_the_task_and_this_process_reads_its_result(data_dir, tmp_path):
    from django_project.shop.tasks import charge

    # Given a task enqueued in this process
    result = charge.enqueue(3, 30)
    # When `manage.py queue_worker --burst` runs in another process
    env = {**os.environ, "TMPDIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "django_project.settings",
           "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT / "src")])}
    done = subprocess.run([sys.executable, "-m", "django", "queue_worker", "--burst"], env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    # Then the result here says what happened there
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == {"order": 3, "charged": 30}
    assert len(result.worker_ids) == 1 and result.finished_at is not None


# ── run_after, priorities, queue_name ──
def test_run_after_in_the_future_waits_and_in_the_past_runs(data_dir):
    from django_project.shop.tasks import charge

    # Given one task due in an hour and one that was due a minute ago
    later = charge.using(run_after=datetime.now(UTC) + timedelta(hours=1)).enqueue(1, 10)
    due = charge.using(run_after=datetime.now(UTC) - timedelta(minutes=1)).enqueue(2, 20)
    # When a worker drains the queue
    burst_worker()
    # Then only the due one ran, and the other keeps its run_after
    assert ran() == [("charge", 2)]
    waiting = task_backends["default"].get_result(later.id)
    assert waiting.status == TaskResultStatus.READY and waiting.task.run_after == later.task.run_after
    assert task_backends["default"].get_result(due.id).status == TaskResultStatus.SUCCESSFUL


def test_priorities_run_the_highest_first_and_stay_on_the_result(data_dir):
    from django_project.shop.tasks import charge

    # Given tasks enqueued from lowest to highest priority
    results = [charge.using(priority=p).enqueue(p, 1) for p in (-100, -1, 0, 10, 100)]
    # When one worker drains the queue
    burst_worker()
    # Then it ran them highest first, and each result still says its priority
    assert [order for _name, order in ran()] == [100, 10, 0, -1, -100]
    assert [task_backends["default"].get_result(r.id).task.priority for r in results] == [-100, -1, 0, 10, 100]


def test_a_queue_name_routes_the_task_to_the_workers_of_that_queue_and_others_are_refused(data_dir):
    from django_project.shop.tasks import charge

    # Given a backend whose QUEUES are "default" and "emails", and a task enqueued on each
    on_named = charge.using(backend="named")
    email = on_named.using(queue_name="emails").enqueue(5, 50)
    on_named.enqueue(6, 60)
    # When a worker consumes only "default"
    burst_worker("--queues", "default")
    # Then the "emails" task waits for a worker of its own queue, which then runs it
    assert ran() == [("charge", 6)]
    assert task_backends["named"].get_result(email.id).status == TaskResultStatus.READY
    burst_worker("--queues", "emails")
    assert ran() == [("charge", 6), ("charge", 5)]
    found = task_backends["named"].get_result(email.id)
    assert found.status == TaskResultStatus.SUCCESSFUL and found.task.queue_name == "emails"
    # And a queue the backend does not list is refused, by name, before anything is stored
    with pytest.raises(InvalidTask, match="sms"):
        on_named.using(queue_name="sms").enqueue(7, 70)


# ── transaction.on_commit ──
def test_an_enqueue_deferred_with_on_commit_is_stored_only_if_the_transaction_commits(data_dir):
    from django_project.shop.tasks import charge

    from queue_max.contrib.django import get_queue

    # Given enqueues deferred with transaction.on_commit, as Django's docs recommend
    with transaction.atomic():
        transaction.on_commit(functools.partial(charge.enqueue, 1, 10))
        # Then nothing is stored while the transaction is open
        assert get_queue().get_stats()["pending"] == 0
    # And the job is stored once it commits, and never if it rolls back
    assert get_queue().get_stats()["pending"] == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        transaction.on_commit(functools.partial(charge.enqueue, 2, 20))
        raise RuntimeError("the view failed")
    burst_worker()
    assert ran() == [("charge", 1)]


# ── errors ──
def test_a_failed_result_names_the_exception_class_and_keeps_the_traceback(data_dir):
    from django_project.shop.tasks import PaymentDeclined, refuse

    # Given a task that raises an exception class of the project's own
    result = refuse.enqueue("4000-0002")
    # When a worker runs it
    burst_worker()
    result.refresh()
    # Then the result is FAILED with that class's path, the class itself, and the traceback
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == "django_project.shop.tasks.PaymentDeclined"
    assert error.exception_class is PaymentDeclined
    assert error.traceback.startswith("Traceback") and "card 4000-0002 refused by the issuer" in error.traceback
    with pytest.raises(ValueError):
        result.return_value  # noqa: B018 - Django raises for the value of a failed task


# ── system checks and management commands ──
def test_manage_py_check_passes_and_fails_on_bad_backend_options(data_dir):
    from django.conf import settings
    from django.core.management.base import SystemCheckError

    # Given the project's settings, `manage.py check` passes
    call_command("check", stdout=io.StringIO())
    # When one more QueueMaxBackend has a misspelt option
    bad = {"BACKEND": "queue_max.contrib.django.backend.QueueMaxBackend", "OPTIONS": {"ENQUEUE_ON_COMIT": True}}
    with override_settings(TASKS={**settings.TASKS, "bad": bad}):
        # Then the framework's own checks of its backends report it, naming the key and the allowed ones
        messages = [m for m in checks.run_checks() if m.id == "queue_max.E010"]
        with pytest.raises(SystemCheckError, match="queue_max.E010"):
            call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
    assert len(messages) == 1 and messages[0].obj == "TASKS['bad']"
    assert "'ENQUEUE_ON_COMIT'" in messages[0].msg and "ENQUEUE_ON_COMMIT" in messages[0].hint


def test_queue_worker_and_queue_stats_run_django_tasks_from_manage_py(data_dir):
    from django_project.shop.tasks import charge

    # Given two Django tasks enqueued
    charge.enqueue(1, 10)
    charge.enqueue(2, 20)
    stats = io.StringIO()
    call_command("queue_stats", "--json", stdout=stats)
    assert json.loads(stats.getvalue())["pending"] == 2
    # When `manage.py queue_worker --burst` runs
    out = io.StringIO()
    call_command("queue_worker", "--burst", "--poll-interval", "0.05", stdout=out, stderr=io.StringIO())
    # Then it ran both, and queue_stats says so
    assert "processed 2, failed 0" in out.getvalue() and ran() == [("charge", 1), ("charge", 2)]
    stats = io.StringIO()
    call_command("queue_stats", "--json", stdout=stats)
    assert json.loads(stats.getvalue())["completed"] == 2
