"""queue_max.contrib.django in a real Django project (tests/django_project): the app, settings
and system checks, the `task` decorator, the QueueMaxBackend of Django's tasks framework, and
the management commands."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import django
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_project.fixtures import django_project_settings  # noqa: F401
from django.test import Client, TestCase, override_settings


@pytest.fixture
def queue_dir(tmp_path: Path) -> Path:
    return tmp_path / "queue"


@pytest.fixture
def project(queue_dir: Path) -> Any:
    """The project with its queue in tmp_path; yields the project's queue."""
    from django_project.shop.tasks import RAN

    from queue_max.contrib.django import get_queue

    RAN.clear()
    with override_settings(QUEUE_MAX={"DATA_DIR": queue_dir, "SHARDS": 1, "RATE_LIMIT": 0}):
        yield get_queue()
    RAN.clear()


def drain(**options: Any) -> Any:
    """Run a burst worker on the project's queue until nothing is ready; its stats."""
    from queue_max.contrib.django.worker import DjangoWorker

    worker = DjangoWorker("test-worker", burst=True, poll_interval=0.05, **options)
    assert worker.run(handle_signals=False)
    return worker.get_stats()


def ran() -> list[tuple[str, Any]]:
    from django_project.shop.tasks import RAN

    return list(RAN)


def backend(alias: str = "default") -> Any:
    from queue_max.contrib.django._compat import task_backends

    return task_backends[alias]


def check_messages(**queue_max: Any) -> list[Any]:
    from django.core import checks

    with override_settings(QUEUE_MAX=queue_max):
        return [m for m in checks.run_checks() if m.id and m.id.startswith("queue_max.")]


# ── the app and its settings ──
def test_the_app_is_installed_under_the_label_queue_max():
    from django.apps import apps

    config = apps.get_app_config("queue_max")
    assert config.name == "queue_max.contrib.django"
    assert type(config).__name__ == "QueueMaxConfig"


def test_queue_max_settings_become_the_queues_arguments(queue_dir):
    from queue_max.contrib.django import get_queue

    # Given QUEUE_MAX with several keys
    settings = {"DATA_DIR": str(queue_dir), "SHARDS": 2, "RATE_LIMIT": 90, "MAX_RETRIES": 0,
                "RESULT_TTL": 60, "LEASE_TIMEOUT": 20.0}
    with override_settings(QUEUE_MAX=settings):
        # When the project's queue is built
        queue = get_queue()
        # Then it has them, and it is built once
        assert get_queue() is queue
        assert (queue.num_shards, queue.rate_limit, queue.max_retries) == (2, 90, 0)
        assert (queue.options.result_ttl, queue.options.lease_timeout) == (60, 20.0)
        assert Path(queue.backend.data_dir) == queue_dir
    # and changing the setting closes it (the next use builds a new one)
    assert queue._closed


def test_the_queue_is_not_built_before_first_use(queue_dir):
    from django.core import checks

    with override_settings(QUEUE_MAX={"DATA_DIR": queue_dir}):
        assert not [m for m in checks.run_checks() if m.id and m.id.startswith("queue_max.")]
    assert not queue_dir.exists()


def test_an_unknown_key_is_a_system_check_error_naming_the_closest_key(queue_dir):
    messages = check_messages(DATA_DIR=queue_dir, SHARD=4)
    assert [m.id for m in messages] == ["queue_max.E002"]
    assert "'SHARD'" in messages[0].msg and "Did you mean 'SHARDS'?" in messages[0].hint
    assert "RATE_LIMIT" in messages[0].hint  # the allowed keys are listed


def test_a_value_of_the_wrong_type_is_a_system_check_error_saying_what_is_allowed(queue_dir):
    messages = check_messages(DATA_DIR=queue_dir, SHARDS="four", DURABLE="yes")
    assert [m.id for m in messages] == ["queue_max.E003", "queue_max.E003"]
    assert "QUEUE_MAX['SHARDS']" in messages[0].msg and "int from 1 to 1024" in messages[0].msg
    assert "QUEUE_MAX['DURABLE']" in messages[1].msg and "True or False" in messages[1].msg


