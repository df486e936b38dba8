"""Event metrics are labelled with each job's named queue, wherever they are exported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cli_fixtures.helpers import cli, data_dir, make_cli_queue  # noqa: F401 - fixtures
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from queue_max import Queue
from queue_max.dashboard import Dashboard, Request
from queue_max.metrics import QueueMaxCollector


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


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
    response = Dashboard(queue, allow_anonymous=True).handle(Request("GET", "/metrics", headers={"host": "x"}))
    assert response.status == 200
    check_per_queue(samples(response.body.decode()))


def test_the_collector_has_a_series_per_named_queue(make_queue: Callable[..., Queue]):
    queue = make_queue(shards=2)
    work_on_two_queues(queue)
    registry = CollectorRegistry()
    registry.register(QueueMaxCollector(queue))
    check_per_queue(samples(generate_latest(registry).decode()))
