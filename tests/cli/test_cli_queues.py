"""`queue-max queues | pause | resume | schedules | scheduler`, and --queue-name on enqueue, list
and stats; health and metrics show the host-wide breakers and paused queues."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from cli_fixtures.helpers import cli, data_dir, make_cli_queue, module_env  # noqa: F401 - fixtures


def test_enqueue_and_list_take_a_queue_name(cli, make_cli_queue):
    make_cli_queue()
    assert cli("enqueue", "--payload", '{"n": 1}', "--queue-name", "emails").code == 0
    assert cli("enqueue", "--payload", '{"n": 2}').code == 0
    listed = cli("list", "--queue-name", "emails", "--json").json()
    assert [job["payload"] for job in listed] == [{"n": 1}] and listed[0]["queue_name"] == "emails"


def test_a_bad_queue_name_is_a_usage_error_naming_the_rule(cli, make_cli_queue):
    make_cli_queue()
    result = cli("enqueue", "--payload", "{}", "--queue-name", "no spaces")
    assert result.code == 2 and "queue_name must be 1 to 64 characters" in result.err
    assert "'no spaces'" in result.err
    assert cli("stats", "--json").json()["pending"] == 0


def test_pause_and_resume_are_durable_and_shown_everywhere(cli, make_cli_queue):
    queue = make_cli_queue()
    queue.enqueue({"n": 1}, queue_name="emails")
    assert cli("pause", "emails").out.strip() == "queue 'emails' paused"
    assert "already paused" in cli("pause", "emails").out
    per_queue = cli("queues", "--json").json()
    assert per_queue["emails"]["paused"] is True and per_queue["emails"]["pending"] == 1
    health = cli("health", "--json").json()
    assert health["checks"]["paused_queues"]["paused"] == ["emails"]
    assert 'queue_paused{queue="emails"} 1' in cli("metrics").out
    assert cli("stats", "--queue-name", "emails", "--json").json()["paused"] is True
    assert cli("resume", "emails").out.strip() == "queue 'emails' resumed"
    assert cli("queues", "--json").json()["emails"]["paused"] is False


def test_an_open_breaker_makes_health_fail(cli, make_cli_queue):
    queue = make_cli_queue(circuit_breaker_threshold=1)
    queue.enqueue({"n": 1}, queue_name="api", max_retries=0)
    queue.fail_job(queue.claim_jobs("w", 1)[0], error="down")
    health = cli("health", "--json")
    assert health.code != 0 and "queue api" in health.json()["checks"]["circuit"]["detail"]


def test_the_scheduler_command_fires_ticks_and_schedules_lists_them(data_dir, cli, make_cli_queue):
    make_cli_queue()
    env = {**module_env(), "FLOW_LOG": str(data_dir.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "queue_max", "--data-dir", str(data_dir), "scheduler",
                             "--tasks", "procs.flow_jobs"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not any("flow.tick" == row["name"] and row["last_run_at"]
                      for row in cli("schedules", "--json").json()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "1 periodic task (flow.tick)" in err
    listed = cli("schedules", "--tasks", "procs.flow_jobs").out
    assert "flow.tick" in listed and "Every(0.5)" in listed
