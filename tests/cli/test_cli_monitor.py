"""`queue-max health` and `queue-max metrics`: probes, thresholds, worker status files, Prometheus text."""

from __future__ import annotations

import json
import os
import re
import socket
import signal
import subprocess
import sys
import time

import pytest
from cli_fixtures.helpers import cli, data_dir, make_cli_queue, module_env  # noqa: F401 - fixtures

from queue_max._clock import FakeClock
from queue_max.models import WorkerPresence
from queue_max.cli._status import StatusFile

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # pragma: no cover - the format is then checked by regex alone
    text_string_to_metric_families = None


def _register(queue, worker_id, *, age=0.0, host=None, pid=None):
    """A worker record in the registry, as a live worker's heartbeat writes it `age` seconds ago."""
    now = time.time()
    queue.backend.put_workers([WorkerPresence(worker_id, host or socket.gethostname(), pid or os.getpid(),
                                              "Worker", None, 2, 0, now - age, now - age)])


def _status(data_dir, name, **fields):
    status = {"name": name, "kind": "worker", "processes": 1, "live_processes": 1, "threads": 2,
              "state": "running", "processed": 7, "failed": 1, "retried": 0, "in_flight": 0,
              "circuit_state": "closed", "circuit_failures": 0, "rate_limit": 160, "tokens_available": 12.5}
    status.update(fields)
    StatusFile(data_dir, name).write(status)


# ── health ──
def test_a_quiet_queue_is_healthy(cli, make_cli_queue):
    make_cli_queue().enqueue({})
    result = cli("health", "--json")
    assert result.code == 0, result.out
    report = result.json()
    assert report["healthy"] is True and report["problems"] == []
    assert set(report["checks"]) == {"storage", "expired_leases", "backlog", "queue_age", "circuit", "paused_queues",
                                     "workers"}
    assert cli("health").out.startswith("healthy: queue at ")


def test_a_backlog_over_the_threshold_is_unhealthy_with_exit_3(cli, make_cli_queue):
    queue = make_cli_queue()
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(5)])
    result = cli("health", "--max-backlog", "4", "--json")
    assert result.code == 3
    assert result.json()["problems"] == ["backlog"]
    assert result.json()["checks"]["backlog"] == {"ok": False, "detail": "5 ready jobs (max 4)", "ready": 5, "max": 4}
    assert cli("health", "--max-backlog", "5").code == 0


def test_a_job_waiting_longer_than_max_age_is_unhealthy(cli, make_cli_queue):
    queue = make_cli_queue(clock=FakeClock(time.time() - 600))
    queue.enqueue({})
    result = cli("health", "--max-age", "5m", "--json")
    assert result.code == 3 and result.json()["problems"] == ["queue_age"]
    assert cli("health", "--max-age", "1h").code == 0


def test_expired_leases_mean_a_dead_worker(cli, make_cli_queue):
    # Given a job whose worker stopped heartbeating an hour ago
    queue = make_cli_queue(clock=FakeClock(time.time() - 3600))
    ref = queue.enqueue({})
    queue.claim_jobs("gone", 1)
    # Then health fails on expired leases and names the job
    report = cli("health", "--json")
    assert report.code == 3
    check = report.json()["checks"]["expired_leases"]
    assert check["ok"] is False and check["job_ids"] == [ref["id"]]
    assert "FAIL" in cli("health").out


def test_an_open_circuit_in_a_worker_is_unhealthy(cli, data_dir, make_cli_queue):
    make_cli_queue()
    _status(data_dir, "w-open", circuit_state="open", circuit_failures=5)
    _status(data_dir, "w-fine")
    result = cli("health", "--json")
    assert result.code == 3 and result.json()["checks"]["circuit"]["open"] == ["w-open"]


