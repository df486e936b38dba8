"""OpenTelemetry tracing (extra `otel`, the API package only): a no-op unless the application
has installed a tracer provider.

Following the messaging semantic conventions, enqueueing opens a PRODUCER span `send <queue>`
whose W3C trace context is stored beside the job (not in its payload, so payloads and dedupe
keys are untouched) and kept across retries; every attempt a worker of any kind runs (thread,
async, or a `--processes` child) opens a CONSUMER span `process <queue>` linked to it (or its
child, after `set_consumer_as_child(True)`). `<queue>` is the job's named queue. A failed
attempt records `error.type` and an ERROR status."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Collection, Iterator
from typing import Any

from ._version import __version__

try:  # the `otel` extra
    from opentelemetry import propagate as _propagate
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - depends on the installed extras
    _trace = None  # type: ignore[assignment]
    _propagate = None  # type: ignore[assignment]

__all__ = ["RECHECK_EVERY", "SYSTEM", "active", "consumer_span", "producer_span", "record_failure", "set_consumer_as_child",
           "use_tracer_provider"]

SYSTEM = "queue-max"
_state: dict[str, Any] = {"as_child": False, "provider": None, "global": False, "checked": -1.0}
# How often (seconds) `active()` looks at the global tracer provider again: looking costs more
# than an enqueue should pay, and a provider is installed once, at start-up.
RECHECK_EVERY = 1.0


def use_tracer_provider(provider: Any) -> None:
    """Trace with `provider` instead of the global one (None: back to the global provider)."""
    _state["provider"] = provider
    _state["checked"] = -1.0


def _provider() -> Any:
    return _state["provider"] if _state["provider"] is not None else _trace.get_tracer_provider()


def active() -> bool:
    """Whether spans would be recorded: the API is installed and a real provider is set (one
    installed globally is noticed within `RECHECK_EVERY` seconds)."""
    if _trace is None:
        return False
    if _state["provider"] is not None:
        return True
    now = time.monotonic()
    if now - _state["checked"] >= RECHECK_EVERY:
        provider = _trace.get_tracer_provider()
        _state["global"] = not isinstance(provider, (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider))
        _state["checked"] = now
    return bool(_state["global"])


def set_consumer_as_child(as_child: bool) -> None:
    """Make each `process` span a child of its `send` span instead of a new trace linked to it."""
    _state["as_child"] = bool(as_child)


def _tracer() -> Any:
    return _provider().get_tracer("queue_max", __version__)


@contextlib.contextmanager
def producer_span(queue_names: Collection[str], count: int) -> Iterator[tuple[Any, str | None]]:
    """A PRODUCER `send` span around an enqueue of `count` jobs to the named queues; yields
    (span, the context to store or None).

    A batch to one queue is `send <queue>` with that destination; a batch spread over several
    queues has no single destination, so the conventions name its span `send` and set none."""
    if not active():
        yield None, None
        return
    attributes: dict[str, Any] = {"messaging.system": SYSTEM, "messaging.operation.type": "send",
                                  "messaging.operation.name": "send"}
    name = "send"
    if len(queue_names) == 1:
        (queue_name,) = queue_names
        attributes["messaging.destination.name"] = queue_name
        name = f"send {queue_name}"
    if count > 1:
        attributes["messaging.batch.message_count"] = count
    with _tracer().start_as_current_span(name, kind=_trace.SpanKind.PRODUCER,
                                         attributes=attributes) as span:
        carrier: dict[str, str] = {}
        _propagate.inject(carrier)
        yield span, (json.dumps(carrier, separators=(",", ":")) if carrier else None)


@contextlib.contextmanager
def consumer_span(queue_name: str, job_id: int, attempt: int, stored: str | None) -> Iterator[Any]:
    """A CONSUMER `process` span around one attempt, linked to (or child of) its `send` span."""
    if not active():
        yield None
        return
    parent_context = None
    links = []
    if stored:
        try:
            carrier = json.loads(stored)
        except ValueError:
            carrier = {}
        producer = _propagate.extract(carrier)
        producer_span_context = _trace.get_current_span(producer).get_span_context()
        if producer_span_context.is_valid:
            if _state["as_child"]:
                parent_context = producer
            else:
                links.append(_trace.Link(producer_span_context))
    attributes = {"messaging.system": SYSTEM, "messaging.operation.type": "process",
                  "messaging.operation.name": "process", "messaging.destination.name": queue_name,
                  "messaging.message.id": str(job_id), "queue_max.job.attempt": attempt}
    with _tracer().start_as_current_span(f"process {queue_name}", context=parent_context,
                                         kind=_trace.SpanKind.CONSUMER, links=links, attributes=attributes,
                                         record_exception=False, set_status_on_exception=False) as span:
        yield span


def record_failure(span: Any, error: BaseException) -> None:
    """Mark a `process` span failed: `error.type`, the exception event, ERROR status."""
    if span is None:
        return
    span.set_attribute("error.type", type(error).__qualname__)
    span.record_exception(error)
    span.set_status(_trace.Status(_trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"[:500]))
