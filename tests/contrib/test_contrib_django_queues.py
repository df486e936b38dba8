"""Django's tasks framework and named queues: `Task.queue_name` is honoured, `QUEUES` refuses
other names as Django's own backends do, and `manage.py queue_worker --queues` consumes chosen ones."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django_project.fixtures import django_project_settings  # noqa: F401
from test_contrib_django import backend, project, queue_dir, ran  # noqa: F401 - fixtures


def test_a_django_tasks_queue_name_becomes_the_jobs_queue(project):
    from django_project.shop.tasks import charge

    result = charge.using(backend="named", queue_name="emails").enqueue(1, 50)
    assert project.get_job(int(result.id)).queue_name == "emails"
    default = charge.using(backend="named").enqueue(2, 10)
    assert project.get_job(int(default.id)).queue_name == "default"


def test_a_queue_name_outside_the_backends_queues_is_refused_and_nothing_is_stored(project):
    from django_project.shop.tasks import charge

    from queue_max.contrib.django._compat import InvalidTask

    with pytest.raises(InvalidTask, match="reports"):
        charge.using(backend="named", queue_name="reports").enqueue(1, 50)
    with pytest.raises(InvalidTask):
        charge.using(queue_name="emails").enqueue(1, 50)  # the default backend declares only "default"
    assert project.get_stats()["pending"] == 0


def test_a_declared_queue_name_queue_max_cannot_store_is_a_system_check_error(project):
    from queue_max.contrib.django.backend import QueueMaxBackend

    bad = QueueMaxBackend("bad", {"QUEUES": ["default", "two words"], "OPTIONS": {}})
    errors = [m for m in bad.check() if m.id == "queue_max.E012"]
    assert len(errors) == 1 and "'two words'" in errors[0].msg


def test_queue_worker_consumes_only_the_queues_it_is_given(project):
    from django_project.shop.tasks import charge

    charge.using(backend="named", queue_name="emails").enqueue(1, 5)
    charge.using(backend="named").enqueue(2, 5)
    err = io.StringIO()
    call_command("queue_worker", "--burst", "--queues", "emails", "--no-scheduler", stdout=io.StringIO(), stderr=err)
    per_queue: dict[str, Any] = project.queue_stats()
    assert per_queue["emails"]["completed"] == 1 and per_queue["default"]["pending"] == 1
    assert "queues emails; limits: emails: no limit; scheduler: off" in err.getvalue()