def test_values_that_do_not_fit_together_are_reported(queue_dir):
    messages = check_messages(DATA_DIR=queue_dir, HEARTBEAT_INTERVAL=30, LEASE_TIMEOUT=10)
    assert [m.id for m in messages] == ["queue_max.E003"]
    assert "HEARTBEAT_INTERVAL" in messages[0].msg and "LEASE_TIMEOUT" in messages[0].msg


def test_queue_max_must_be_a_dict():
    from django.core import checks

    with override_settings(QUEUE_MAX=[("SHARDS", 2)]):
        messages = [m for m in checks.run_checks() if m.id and m.id.startswith("queue_max.")]
    assert [m.id for m in messages] == ["queue_max.E001"]


def test_a_data_dir_that_cannot_be_created_is_a_system_check_error(tmp_path):
    # Given DATA_DIR below a regular file
    (tmp_path / "a-file").write_text("x")
    messages = check_messages(DATA_DIR=tmp_path / "a-file" / "queue")
    assert [m.id for m in messages] == ["queue_max.E004"]
    assert "cannot be created" in messages[0].msg and "is a file" in messages[0].msg
    # and DATA_DIR that is itself a file
    messages = check_messages(DATA_DIR=tmp_path / "a-file")
    assert [m.id for m in messages] == ["queue_max.E004"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any permission bits")
def test_a_data_dir_without_write_permission_is_a_system_check_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    messages = check_messages(DATA_DIR=locked / "queue")
    assert [m.id for m in messages] == ["queue_max.E004"]
    assert "not writable" in messages[0].msg


def test_manage_py_check_fails_on_bad_settings(queue_dir):
    from django.core.management.base import SystemCheckError

    with override_settings(QUEUE_MAX={"DATA_DIR": queue_dir, "RATE_LIMT": 10}), \
            pytest.raises(SystemCheckError, match="RATE_LIMT"):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())


def test_using_the_queue_with_bad_settings_raises_improperly_configured(queue_dir):
    from django.core.exceptions import ImproperlyConfigured

    from queue_max.contrib.django import get_queue

    with override_settings(QUEUE_MAX={"DATA_DIR": queue_dir, "MAX_RETRIES": -1}), \
            pytest.raises(ImproperlyConfigured, match=r"QUEUE_MAX\['MAX_RETRIES'\].*0 to 1000"):
        get_queue()
    assert not queue_dir.exists()


# ── the task decorator ──
def test_a_view_enqueues_and_the_worker_runs_the_task_and_the_django_task(project):
    # Given a view that enqueues a Django task and a queue-max task
    client = Client()
    response = client.post("/orders/", {"id": 7, "amount": 30}, content_type="application/json")
    assert response.status_code == 202
    ids = response.json()
    # When a worker drains the queue
    stats = drain()
    # Then both ran, and the Django task's result can be read by its id through another view
    assert stats["processed"] == 2 and sorted(ran()) == [("charge", 7), ("send_receipt", 7)]
    status = client.get(f"/results/{ids['charge']}/").json()
    assert status == {"status": "SUCCESSFUL", "attempts": 1, "value": {"order": 7, "charged": 30}}
    assert project.get_job(ids["receipt"]).result == "receipt for order 7"


def test_the_task_decorator_enqueues_to_the_projects_queue(project):
    from django_project.shop.tasks import send_receipt

    from queue_max.contrib.django import DjangoTask

    assert isinstance(send_receipt, DjangoTask) and send_receipt.queue is project
    handle = send_receipt.delay(3)
    assert project.get_job(handle.id).payload["__task__"].endswith(":send_receipt")
    drain()
    assert handle.get(timeout=1) == "receipt for order 3"


def test_a_failing_task_is_dead_lettered_with_its_error(project):
    from django_project.shop.tasks import broken_receipt

    from queue_max.tasks import TaskFailed

    handle = broken_receipt.delay(5)
    assert drain()["failed"] == 1
    with pytest.raises(TaskFailed, match="order 5 has no customer"):
        handle.get(timeout=1)


