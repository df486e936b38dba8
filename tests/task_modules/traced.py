"""Tasks on the "emails" queue for a traced worker subprocess (`--tasks task_modules.traced`).

When QUEUE_MAX_TEST_SPANS names a file, importing this module installs a global tracer provider
whose spans are appended to that file, one JSON line each, so the test reads what every worker
process of `queue-max worker --processes N` recorded."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from queue_max.tasks import task
from queue_max.workers.context import current_job

__all__ = ["SPANS_ENV", "flaky", "install_file_exporter", "spans_of"]

SPANS_ENV = "QUEUE_MAX_TEST_SPANS"


def install_file_exporter(path: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class FileExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            for span in spans:
                line = json.dumps({
                    "name": span.name, "kind": span.kind.name, "pid": os.getpid(),
                    "trace_id": span.context.trace_id, "span_id": span.context.span_id,
                    "parent": span.parent.span_id if span.parent else None,
                    "links": [[link.context.trace_id, link.context.span_id] for link in span.links],
                    "attributes": dict(span.attributes or {}), "status": span.status.status_code.name,
                })
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, (line + "\n").encode())  # one append per line: processes never interleave
                finally:
                    os.close(fd)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
    trace.set_tracer_provider(provider)


if os.environ.get(SPANS_ENV):
    install_file_exporter(os.environ[SPANS_ENV])


@task(name="traced.flaky", queue_name="emails", max_retries=2, retry_backoff=0.0)
def flaky(n: int) -> int:
    """Fails its first attempt when `n` is odd, then succeeds."""
    ctx = current_job()
    if n % 2 and ctx is not None and ctx.job.attempts == 1:
        raise ConnectionError(f"job {n}: first attempt fails")
    return n


def spans_of(path: str) -> list[dict[str, Any]]:
    with open(path) as lines:
        return [json.loads(line) for line in lines if line.strip()]