def test_a_liveness_probe_ignores_a_backlog_under_load_but_not_dead_workers(cli, data_dir, make_cli_queue):
    # Given a backlog far over the alert threshold and one live worker reporting in
    queue = make_cli_queue()
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(1500)])
    _register(queue, "w-1")
    # Then the full check alerts on the backlog, but the liveness probe stays green
    assert cli("health", "--min-workers", "1").code == 3
    live = cli("health", "--liveness", "--json", "--min-workers", "1")
    assert live.code == 0, live.out
    assert set(live.json()["checks"]) == {"storage", "workers"}
    assert "readable and writable" in live.json()["checks"]["storage"]["detail"]
    # And with no worker left, the liveness probe fails
    queue.backend.drop_workers(queue.workers())
    assert cli("health", "--liveness", "--min-workers", "1").code == 3


def test_too_few_workers_and_stale_ones_are_unhealthy(cli, data_dir, make_cli_queue):
    queue = make_cli_queue()
    assert cli("health", "--min-workers", "1").code == 3
    _register(queue, "w-1")
    assert cli("health", "--min-workers", "1").code == 0
    # a record on this host whose heartbeat stopped a minute ago: that worker hangs
    _register(queue, "w-1", age=60)
    result = cli("health", "--json")
    assert result.code == 3 and result.json()["checks"]["workers"]["stale"] == ["w-1"]


def test_a_silent_worker_on_another_host_is_listed_but_fails_nothing(cli, make_cli_queue):
    # Given one live worker here and one on another host that stopped reporting (dead or hung:
    # from here the two cannot be told apart, and a probe must not restart healthy pods for it)
    queue = make_cli_queue()
    _register(queue, "here")
    _register(queue, "there", host="other-host.invalid", pid=4242, age=600)
    # Then health stays green, counts the live one and names the silent one
    result = cli("health", "--json", "--min-workers", "1")
    assert result.code == 0, result.out
    check = result.json()["checks"]["workers"]
    assert check["live_processes"] == 1 and check["stale"] == []
    assert check["stale_elsewhere"] == ["there@other-host.invalid"]


