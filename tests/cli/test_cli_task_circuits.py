"""`stats` and `health` show the host-wide breakers of tasks that have their own, read from
storage (the CLI process need not import the task)."""

from __future__ import annotations

import time

from cli_fixtures.helpers import cli, data_dir, make_cli_queue  # noqa: F401 - fixtures


def test_an_open_task_breaker_shows_in_stats_and_turns_health_red(cli, make_cli_queue):
    # Given a task whose own breaker another process opened
    queue = make_cli_queue()
    queue.backend.breaker_record("task:mail.send", "failure", 1, time.time())
    # When stats and health are asked
    stats, health = cli("stats", "--json"), cli("health", "--json")
    text = cli("stats").out
    # Then stats lists the task's breaker, and health is red and names it
    assert stats.json()["task_circuits"]["mail.send"] == {
        "circuit_state": "open", "circuit_failures": 1, "threshold": None}
    assert "mail.send" in text and "open" in text
    assert health.code == 3 and health.json()["checks"]["circuit"]["open"] == ["task mail.send"]
    # And once the breaker closes, health is green again
    queue.backend.breaker_record("task:mail.send", "success", 1, time.time())
    assert cli("health").code == 0