def test_delay_on_commit_enqueues_when_the_transaction_commits_and_never_on_rollback(project):
    from django.db import transaction
    from django_project.shop.tasks import send_receipt

    # Given a transaction that enqueues on commit
    with transaction.atomic():
        assert send_receipt.with_options(priority=2).delay_on_commit(1) is None
        # Then nothing is stored before the commit
        assert project.get_stats()["pending"] == 0
    # and the job is stored once it commits
    assert project.get_stats()["pending"] == 1
    # When a transaction rolls back
    with pytest.raises(RuntimeError), transaction.atomic():
        send_receipt.delay_on_commit(2)
        raise RuntimeError("rolled back")
    # Then its job never existed
    assert project.get_stats()["pending"] == 1
    drain()
    assert ran() == [("send_receipt", 1)]


def test_delay_on_commit_checks_the_arguments_at_once(project):
    from django_project.shop.tasks import send_receipt

    from queue_max.tasks import InvalidTaskArguments

    with pytest.raises(InvalidTaskArguments, match="delay_on_commit"):
        send_receipt.delay_on_commit(1, 2)


# ── the Django tasks backend ──
def test_the_backend_supports_every_optional_feature(project):
    b = backend()
    assert (b.supports_defer, b.supports_priority, b.supports_get_result, b.supports_async_task) == \
        (True, True, True, True)


def test_priority_orders_the_jobs_highest_first(project):
    from django_project.shop.tasks import charge

    # Given jobs enqueued from lowest to highest priority
    results = [charge.using(priority=p).enqueue(p, 1) for p in (-100, 0, 55, 100)]
    # Then the job keeps Django's priority as queue-max's, and the worker runs the highest first
    assert [project.get_job(int(r.id)).priority_int for r in results] == [-100, 0, 55, 100]
    drain()
    assert ran() == [("charge", 100), ("charge", 55), ("charge", 0), ("charge", -100)]
    assert backend().get_result(results[0].id).task.priority == -100


def test_run_after_defers_the_job_until_then(project):
    from django_project.shop.tasks import charge

    # Given a task deferred by an hour
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    result = charge.using(run_after=when).enqueue(1, 10)
    # Then its job does not run before then
    assert project.get_job(int(result.id)).run_at == when
    drain()
    assert ran() == []
    stored = backend().get_result(result.id)
    assert str(stored.status) == "READY" and stored.task.run_after == when


def test_results_are_found_by_id_from_any_backend_instance(project):
    from django_project.shop.tasks import charge

    from queue_max.contrib.django._compat import TaskResultDoesNotExist
    from queue_max.contrib.django.backend import QueueMaxBackend

    result = charge.enqueue(9, 99)
    assert str(result.status) == "READY" and result.id.isdigit() and result.enqueued_at is not None
    drain()
    # a backend built anew (as in another process) reads the stored result
    fresh = QueueMaxBackend("default", {"OPTIONS": {}})
    found = fresh.get_result(result.id)
    assert str(found.status) == "SUCCESSFUL" and found.return_value == {"order": 9, "charged": 99}
    assert found.args == [9, 99] and found.task.func is charge.func
    assert found.finished_at >= found.started_at >= found.enqueued_at
    # and refresh() updates the caller's result in place
    result.refresh()
    assert result.is_finished and result.return_value == {"order": 9, "charged": 99}
    for missing in ("123456789", "not-an-id", str(project.enqueue({"not": "a task"})["id"])):
        with pytest.raises(TaskResultDoesNotExist):
            fresh.get_result(missing)


def test_a_failed_task_records_its_error_and_traceback(project):
    from django_project.shop.tasks import declined

    result = declined.enqueue("4000-0002")
    drain()
    result.refresh()
    assert str(result.status) == "FAILED" and result.attempts == 1
    error = result.errors[0]
    assert error.exception_class is ValueError and error.exception_class_path == "builtins.ValueError"
    assert "card 4000-0002 declined" in error.traceback and "Traceback" in error.traceback
    with pytest.raises(ValueError, match="failed"):
        result.return_value  # noqa: B018 - Django raises for a failed task's value


