"""`stats` and `health` show the host-wide breakers of tasks that have their own, read from
storage (the CLI process need not import the task), with the queues each task's jobs go to;
`health --queue-name` counts the breakers of the tasks routed to that queue."""

from __future__ import annotations

import json
import time

from cli_fixtures.helpers import cli, data_dir, make_cli_queue, run_module  # noqa: F401 - fixtures

from queue_max.tasks import make_envelope


def test_an_open_task_breaker_shows_in_stats_and_turns_health_red(cli, make_cli_queue):
    # Given a task whose own breaker another process opened
    queue = make_cli_queue()
    queue.backend.breaker_record("task:mail.send", "failure", 1, time.time())
    # When stats and health are asked
    stats, health = cli("stats", "--json"), cli("health", "--json")
    text = cli("stats").out
    # Then stats lists the task's breaker, and health is red and names it
    assert stats.json()["task_circuits"]["mail.send"] == {
        "circuit_state": "open", "circuit_failures": 1, "threshold": None, "queues": []}
    assert "mail.send" in text and "open" in text
    assert health.code == 3 and health.json()["checks"]["circuit"]["open"] == ["task mail.send"]
    # And once the breaker closes, health is green again
    queue.backend.breaker_record("task:mail.send", "success", 1, time.time())
    assert cli("health").code == 0


def test_health_of_a_queue_counts_the_open_breaker_of_a_task_routed_to_it(data_dir, make_cli_queue):
    # Given a real data directory: three jobs of a task of queue "emails" whose own breaker opens
    # after 2 consecutive failures, and a job of the default queue
    queue = make_cli_queue()
    ids = queue.enqueue_batch([{"payload": make_envelope("cli.send_mail", [f"u{n}@example.com"], {}),
                                 "queue_name": "emails"} for n in range(3)])["ids"]
    queue.enqueue({"plain": True})
    # When a worker process runs the emails queue until its jobs fail and the breaker opens
    ran = run_module("--data-dir", str(data_dir), "worker", "--tasks", "cli_fixtures.breaker_tasks",
                     "--queues", "emails", "--burst", "--rate-limit", "0")
    assert ran.returncode == 0, ran.stderr
    assert "task 'cli.send_mail': circuit closed -> open" in ran.stderr
    assert {queue.get_job(job_id).status.value for job_id in ids} <= {"pending", "scheduled"}  # to retry
    # Then health of the emails queue is red, and names the task's breaker for that queue
    emails = run_module("--data-dir", str(data_dir), "health", "--queue-name", "emails", "--json")
    assert emails.returncode == 3, emails.stderr
    circuit = json.loads(emails.stdout)["checks"]["circuit"]
    assert (circuit["ok"], circuit["open"]) == (False, ["task cli.send_mail"])
    assert circuit["by_queue"] == {"emails": ["task cli.send_mail"]}
    # And health of the default queue, whose jobs the task does not send, stays green
    default = run_module("--data-dir", str(data_dir), "health", "--queue-name", "default", "--json")
    assert default.returncode == 0, default.stdout
    assert json.loads(default.stdout)["checks"]["circuit"]["by_queue"] == {}
    # And the whole queue's health and stats report the breaker per queue
    whole = run_module("--data-dir", str(data_dir), "health")
    assert whole.returncode == 3 and "queue 'emails': task cli.send_mail" in whole.stdout
    stats = run_module("--data-dir", str(data_dir), "stats", "--json")
    assert json.loads(stats.stdout)["task_circuits"]["cli.send_mail"]["queues"] == ["emails"]


def test_health_of_a_queue_ignores_the_breaker_of_a_task_routed_elsewhere(cli, make_cli_queue):
    # Given a task breaker opened by jobs of the queue "mail" only
    queue = make_cli_queue()
    queue.enqueue(make_envelope("mail.send", ["a"], {}), queue_name="mail")
    queue.backend.breaker_record("task:mail.send", "failure", 1, time.time())
    # Then health is red for "mail" and green for "reports", where no job of the task goes
    assert cli("health", "--queue-name", "mail").code == 3
    reports = cli("health", "--queue-name", "reports", "--json")
    assert reports.code == 0 and reports.json()["checks"]["circuit"]["open"] == []