def test_a_worker_started_from_user_code_counts_for_health(cli, data_dir, make_cli_queue):
    # Given a plain Worker started by an application's own code (no queue-max CLI, no status file)
    make_cli_queue().close()
    script = ("import sys, time\n"
              "from queue_max import Queue, Worker\n"
              f"queue = Queue(data_dir={str(data_dir)!r})\n"
              "worker = Worker('app-worker', lambda payload: None, queue, poll_interval=0.1)\n"
              "worker.start()\n"
              "print('ready', flush=True)\n"
              "sys.stdin.read()\n"
              "worker.stop()\n")
    proc = subprocess.Popen([sys.executable, "-c", script], env=module_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        # Then the liveness probe sees its process
        result = cli("health", "--liveness", "--json", "--min-workers", "1")
        assert result.code == 0, result.out
        assert result.json()["checks"]["workers"]["live_processes"] == 1
    finally:
        proc.communicate("", timeout=30)
    # And once it stopped, it no longer counts
    assert cli("health", "--liveness", "--min-workers", "1").code == 3


def test_status_files_of_dead_processes_are_dropped(cli, data_dir, make_cli_queue):
    make_cli_queue()
    _status(data_dir, "w-dead")
    path = data_dir / "workers" / "w-dead.json"
    data = json.loads(path.read_text())
    data["pid"] = 2**22 + 12345  # above the usual pid_max: no such process
    path.write_text(json.dumps(data))
    assert cli("health", "--min-workers", "1").code == 3
    assert not path.exists()


def test_a_broken_shard_makes_health_fail_not_crash(cli, data_dir, make_cli_queue):
    make_cli_queue(shards=1).close()
    (data_dir / "shard_0.db").write_bytes(b"this is not a database" * 100)
    result = cli("health", "--json")
    assert result.code == 3
    assert result.json()["checks"]["storage"]["ok"] is False


def test_a_worker_whose_circuit_opens_turns_health_red(data_dir, tmp_path):
    # Given a real worker process whose breaker opens after 2 failures, and 3 failing jobs
    env = {**module_env(), "CIRCUIT_FAILURE_THRESHOLD": "2", "HEARTBEAT_INTERVAL": "200"}
    base = [sys.executable, "-m", "queue_max", "--data-dir", str(data_dir)]
    subprocess.run([*base, "enqueue", "--file", _jobs(tmp_path, 3)], env=env, check=True, capture_output=True)
    worker = subprocess.Popen([*base, "worker", "--function", "cli_fixtures.handlers:boom", "--rate-limit", "0",
                               "--poll-interval", "0.1"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        # When health is probed until the worker has reported its open circuit
        deadline = time.monotonic() + 20
        report: dict = {}
        while time.monotonic() < deadline:
            probe = subprocess.run([*base, "health", "--json"], env=env, capture_output=True, text=True, check=False)
            report = json.loads(probe.stdout)
            # (the queue's shared breaker, read from storage, shows as "queue default" first)
            if any(not name.startswith("queue ") for name in report["checks"]["circuit"]["open"]):
                break
            time.sleep(0.2)
        # Then health names the worker whose circuit is open, and metrics show the state
        assert probe.returncode == 3 and report["checks"]["circuit"]["open"]
        metrics = subprocess.run([*base, "metrics"], env=env, capture_output=True, text=True, check=False).stdout
        assert re.search(r'queue_max_worker_circuit_state\{worker="[^"]+",state="open"\} 1', metrics)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=20)  # waits, and closes the pipes
        assert worker.returncode == 0


def _jobs(tmp_path, n):
    path = tmp_path / "jobs.jsonl"
    path.write_text("".join(json.dumps({"payload": {"n": i}, "max_retries": 0}) + "\n" for i in range(n)))
    return str(path)


# ── metrics ──
_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$')


def test_metrics_are_prometheus_text_with_help_and_type_lines(cli, data_dir, make_cli_queue):
    # Given jobs in several states and one reporting worker
    queue = make_cli_queue(shards=2)
    for n in range(3):
        queue.enqueue({"n": n})
    queue.complete_job(queue.claim_jobs("w", 1)[0])
    _status(data_dir, 'w"quoted"')
    # When metrics are printed
    result = cli("metrics")
    assert result.code == 0
    text = result.out
    # Then every line is a HELP, a TYPE or a sample, and every family has HELP and TYPE
    families = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            families.add(line.split()[2])
        elif line.startswith("# TYPE "):
            assert line.split()[3] in ("gauge", "counter", "histogram") and line.split()[2] in families
        else:
            assert _SAMPLE.match(line), line
    assert 'queue_max_jobs{shard="0",status="pending"}' in text
    assert "queue_max_jobs_processed_total" in families and "queue_max_oldest_ready_job_age_seconds" in families
    assert 'queue_max_worker_circuit_state{worker="w\\"quoted\\"",state="closed"} 1' in text
    assert 'queue_max_worker_rate_limiter_tokens{worker="w\\"quoted\\""} 12.5' in text


@pytest.mark.skipif(text_string_to_metric_families is None, reason="prometheus_client is not installed")
def test_metrics_parse_with_the_prometheus_client_parser(cli, data_dir, make_cli_queue):
    queue = make_cli_queue(shards=2)
    queue.enqueue({})
    queue.complete_job(queue.claim_jobs("w", 1)[0])
    queue.enqueue({})
    _status(data_dir, "w-1", circuit_state="half_open")
    parsed = {family.name: family for family in text_string_to_metric_families(cli("metrics").out)}
    jobs = {(s.labels["shard"], s.labels["status"]): s.value for s in parsed["queue_max_jobs"].samples}
    assert sum(v for (_shard, status), v in jobs.items() if status == "completed") == 1
    assert parsed["queue_max_jobs_processed"].type == "counter"
    assert sum(s.value for s in parsed["queue_max_jobs_processed"].samples) == 1
    assert parsed["queue_max_ready_jobs"].samples[0].value == 1
    states = {s.labels["state"]: s.value for s in parsed["queue_max_worker_circuit_state"].samples}
    assert states == {"closed": 0, "open": 0, "half_open": 1}