def test_an_async_task_runs_on_the_worker(project):
    from django_project.shop.tasks import double

    result = double.enqueue(21)
    drain()
    result.refresh()
    assert result.return_value == 42


def test_a_task_that_takes_context_gets_its_result_and_attempt(project):
    from django_project.shop.tasks import with_context

    result = with_context.enqueue("ctx")
    drain()
    result.refresh()
    assert result.return_value == {"label": "ctx", "attempt": 1, "id": result.id}


def test_arguments_make_the_json_round_trip_and_other_values_are_refused(project):
    from django_project.shop.tasks import pairs

    result = pairs.enqueue((1, 2), {"a": (3,), 4: "four"})
    assert result.args == [[1, 2], {"a": [3], "4": "four"}]
    drain()
    result.refresh()
    assert result.return_value == [[1, 2], {"a": [3], "4": "four"}]
    with pytest.raises(TypeError, match="JSON-serializable"):
        pairs.enqueue([datetime.now(UTC)], {})
    assert project.get_stats()["pending"] == 0


def test_a_result_without_json_form_fails_without_retries(project):
    from django_project.shop.tasks import returns_a_set

    result = returns_a_set.using(backend="retrying").enqueue()
    drain()
    result.refresh()
    assert str(result.status) == "FAILED" and result.attempts == 1
    assert result.errors[0].exception_class_path.endswith("NotJSONResult")


def test_signals_are_sent_as_the_task_is_enqueued_started_and_finished(project):
    from django_project.shop.tasks import charge

    from queue_max.contrib.django._compat import (
        task_enqueued,
        task_finished,
        task_started,
    )
    from queue_max.contrib.django.backend import QueueMaxBackend

    seen: list[tuple[str, Any, str, str]] = []

    def receiver(name: str) -> Any:
        def receive(sender: Any, task_result: Any, **kwargs: Any) -> None:
            # what a receiver reads from the store agrees with what it was sent
            stored = backend().get_result(task_result.id)
            seen.append((name, sender, str(task_result.status), str(stored.status)))
        return receive

    receivers = {task_enqueued: receiver("enqueued"), task_started: receiver("started"),
                 task_finished: receiver("finished")}
    for signal, receive in receivers.items():
        signal.connect(receive)
    try:
        charge.enqueue(1, 2)
        drain()
    finally:
        for signal, receive in receivers.items():
            signal.disconnect(receive)
    assert seen == [("enqueued", QueueMaxBackend, "READY", "READY"),
                    ("started", QueueMaxBackend, "RUNNING", "RUNNING"),
                    ("finished", QueueMaxBackend, "SUCCESSFUL", "SUCCESSFUL")]


def test_a_retried_task_is_ready_again_and_finishes_once(project, queue_dir):
    from django_project.shop.tasks import flaky

    from queue_max.contrib.django._compat import task_finished

    finished: list[Any] = []

    def on_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
        finished.append(task_result)

    # Given a backend that retries twice, without backoff
    with override_settings(QUEUE_MAX={"DATA_DIR": queue_dir, "SHARDS": 1, "RATE_LIMIT": 0, "RETRY_BACKOFF": 0}):
        task_finished.connect(on_finished)
        try:
            result = flaky.enqueue("order-1")
            # When the first attempt fails and the second succeeds
            stats = drain()
        finally:
            task_finished.disconnect(on_finished)
        # Then the task finished once, successfully, after two attempts with one error recorded
        assert (stats["retried"], stats["processed"]) == (1, 1)
        assert len(finished) == 1 and str(finished[0].status) == "SUCCESSFUL"
        result.refresh()
        assert result.attempts == 2 and result.return_value == "charged"
        assert [e.exception_class for e in result.errors] == [ConnectionError]


