"""Per-job log lines at INFO on `queue_max.jobs`, as Celery users expect: off by default."""

from __future__ import annotations

import logging
import re

from queue_max.workers import Worker


def run_burst(queue, handler) -> None:
    worker = Worker("w", handler, queue, poll_interval=0.02, burst=True)
    worker.start()
    assert worker.wait(20)


def test_job_lines_are_silent_by_default_even_with_the_root_logger_at_info(make_queue, caplog):
    queue = make_queue(shards=1)
    queue.enqueue({"n": 1})
    with caplog.at_level(logging.INFO):  # the root logger
        run_burst(queue, lambda payload: None)
    assert not [r for r in caplog.records if r.name == "queue_max.jobs"]


def test_with_the_jobs_logger_at_info_each_job_says_received_and_how_it_ended(make_queue, caplog):
    queue = make_queue(shards=1)
    ok = queue.enqueue({"__task__": "mail.send", "args": [], "kwargs": {}})["id"]
    bad = queue.enqueue({"n": 2})["id"]

    def handler(payload):
        if "n" in payload:
            raise ValueError("nope")

    with caplog.at_level(logging.INFO, logger="queue_max.jobs"):
        run_burst(queue, handler)
    lines = [r.getMessage() for r in caplog.records if r.name == "queue_max.jobs"]
    assert f"job {ok} received (task mail.send, attempt 1)" in lines
    assert any(re.fullmatch(rf"job {ok} succeeded in \d+\.\d{{3}}s", line) for line in lines)
    assert any(re.fullmatch(rf"job {bad} failed in \d+\.\d{{3}}s: ValueError: nope", line) for line in lines)
