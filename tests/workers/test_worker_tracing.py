"""Every worker kind opens a CONSUMER `process <queue>` span per attempt, linked to the job's
PRODUCER `send <queue>` span, and spans are named after the job's queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli_fixtures.helpers import module_env
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from task_modules.traced import SPANS_ENV, spans_of

from queue_max import Queue, tracing
from queue_max.workers import AsyncWorker, Worker


def by_kind(exporter: InMemorySpanExporter, kind: SpanKind) -> list[Any]:
    return sorted((span for span in exporter.get_finished_spans() if span.kind is kind),
                  key=lambda span: span.start_time)


def fails_first_attempt(calls: list[int]) -> Callable[[dict[str, Any]], Any]:
    def handler(payload: dict[str, Any]) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("down")
        return "ok"

    return handler


def test_spans_are_named_after_the_jobs_queue(make_queue, spans):
    # Given a job on the "emails" queue, run by a thread worker
    queue = make_queue(shards=2, retry_backoff=0.0)
    queue.enqueue({"n": 1}, queue_name="emails")
    worker = Worker("w", lambda payload: None, queue, poll_interval=0.02, burst=True)
    worker.start()
    assert worker.wait(20)
    # Then both spans carry the queue as their destination and in their names
    (send,) = by_kind(spans, SpanKind.PRODUCER)
    (process,) = by_kind(spans, SpanKind.CONSUMER)
    assert (send.name, process.name) == ("send emails", "process emails")
    assert send.attributes["messaging.destination.name"] == process.attributes["messaging.destination.name"] == "emails"


def test_a_batch_over_several_queues_has_no_single_destination(make_queue, spans):
    queue = make_queue(shards=1)
    queue.enqueue_batch([{"payload": {"n": 1}, "queue_name": "emails"}, {"payload": {"n": 2}, "queue_name": "reports"}])
    queue.enqueue_batch([{"payload": {"n": 3}, "queue_name": "reports"}] * 2)
    mixed, reports = by_kind(spans, SpanKind.PRODUCER)
    assert mixed.name == "send" and "messaging.destination.name" not in mixed.attributes
    assert mixed.attributes["messaging.batch.message_count"] == 2
    assert reports.name == "send reports" and reports.attributes["messaging.destination.name"] == "reports"


def test_the_async_worker_opens_a_linked_consumer_span_per_attempt(make_queue, spans):
    # Given a job on "emails" whose first attempt fails
    queue = make_queue(shards=1, retry_backoff=0.0)
    queue.enqueue({"n": 1}, queue_name="emails")
    calls: list[int] = []
    sync_handler = fails_first_attempt(calls)

    async def handler(payload: dict[str, Any]) -> str:
        return sync_handler(payload)

    # When an AsyncWorker runs it to completion
    worker = AsyncWorker("aw", handler, queue, poll_interval=0.02, burst=True)
    worker.start()
    assert worker.wait(20)
    # Then each attempt has its own process span, linked to the send span, the failure marked
    (send,) = by_kind(spans, SpanKind.PRODUCER)
    first, second = by_kind(spans, SpanKind.CONSUMER)
    for span in (first, second):
        assert span.name == "process emails"
        assert [link.context.span_id for link in span.links] == [send.context.span_id]
    assert first.attributes["error.type"] == "ConnectionError" and first.status.status_code is StatusCode.ERROR
    assert second.status.status_code is StatusCode.UNSET and "error.type" not in second.attributes
    assert (first.attributes["queue_max.job.attempt"], second.attributes["queue_max.job.attempt"]) == (1, 2)


def test_the_async_worker_s_span_can_be_the_producer_span_s_child(make_queue, spans):
    tracing.set_consumer_as_child(True)
    queue = make_queue(shards=1)
    queue.enqueue({"n": 1})

    async def handler(payload: dict[str, Any]) -> None:
        return None

    worker = AsyncWorker("aw", handler, queue, poll_interval=0.02, burst=True)
    worker.start()
    assert worker.wait(20)
    (send,) = by_kind(spans, SpanKind.PRODUCER)
    (process,) = by_kind(spans, SpanKind.CONSUMER)
    assert process.parent.span_id == send.context.span_id and process.context.trace_id == send.context.trace_id


def test_worker_processes_open_a_consumer_span_per_attempt_linked_to_the_producer(make_queue, spans, tmp_path: Path):
    # Given four task jobs on "emails" enqueued under send spans here; the odd ones fail once
    queue = make_queue(shards=2)
    for n in range(4):
        queue.enqueue({"__task__": "traced.flaky", "args": [n], "kwargs": {}}, queue_name="emails")
    sends = {span.context.span_id: span for span in by_kind(spans, SpanKind.PRODUCER)}
    assert len(sends) == 4
    # When `queue-max worker --processes 2` runs them, its processes exporting spans to a file
    out = tmp_path / "spans.jsonl"
    env = {**module_env(), SPANS_ENV: str(out)}
    run = subprocess.run([sys.executable, "-m", "queue_max", "--data-dir", str(tmp_path / "data"), "worker",
                          "--tasks", "task_modules.traced", "--processes", "2", "--burst", "--rate-limit", "0"],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    # Then there is one process span per attempt (six), each linked to its job's send span
    processed = [span for span in spans_of(str(out)) if span["kind"] == "CONSUMER"]
    assert len(processed) == 6, json.dumps(processed, indent=1)
    assert {span["name"] for span in processed} == {"process emails"}
    per_job: dict[str, list[dict[str, Any]]] = {}
    for span in processed:
        (link,) = span["links"]
        send = sends[link[1]]
        assert link[0] == send.context.trace_id
        per_job.setdefault(span["attributes"]["messaging.message.id"], []).append(span)
    assert sorted(len(attempts) for attempts in per_job.values()) == [1, 1, 2, 2]
    failed = [span for span in processed if span["status"] == "ERROR"]
    assert len(failed) == 2 and {span["attributes"]["error.type"] for span in failed} == {"ConnectionError"}
    assert all(span["attributes"]["queue_max.job.attempt"] == 1 for span in failed)
    assert all(span["pid"] != os.getpid() for span in processed)