def test_enqueue_on_commit_stores_the_job_when_the_transaction_commits(project):
    from django.db import transaction
    from django_project.shop.tasks import charge_on_commit

    from queue_max.contrib.django._compat import TaskResultDoesNotExist

    # Given a backend with ENQUEUE_ON_COMMIT, in a transaction
    with transaction.atomic():
        result = charge_on_commit.enqueue(11)
        # Then the job waits for the commit: its id is provisional and no result exists yet
        assert result.id.startswith("uncommitted-") and result.enqueued_at is None
        assert project.get_stats()["pending"] == 0
        with pytest.raises(TaskResultDoesNotExist, match="has not committed"):
            backend("on_commit").get_result(result.id)
    # When it commits, the job is stored and the result gets its id
    assert result.id.isdigit() and result.enqueued_at is not None
    drain()
    result.refresh()
    assert result.return_value == 11


def test_enqueue_on_commit_drops_the_job_when_the_view_rolls_back(project):
    # Given a view that enqueues in a transaction, then fails
    client = Client(raise_request_exception=False)
    response = client.post("/orders/atomic/", {"id": 3, "fail": True}, content_type="application/json")
    assert response.status_code == 500
    # Then neither job was stored
    assert project.get_stats()["pending"] == 0
    # and the same view, succeeding, stores both once the transaction commits
    response = Client().post("/orders/atomic/", {"id": 4}, content_type="application/json")
    body = response.json()
    assert body["in_transaction"]["charge"].startswith("uncommitted-") and body["charge"].isdigit()
    drain()
    assert sorted(ran()) == [("charge_on_commit", 4), ("send_receipt", 4)]


def test_bad_backend_options_are_check_errors_and_refuse_to_enqueue(project):
    from django.core.exceptions import ImproperlyConfigured
    from django_project.shop.tasks import charge

    from queue_max.contrib.django.backend import QueueMaxBackend

    bad = QueueMaxBackend("bad", {"OPTIONS": {"ENQUEU_ON_COMMIT": True, "MAX_RETRIES": "3"}})
    messages = list(bad.check())
    assert [m.id for m in messages] == ["queue_max.E010", "queue_max.E011"]
    assert "'ENQUEU_ON_COMMIT'" in messages[0].msg and "ENQUEUE_ON_COMMIT" in messages[0].hint
    assert "MAX_RETRIES" in messages[1].msg and "int from 0 to 1000" in messages[1].msg
    with pytest.raises(ImproperlyConfigured, match="ENQUEU_ON_COMMIT"):
        bad.enqueue(charge, [1, 2], {})
    assert list(backend().check()) == []


# ── management commands ──
def test_queue_worker_runs_every_kind_of_job_in_burst_mode(project):
    from django_project.shop.tasks import charge, send_receipt

    # Given a Django task, a queue-max task and a plain job
    charge.enqueue(1, 5)
    send_receipt.delay(1)
    project.enqueue({"n": 42})
    out, err = io.StringIO(), io.StringIO()
    # When queue_worker drains them
    call_command("queue_worker", "--burst", "--threads", "2", "--poll-interval", "50ms",
                 "--function", "django_project.shop.tasks:plain_job", stdout=out, stderr=err)
    # Then each ran, and the worker says so
    assert sorted(ran()) == [("charge", 1), ("plain", 42), ("send_receipt", 1)]
    assert "processed 3, failed 0" in out.getvalue()
    assert "2 threads" in err.getvalue() and "burst" in err.getvalue()


def test_queue_worker_prints_json_stats(project):
    from django_project.shop.tasks import send_receipt

    send_receipt.delay(2)
    out = io.StringIO()
    call_command("queue_worker", "--burst", "--json", "--max-jobs", "5", stdout=out, stderr=io.StringIO())
    stats = json.loads(out.getvalue())
    assert stats["processed"] == 1 and stats["exit_code"] == 0


