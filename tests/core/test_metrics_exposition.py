"""Event metrics as Prometheus sees them: `queue-max metrics`, the dashboard's /metrics and the
prometheus_client collector all parse with prometheus_client's own parser, add up across
processes and survive restarts; every event series carries its job's named queue."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_fixtures.helpers import cli, data_dir, make_cli_queue  # noqa: F401 - fixtures
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from queue_max import Queue
from queue_max.dashboard import Dashboard, Request
from queue_max.metrics import MAX_ERROR_TYPES, QueueMaxCollector, render_event_metrics
from queue_max.models import MetricRow, WorkerPresence

SRC = Path(__file__).resolve().parents[2] / "src"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def metrics_page(queue: Queue) -> Any:
    """The dashboard's /metrics response."""
    return Dashboard(queue, allow_anonymous=True).handle(Request("GET", "/metrics", headers={"host": "x"}))


def collected(queue: Queue) -> str:
    """What a prometheus_client registry holding the queue's collector exposes."""
    registry = CollectorRegistry()
    registry.register(QueueMaxCollector(queue))
    return generate_latest(registry).decode()


def work(queue: Queue) -> None:
    """Three mail jobs done, one retried, one dead; two pdf jobs waiting."""
    for i in range(5):
        queue.enqueue({"__task__": "mail.send", "args": [i], "kwargs": {}})
    queue.enqueue_batch([{"payload": {"__task__": "pdf.render", "args": [], "kwargs": {}}}] * 2)
    jobs = [job for job in queue.claim_jobs("w", 10) if job.payload["__task__"] == "mail.send"]
    queue.complete_jobs([(job, None) for job in jobs[:3]])
    queue.fail_job(jobs[3], error=ConnectionError("down"))
    queue.fail_job(jobs[4], error=ValueError("bad"), permanent=True)


def check_event_samples(got: dict[Any, float]) -> None:
    mail = (("queue", "default"), ("task", "mail.send"))
    assert got[("queue_max_jobs_enqueued_total", mail)] == 5
    assert got[("queue_max_jobs_enqueued_total", (("queue", "default"), ("task", "pdf.render")))] == 2
    for outcome, count in (("completed", 3), ("retry", 1), ("dead_letter", 1)):
        assert got[("queue_max_job_attempts_total", (("outcome", outcome), *mail))] == count
    assert got[("queue_max_job_failures_total", (("error_type", "ConnectionError"), *mail))] == 1
    assert got[("queue_max_job_duration_seconds_count", mail)] == 5
    assert got[("queue_max_job_duration_seconds_bucket", (("le", "+Inf"), *mail))] == 5
    assert ("queue_max_job_wait_seconds_sum", mail) in got
    # no job id and no shard label on any event metric
    for name, labels in got:
        if name.startswith(("queue_max_job_", "queue_max_jobs_enqueued")):
            assert {key for key, _ in labels} <= {"queue", "task", "outcome", "error_type", "le"}, (name, labels)


def test_queue_max_metrics_prints_event_metrics_that_the_prometheus_parser_reads(cli, make_cli_queue):
    queue = make_cli_queue()
    work(queue)
    queue.close()  # a producer writes its last second of figures when it closes
    check_event_samples(samples(cli("metrics").out))


def test_the_dashboard_serves_the_same_metrics(make_queue: Callable[..., Queue]):
    queue = make_queue(shards=2)
    work(queue)
    response = metrics_page(queue)
    assert response.status == 200 and response.content_type.startswith("text/plain; version=0.0.4")
    got = samples(response.body.decode())
    check_event_samples(got)
    running = sum(v for (name, labels), v in got.items() if name == "queue_max_jobs" and ("status", "processing") in labels)
    assert running == 2 and ("queue_max_ready_jobs", ()) in got  # the two pdf jobs, claimed and never acked


def test_the_collector_exports_through_a_prometheus_client_registry(make_queue: Callable[..., Queue]):
    queue = make_queue(shards=2)
    work(queue)
    check_event_samples(samples(collected(queue)))


def test_metrics_add_up_across_processes_and_survive_a_restart(tmp_path: Path):
    data = tmp_path / "data"
    code = ("import sys; from queue_max import Queue; q = Queue(data_dir=sys.argv[1], shards=2, rate_limit=0); "
            "[q.enqueue({'__task__': 'mail.send', 'args': [], 'kwargs': {}}) for _ in range(3)]; "
            "q.complete_jobs([(j, None) for j in q.claim_jobs('w', 3)]); q.close()")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    # Given two processes that each enqueued and completed three jobs, one after the other
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code, str(data)], check=True, env=env, timeout=60)
    # When the queue is opened afresh
    with Queue(data_dir=data, rate_limit=0) as queue:
        got = samples(render_event_metrics(queue.event_metrics()))
    # Then the counts of both are there
    mail = (("outcome", "completed"), ("queue", "default"), ("task", "mail.send"))
    assert got[("queue_max_job_attempts_total", mail)] == 6


