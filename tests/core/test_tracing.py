"""OpenTelemetry: PRODUCER `send` spans on enqueue, CONSUMER `process` spans per attempt, the
trace context stored beside the job (never in the payload), across retries and processes,
checked with the SDK's in-memory exporter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from queue_max import Queue, tracing
from queue_max.workers import Worker

SRC = Path(__file__).resolve().parents[2] / "src"


def run_burst(queue: Queue, handler: Callable[[dict[str, Any]], Any]) -> None:
    worker = Worker("w", handler, queue, poll_interval=0.02, burst=True)
    worker.start()
    assert worker.wait(20)


def by_kind(exporter: InMemorySpanExporter, kind: SpanKind) -> list[Any]:
    return [span for span in exporter.get_finished_spans() if span.kind is kind]


def test_tracing_is_a_no_op_without_a_tracer_provider(make_queue):
    queue = make_queue(shards=1)
    job_id = queue.enqueue({"n": 1})["id"]
    assert not tracing.active() and queue.trace_contexts([job_id]) == {}


def test_an_enqueue_opens_a_producer_span_and_stores_its_context_beside_the_job(make_queue, spans):
    queue = make_queue(shards=2)
    job_id = queue.enqueue({"n": 1}, dedupe_key="k")["id"]
    (send,) = by_kind(spans, SpanKind.PRODUCER)
    assert send.name == "send default"
    assert send.attributes["messaging.system"] == "queue-max"
    assert send.attributes["messaging.operation.type"] == "send"
    assert send.attributes["messaging.message.id"] == str(job_id)
    # the context is stored with the job, and the payload and dedupe key are untouched
    stored = json.loads(queue.trace_contexts([job_id])[job_id])
    assert f"{send.context.trace_id:032x}" in stored["traceparent"]
    job = queue.get_job(job_id)
    assert job.payload == {"n": 1} and job.dedupe_key == "k"
    assert queue.enqueue({"n": 2}, dedupe_key="k")["id"] == job_id


def test_each_attempt_gets_a_consumer_span_linked_to_the_producer_and_failures_are_marked(make_queue, spans):
    queue = make_queue(shards=1, retry_backoff=0.0)
    queue.enqueue({"n": 1})
    calls: list[int] = []

    def flaky(payload: dict[str, Any]) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("down")
        return "ok"

    run_burst(queue, flaky)
    (send,) = by_kind(spans, SpanKind.PRODUCER)
    first, second = sorted(by_kind(spans, SpanKind.CONSUMER), key=lambda span: span.start_time)
    for span in (first, second):
        assert span.name == "process default"
        assert [link.context.span_id for link in span.links] == [send.context.span_id]
        assert span.context.trace_id != send.context.trace_id  # a new trace, linked
    assert first.attributes["error.type"] == "ConnectionError" and first.status.status_code is StatusCode.ERROR
    assert second.status.status_code is not StatusCode.ERROR and "error.type" not in second.attributes
    assert (first.attributes["queue_max.job.attempt"], second.attributes["queue_max.job.attempt"]) == (1, 2)


def test_the_consumer_span_can_be_the_producer_span_s_child(make_queue, spans):
    tracing.set_consumer_as_child(True)
    queue = make_queue(shards=1)
    queue.enqueue_batch([{"payload": {"n": n}} for n in range(3)])
    run_burst(queue, lambda payload: None)
    (send,) = by_kind(spans, SpanKind.PRODUCER)
    assert send.attributes["messaging.batch.message_count"] == 3
    consumers = by_kind(spans, SpanKind.CONSUMER)
    assert len(consumers) == 3
    assert all(span.parent.span_id == send.context.span_id for span in consumers)


WORKER = textwrap.dedent("""
    import json, sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from queue_max import Queue, tracing
    from queue_max.workers import Worker

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)

    def handler(payload):
        if payload["n"] == 1:
            raise ValueError("bad input")

    queue = Queue(data_dir=sys.argv[1], rate_limit=0)
    worker = Worker("child", handler, queue, poll_interval=0.02, burst=True)
    worker.start()
    assert worker.wait(30)
    queue.close()
    json.dump([{"name": s.name, "kind": s.kind.name, "links": [[l.context.trace_id, l.context.span_id] for l in s.links],
                "error": s.attributes.get("error.type"), "status": s.status.status_code.name}
               for s in exporter.get_finished_spans()], open(sys.argv[2], "w"))
""")


def test_the_trace_crosses_into_a_worker_subprocess(make_queue, spans, tmp_path):
    # Given two jobs enqueued under spans in this process
    queue = make_queue(shards=2)
    queue.enqueue({"n": 0})
    queue.enqueue({"n": 1})
    sends = {(span.context.trace_id, span.context.span_id) for span in by_kind(spans, SpanKind.PRODUCER)}
    assert len(sends) == 2
    # When a worker in another process runs them with its own tracer provider
    out = tmp_path / "spans.json"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-c", WORKER, str(tmp_path / "data"), str(out)], check=True, env=env, timeout=90)
    # Then each of its process spans links to the send span of its job, and the failure shows
    processed = json.loads(out.read_text())
    assert {span["kind"] for span in processed} == {"CONSUMER"}
    assert {tuple(span["links"][0]) for span in processed} == sends
    assert sorted((str(span["error"]), span["status"]) for span in processed) == [
        ("None", "UNSET"), ("ValueError", "ERROR")]