def test_queue_worker_refuses_bad_options_with_the_clis_messages(project):
    with pytest.raises(CommandError, match="--workers and --threads") as caught:
        call_command("queue_worker", "--workers", "2", "--threads", "3", "--burst")
    assert caught.value.returncode == 2
    with pytest.raises(CommandError, match="no module named 'no_such_tasks_module'"):
        call_command("queue_worker", "--burst", "--tasks", "no_such_tasks_module")


def test_queue_worker_with_its_own_rate_limit_uses_a_queue_of_its_own(project):
    from django_project.shop.tasks import send_receipt

    send_receipt.delay(8)
    call_command("queue_worker", "--burst", "--rate-limit", "600", stdout=io.StringIO(), stderr=io.StringIO())
    assert ran() == [("send_receipt", 8)] and not project._closed


def test_queue_stats_prints_the_counts_of_the_projects_queue(project):
    from django_project.shop.tasks import send_receipt

    send_receipt.delay(1)
    send_receipt.delay(2)
    out = io.StringIO()
    call_command("queue_stats", "--json", stdout=out)
    stats = json.loads(out.getvalue())
    assert stats["pending"] == 2 and stats["num_shards"] == 1
    out = io.StringIO()
    call_command("queue_stats", stdout=out)
    assert "ready now: 2" in out.getvalue()


def test_queue_stats_without_a_queue_says_so(queue_dir):
    with override_settings(QUEUE_MAX={"DATA_DIR": queue_dir}), \
            pytest.raises(CommandError, match="no queue at") as caught:
        call_command("queue_stats", stdout=io.StringIO())
    assert caught.value.returncode == 1 and not queue_dir.exists()
    assert "settings.QUEUE_MAX['DATA_DIR']" in str(caught.value)


def test_queue_purge_deletes_finished_jobs_and_asks_before_emptying_a_status(project):
    from django_project.shop.tasks import send_receipt

    send_receipt.delay(1)
    drain()
    send_receipt.delay(2)
    # deleting every pending job needs --yes
    with pytest.raises(CommandError, match="add --yes") as caught:
        call_command("queue_purge", "--status", "pending", stdout=io.StringIO())
    assert caught.value.returncode == 2
    out = io.StringIO()
    call_command("queue_purge", "--status", "pending", "--dry-run", stdout=out)
    assert out.getvalue() == "would delete 1 job (dry run: nothing was changed)\n"
    out = io.StringIO()
    call_command("queue_purge", "--days", "0", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"command": "purge", "dry_run": False, "count": 1}
    assert project.get_stats()["completed"] == 0 and project.get_stats()["pending"] == 1


def test_queue_purge_and_queue_stats_take_a_queue_name(project):
    # Given pending jobs in the default queue and in the reports queue
    project.enqueue({"n": 1})
    project.enqueue_batch([{"payload": {"n": n}, "queue_name": "reports"} for n in range(2)])
    # When the reports queue's pending jobs are purged
    out = io.StringIO()
    call_command("queue_purge", "--status", "pending", "--queue-name", "reports", "--yes", "--json", stdout=out)
    # Then only they went
    assert json.loads(out.getvalue()) == {"command": "purge", "dry_run": False, "count": 2, "queue_name": "reports"}
    out = io.StringIO()
    call_command("queue_stats", "--queue-name", "reports", "--json", stdout=out)
    assert json.loads(out.getvalue())["pending"] == 0
    assert project.get_stats()["pending"] == 1


def test_queue_purge_refuses_a_bad_queue_name_and_changes_nothing(project):
    project.enqueue({"n": 1})
    with pytest.raises(CommandError, match="queue_name must be 1 to 64 characters"):
        call_command("queue_purge", "--status", "pending", "--queue-name", "no spaces", "--yes",
                     stdout=io.StringIO())
    assert project.get_stats()["pending"] == 1


def test_worker_ids_name_the_worker_of_each_attempt(project, queue_dir):
    from django_project.shop.tasks import flaky

    with override_settings(QUEUE_MAX={"DATA_DIR": queue_dir, "SHARDS": 1, "RATE_LIMIT": 0, "RETRY_BACKOFF": 0}):
        result = flaky.enqueue("order-2")
        drain()
        result.refresh()
    assert result.worker_ids == ["test-worker", "test-worker"]