def test_error_types_are_capped_per_task():
    rows = [MetricRow(60, "default", "t", "failure", f"Error{i}", float(i + 1)) for i in range(MAX_ERROR_TYPES + 5)]
    got = samples(render_event_metrics(rows))
    types = [dict(labels)["error_type"] for name, labels in got if name == "queue_max_job_failures_total"]
    assert len(types) == MAX_ERROR_TYPES + 1 and "other" in types
    other = (("error_type", "other"), ("queue", "default"), ("task", "t"))
    assert got[("queue_max_job_failures_total", other)] == sum(range(1, 6))  # the five rarest


def work_on_two_queues(queue: Queue) -> None:
    """emails: three sends done and one dead; reports: two renders done, one retried."""
    for i in range(4):
        queue.enqueue({"__task__": "mail.send", "args": [i], "kwargs": {}}, queue_name="emails")
    queue.enqueue_batch([{"payload": {"__task__": "pdf.render", "args": [], "kwargs": {}}, "queue_name": "reports"}] * 3)
    emails = queue.claim_jobs("w", 10, queues=["emails"])
    reports = queue.claim_jobs("w", 10, queues=["reports"])
    queue.complete_jobs([(job, None) for job in emails[:3] + reports[:2]])
    queue.fail_job(emails[3], error=ValueError("bad"), permanent=True)
    queue.fail_job(reports[2], error=ConnectionError("down"))


def check_per_queue(got: dict[Any, float]) -> None:
    mail = (("queue", "emails"), ("task", "mail.send"))
    pdf = (("queue", "reports"), ("task", "pdf.render"))
    assert got[("queue_max_jobs_enqueued_total", mail)] == 4
    assert got[("queue_max_jobs_enqueued_total", pdf)] == 3
    assert got[("queue_max_job_attempts_total", (("outcome", "completed"), *mail))] == 3
    assert got[("queue_max_job_attempts_total", (("outcome", "completed"), *pdf))] == 2
    assert got[("queue_max_job_attempts_total", (("outcome", "dead_letter"), *mail))] == 1
    assert got[("queue_max_job_attempts_total", (("outcome", "retry"), *pdf))] == 1
    assert got[("queue_max_job_failures_total", (("error_type", "ValueError"), *mail))] == 1
    assert got[("queue_max_job_failures_total", (("error_type", "ConnectionError"), *pdf))] == 1
    assert got[("queue_max_job_duration_seconds_count", mail)] == 4
    assert got[("queue_max_job_wait_seconds_count", pdf)] == 3
    # no event series falls back to the default queue
    for name, labels in got:
        if name.startswith(("queue_max_job_", "queue_max_jobs_enqueued")):
            assert ("queue", "default") not in labels, (name, labels)


def test_queue_max_metrics_prints_a_series_per_named_queue(cli, make_cli_queue):
    # Given jobs done and failed on two named queues by a producer that has closed
    queue = make_cli_queue()
    work_on_two_queues(queue)
    queue.close()
    # When `queue-max metrics` runs, then each queue has its own series
    check_per_queue(samples(cli("metrics").out))


def test_the_dashboards_metrics_page_has_a_series_per_named_queue(make_queue: Callable[..., Queue]):
    queue = make_queue(shards=2)
    work_on_two_queues(queue)
    response = metrics_page(queue)
    assert response.status == 200
    check_per_queue(samples(response.body.decode()))


def test_the_collector_has_a_series_per_named_queue(make_queue: Callable[..., Queue]):
    queue = make_queue(shards=2)
    work_on_two_queues(queue)
    check_per_queue(samples(collected(queue)))


def test_every_exposition_shows_registered_workers_and_task_breakers(cli, make_cli_queue):
    # Given a live worker and a silent one in the registry, and a task whose own breaker is open
    queue = make_cli_queue()
    now = time.time()
    here = socket.gethostname()
    queue.backend.put_workers([
        WorkerPresence("live-1", here, os.getpid(), "Worker", None, 4, 3, now - 5, now),
        WorkerPresence("gone-1", "elsewhere.invalid", 7, "AsyncWorker", ("emails",), 8, 0, now - 600, now - 300),
    ])
    queue.backend.breaker_record("task:mail.send", "failure", 1, now)
    # When metrics are read from the CLI, the dashboard and the prometheus_client collector
    for text in (cli("metrics").out, metrics_page(queue).body.decode(), collected(queue)):
        got = samples(text)
        # Then each shows the workers, idle or not, and the task's open breaker
        assert got[("queue_max_registered_workers", (("state", "live"),))] == 1
        assert got[("queue_max_registered_workers", (("state", "stale"),))] == 1
        live = (("host", here), ("pid", str(os.getpid())), ("worker", "live-1"))
        assert got[("queue_max_worker_running_jobs", live)] == 3
        assert got[("queue_max_worker_heartbeat_age_seconds", live)] < 60
        gone = (("host", "elsewhere.invalid"), ("pid", "7"), ("worker", "gone-1"))
        assert got[("queue_max_worker_heartbeat_age_seconds", gone)] >= 300
        assert got[("queue_max_task_circuit_state", (("state", "open"), ("task", "mail.send")))] == 1
        assert got[("queue_max_task_circuit_failures", (("task", "mail.send"),))] == 1
