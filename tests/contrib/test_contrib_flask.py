"""queue_max.contrib.flask on real Flask apps: the extension and its config, `@queue.task` run in
an app context by the worker, and the `flask queue worker|stats|purge` commands."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app, g, jsonify

from queue_max import ConfigError, Queue
from queue_max.contrib.flask import AppState, FlaskWorker, NoAppContext, QueueExtension
from queue_max.tasks import TaskFailed, TaskHandle

queue = QueueExtension()


@queue.task
def greet(name: str) -> str:
    # runs on the worker inside the app context: current_app and g work
    g.greeted = name
    return f"{current_app.config['GREETING']}, {name} (from {current_app.name})"


@queue.task(max_retries=0)
def refuse(name: str) -> None:
    raise PermissionError(f"{name} may not be greeted")


@queue.task(queue_name="emails")
def mail(to: str) -> str:
    return f"mailed {to}"


def plain(payload: dict[str, Any]) -> str:
    return f"{current_app.name} handled {payload['n']}"


def create_app(data_dir: Path, name: str = "shop", **config: Any) -> Flask:
    """An application factory, as a project would write it."""
    app = Flask(name)
    app.config.update({"GREETING": "Hello", "QUEUE_MAX_DATA_DIR": str(data_dir), "QUEUE_MAX_SHARDS": 1,
                       "QUEUE_MAX_RATE_LIMIT": 0, **config})
    queue.init_app(app)

    @app.post("/greet/<name>")
    def enqueue_greeting(name: str) -> Any:
        return jsonify(id=greet.delay(name).id), 202

    return app


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    made: list[Flask] = []
    yield made
    for app in made:
        queue.close(app)


@pytest.fixture
def app(tmp_path: Path, apps: list[Flask]) -> Flask:
    made = create_app(tmp_path / "queue")
    apps.append(made)
    return made


def drain(app: Flask, **options: Any) -> dict[str, Any]:
    worker = queue.worker(app, burst=True, poll_interval=0.05, **options)
    assert worker.run(handle_signals=False)
    return worker.get_stats()


# ── the extension ──
def test_init_app_keeps_the_apps_state_in_app_extensions(app):
    assert isinstance(app.extensions["queue_max"], AppState)
    assert not any(isinstance(value, Flask) for value in vars(queue).values())


def test_the_queue_is_built_on_first_use_from_the_apps_config(tmp_path, apps):
    # Given an app configured through QUEUE_MAX_* keys
    app = create_app(tmp_path / "q", QUEUE_MAX_SHARDS=3, QUEUE_MAX_RETRIES=0, QUEUE_MAX_RESULT_TTL=60,
                     QUEUE_MAX_RATE_LIMIT=120)
    apps.append(app)
    # Then nothing is created until the queue is used
    assert not (tmp_path / "q").exists()
    with app.app_context():
        built = queue.get_queue()
    assert isinstance(built, Queue) and queue.get_queue(app) is built
    assert (built.num_shards, built.max_retries, built.rate_limit) == (3, 0, 120)
    assert built.options.result_ttl == 60 and Path(built.backend.data_dir) == tmp_path / "q"


def test_one_extension_serves_several_apps_each_with_its_own_queue(tmp_path, apps):
    first, second = create_app(tmp_path / "a", "first"), create_app(tmp_path / "b", "second")
    apps.extend([first, second])
    with first.app_context():
        greet.delay("ana")
    with second.app_context():
        greet.delay("bo")
        greet.delay("cy")
    assert queue.get_queue(first).get_stats()["pending"] == 1
    assert queue.get_queue(second).get_stats()["pending"] == 2


def test_an_unknown_config_key_is_refused_at_init_app_naming_the_closest_key(tmp_path):
    app = Flask("typo")
    app.config.update(QUEUE_MAX_DATA_DIR=str(tmp_path), QUEUE_MAX_SHARD=4)
    with pytest.raises(ConfigError, match="unknown queue-max key QUEUE_MAX_SHARD; did you mean QUEUE_MAX_SHARDS") as caught:
        QueueExtension(app)
    assert "QUEUE_MAX_RATE_LIMIT" in str(caught.value)  # the allowed keys are listed
    assert "queue_max" not in app.extensions


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("QUEUE_MAX_SHARDS", "4", "shards must be an int from 1 to 1024"),
    ("QUEUE_MAX_RETRIES", -1, "max_retries must be an int from 0 to 1000"),
    ("QUEUE_MAX_DURABLE", "yes", "durable must be True or False"),
    ("QUEUE_MAX_LEASE_TIMEOUT", 0, "lease_timeout must be a finite number of seconds > 0"),
])
def test_a_value_of_the_wrong_type_is_refused_at_init_app(tmp_path, key, value, allowed):
    app = Flask("bad")
    app.config[key] = value
    with pytest.raises(ConfigError, match=rf"app.config\['{key}'\] is invalid: {allowed}"):
        queue.init_app(app)


def test_init_app_twice_is_refused(app):
    with pytest.raises(ConfigError, match="already set up"):
        queue.init_app(app)


def test_delay_outside_an_app_context_says_how_to_get_one(app):
    with pytest.raises(NoAppContext, match="app_context"):
        greet.delay("ana")


# ── tasks on the worker ──
def test_a_view_enqueues_and_the_worker_runs_the_task_inside_the_app_context(app):
    # Given a view that enqueues a task
    response = app.test_client().post("/greet/ana")
    assert response.status_code == 202
    # When a worker drains the queue
    stats = drain(app)
    # Then the task ran with the app's context (current_app, its config)
    assert stats["processed"] == 1
    with app.app_context():
        handle = TaskHandle(queue.get_queue(), response.json["id"])
        assert handle.get(timeout=1) == "Hello, ana (from shop)"


def test_a_flask_tasks_queue_name_routes_its_jobs_and_workers_choose_queues(app):
    with app.app_context():
        handle = mail.delay("ana@example.com")
        other = mail.with_options(queue_name="bulk").delay("bo@example.com")
        assert queue.get_queue().get_job(handle.id).queue_name == "emails"
    assert drain(app, queues=["emails"])["processed"] == 1
    with app.app_context():
        assert handle.get(timeout=1) == "mailed ana@example.com"
        assert queue.get_queue().get_job(other.id).is_pending


def test_a_failing_task_is_dead_lettered_and_its_handle_raises(app):
    with app.app_context():
        handle = refuse.delay("eve")
    assert drain(app)["failed"] == 1
    with pytest.raises(TaskFailed, match="eve may not be greeted"):
        handle.get(timeout=1)


def test_a_fallback_function_runs_plain_jobs_in_the_app_context(app):
    queue.get_queue(app).enqueue({"n": 5})
    drain(app, fallback=plain)
    job = queue.get_queue(app).list_jobs("completed")[0]
    assert job.result == "shop handled 5"


def test_cloned_workers_keep_the_app(app):
    worker = queue.worker(app, burst=True)
    clone = worker.clone("second")
    assert isinstance(clone, FlaskWorker) and clone.app is app and clone.queue is worker.queue


# ── flask queue ... ──
def test_the_flask_cli_has_a_queue_group_with_worker_stats_and_purge(app):
    result = app.test_cli_runner().invoke(args=["queue", "--help"])
    assert result.exit_code == 0
    for command in ("worker", "stats", "purge"):
        assert command in result.output


def test_flask_queue_worker_runs_the_jobs_and_reports(app):
    client = app.test_client()
    ids = [client.post(f"/greet/{name}").json["id"] for name in ("ana", "bo")]
    result = app.test_cli_runner().invoke(args=["queue", "worker", "--burst", "--threads", "2",
                                                "--poll-interval", "50ms", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output[result.output.index("{"):])
    assert stats["processed"] == 2 and stats["exit_code"] == 0
    assert re.search(r"2 threads, \d+ tasks?, ", result.output) and not re.search(r"\b1 tasks", result.output)
    with app.app_context():
        assert [TaskHandle(queue.get_queue(), i).get(timeout=1) for i in ids] == \
            ["Hello, ana (from shop)", "Hello, bo (from shop)"]


def test_flask_queue_worker_refuses_conflicting_options(app):
    result = app.test_cli_runner().invoke(args=["queue", "worker", "--workers", "2", "--threads", "3"])
    assert result.exit_code == 2 and "--workers and --threads" in result.output
    result = app.test_cli_runner().invoke(args=["queue", "worker", "--burst", "--tasks", "no_such_module"])
    assert result.exit_code == 2 and "no module named 'no_such_module'" in result.output


def test_flask_queue_stats_prints_the_apps_counts(app):
    app.test_client().post("/greet/ana")
    result = app.test_cli_runner().invoke(args=["queue", "stats", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["pending"] == 1
    result = app.test_cli_runner().invoke(args=["queue", "stats"])
    assert "ready now: 1" in result.output


def test_flask_queue_stats_without_a_queue_says_so(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["queue", "stats"])
    assert result.exit_code == 1 and "no queue at" in result.output
    # and the hint names the setting a Flask app has, not the bare environment variable
    assert "app.config['QUEUE_MAX_DATA_DIR']" in result.output and "set DATA_DIR" not in result.output
    assert not (tmp_path / "queue").exists()


def test_flask_queue_purge_asks_before_emptying_a_status_and_deletes_finished_jobs(app):
    client = app.test_client()
    client.post("/greet/ana")
    drain(app)
    client.post("/greet/bo")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["queue", "purge", "--status", "pending"])
    assert result.exit_code == 2 and "add --yes" in result.output
    result = runner.invoke(args=["queue", "purge", "--status", "pending", "--dry-run"])
    assert result.output == "would delete 1 job (dry run: nothing was changed)\n"
    result = runner.invoke(args=["queue", "purge", "--days", "0", "--json"])
    assert json.loads(result.output) == {"command": "purge", "dry_run": False, "count": 1}
    result = runner.invoke(args=["queue", "purge", "--days", "1", "--status", "failed"])
    assert result.exit_code == 2 and "not both" in result.output


def test_flask_queue_purge_and_stats_take_a_queue_name(app):
    # Given a pending greeting in the default queue and a pending mail in the emails queue
    app.test_client().post("/greet/ana")
    with app.app_context():
        mail.delay("bo@example.com")
    runner = app.test_cli_runner()
    # When the emails queue's pending jobs are purged
    result = runner.invoke(args=["queue", "purge", "--status", "pending", "--queue-name", "emails", "--yes"])
    # Then only that queue's job went, and the command says so
    assert result.exit_code == 0 and result.output == "deleted 1 job of queue 'emails'\n"
    emails = json.loads(runner.invoke(args=["queue", "stats", "--queue-name", "emails", "--json"]).output)
    assert emails["queue_name"] == "emails" and emails["pending"] == 0
    assert json.loads(runner.invoke(args=["queue", "stats", "--json"]).output)["pending"] == 1


def test_flask_queue_purge_refuses_a_bad_queue_name_and_changes_nothing(app):
    app.test_client().post("/greet/ana")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["queue", "purge", "--status", "pending", "--queue-name", "no spaces", "--yes"])
    assert result.exit_code == 2 and "queue_name must be 1 to 64 characters" in result.output
    assert json.loads(runner.invoke(args=["queue", "stats", "--json"]).output)["pending"] == 1


def test_every_config_key_is_documented():
    import re

    from queue_max.contrib.flask._config import KEYS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "flask.md").read_text()
    assert set(KEYS) == set(re.findall(r"^\| `(QUEUE_MAX_[A-Z_]+)` \|", doc, re.MULTILINE))