def test_finished_is_sent_even_when_results_are_not_kept(queue_dir):
    from django_project.shop.tasks import charge

    from queue_max.contrib.django._compat import TaskResultDoesNotExist, task_finished

    finished: list[Any] = []

    def on_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
        finished.append(task_result)

    # Given a queue that deletes jobs as they complete
    with override_settings(QUEUE_MAX={"DATA_DIR": queue_dir, "SHARDS": 1, "RATE_LIMIT": 0, "RESULT_TTL": 0}):
        task_finished.connect(on_finished)
        try:
            result = charge.enqueue(4, 40)
            drain()
        finally:
            task_finished.disconnect(on_finished)
        # Then the receiver still gets the outcome, though the result cannot be read back
        assert [(str(r.status), r.return_value, r.id) for r in finished] == \
            [("SUCCESSFUL", {"order": 4, "charged": 40}, result.id)]
        with pytest.raises(TaskResultDoesNotExist):
            result.refresh()


def test_every_setting_option_and_check_id_is_documented():
    import re

    from queue_max.contrib.django import checks, conf
    from queue_max.contrib.django.backend import OPTIONS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "django.md").read_text()
    table = set(re.findall(r"^\| `([A-Z_]+)` \|", doc, re.MULTILINE))
    assert set(conf.KEYS) | set(OPTIONS) == table
    ids = set(re.findall(r"queue_max\.[EW]\d{3}", checks.__doc__ or ""))
    assert ids and ids <= set(re.findall(r"queue_max\.[EW]\d{3}", doc))


def test_a_job_naming_a_missing_django_task_is_dead_lettered_at_once(project):
    from queue_max.contrib.django._results import RUNNER_NAME

    # Given a job for a Django task this process cannot import (e.g. removed since)
    job = project.enqueue({"__task__": RUNNER_NAME, "args": [],
                           "kwargs": {"path": "django_project.shop.tasks.gone", "args": [], "kwargs": {}}},
                          max_retries=3)
    # Then it fails for good, without retries, saying which task is missing
    assert drain()["failed"] == 1
    dead = project.get_job(job["id"])
    assert dead.status.value == "failed" and dead.attempts == 1
    assert "DjangoTaskNotFound" in dead.error_type and "django_project.shop.tasks.gone" in dead.last_error


def test_async_enqueue_and_result_lookup(project):
    import asyncio

    from django_project.shop.tasks import charge

    result = asyncio.run(charge.aenqueue(6, 60))
    drain()
    found = asyncio.run(charge.aget_result(result.id))
    assert found.return_value == {"order": 6, "charged": 60}


class EnqueueOnCommitInATestCase(TestCase):
    """Django's TestCase runs each test in a transaction that never commits."""

    def setUp(self) -> None:
        import tempfile

        from queue_max.contrib.django import get_queue

        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        settings = override_settings(QUEUE_MAX={"DATA_DIR": self.dir.name, "SHARDS": 1, "RATE_LIMIT": 0})
        settings.enable()
        self.addCleanup(settings.disable)
        self.queue = get_queue()

    def test_the_job_is_stored_when_the_test_runs_the_commit_callbacks(self) -> None:
        from django_project.shop.tasks import charge_on_commit, send_receipt

        with self.captureOnCommitCallbacks(execute=False) as pending:
            result = charge_on_commit.enqueue(1)
            send_receipt.delay_on_commit(1)
        self.assertEqual(len(pending), 2)
        self.assertEqual(self.queue.get_stats()["pending"], 0)
        with self.captureOnCommitCallbacks(execute=True):
            charge_on_commit.enqueue(2)
            send_receipt.delay_on_commit(2)
        self.assertEqual(self.queue.get_stats()["pending"], 2)
        self.assertTrue(result.id.startswith("uncommitted-"))
