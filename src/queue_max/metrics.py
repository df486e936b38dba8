"""Event metrics for Prometheus: totals from the persisted rollup, the text exposition, and a
`prometheus_client` collector for applications that already expose one.

    from prometheus_client import REGISTRY
    REGISTRY.register(QueueMaxCollector(queue))

Event metrics carry `queue` and `task` labels only (never a job id or a shard); failure
`error_type` values are capped at `MAX_ERROR_TYPES` per task, the rest counted as "other".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .models import HISTOGRAM_BUCKETS, MetricRow, WorkerPresence

if TYPE_CHECKING:
    from .queue import Queue

__all__ = ["MAX_ERROR_TYPES", "EventTotals", "Exposition", "QueueMaxCollector", "add_event_metrics",
           "add_ready_metrics", "add_registry_metrics", "add_shard_job_metrics", "add_task_circuit_metrics",
           "render_event_metrics", "render_queue_metrics"]

MAX_ERROR_TYPES = 20
_BOUNDS = [repr(bound) for bound in HISTOGRAM_BUCKETS] + ["+Inf"]

Labels = tuple[str, str]  # (queue, task)


@dataclass
class Histogram:
    buckets: dict[str, float] = field(default_factory=dict)  # upper bound -> count in that bucket
    total: float = 0.0

    def cumulative(self) -> list[tuple[str, float]]:
        running, out = 0.0, []
        for bound in _BOUNDS:
            running += self.buckets.get(bound, 0.0)
            out.append((bound, running))
        return out


@dataclass
class EventTotals:
    """All-time sums of the rollup, by label set."""

    enqueued: dict[Labels, float] = field(default_factory=lambda: defaultdict(float))
    attempts: dict[tuple[str, str, str], float] = field(default_factory=lambda: defaultdict(float))
    failures: dict[tuple[str, str, str], float] = field(default_factory=lambda: defaultdict(float))
    duration: dict[Labels, Histogram] = field(default_factory=lambda: defaultdict(Histogram))
    wait: dict[Labels, Histogram] = field(default_factory=lambda: defaultdict(Histogram))

    @classmethod
    def of(cls, rows: Iterable[MetricRow]) -> EventTotals:
        totals = cls()
        for row in rows:
            labels = (row.queue, row.task)
            if row.name == "enqueued":
                totals.enqueued[labels] += row.value
            elif row.name == "attempt":
                totals.attempts[(*labels, row.label)] += row.value
            elif row.name == "failure":
                totals.failures[(*labels, row.label)] += row.value
            elif row.name in ("duration", "wait"):
                histogram = (totals.duration if row.name == "duration" else totals.wait)[labels]
                if row.label == "sum":
                    histogram.total += row.value
                else:
                    histogram.buckets[row.label] = histogram.buckets.get(row.label, 0.0) + row.value
        totals.failures = _cap_error_types(totals.failures)
        return totals


def _cap_error_types(failures: dict[tuple[str, str, str], float]) -> dict[tuple[str, str, str], float]:
    by_task: dict[Labels, list[tuple[float, str]]] = defaultdict(list)
    for (queue, task, error_type), count in failures.items():
        by_task[(queue, task)].append((count, error_type))
    capped: dict[tuple[str, str, str], float] = defaultdict(float)
    for (queue, task), counts in by_task.items():
        counts.sort(key=lambda item: (-item[0], item[1]))
        for rank, (count, error_type) in enumerate(counts):
            capped[(queue, task, error_type if rank < MAX_ERROR_TYPES else "other")] += count
    return capped


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Exposition:
    """Lines of the Prometheus text format (0.0.4), one metric family at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, Any], float]],
               suffix: str = "") -> None:
        self.lines.append(f"# HELP queue_max_{name} {help_text}")
        self.lines.append(f"# TYPE queue_max_{name} {kind}")
        self.samples(name + suffix, samples)

    def samples(self, name: str, samples: Iterable[tuple[dict[str, Any], float]]) -> None:
        for labels, value in samples:
            text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
            self.lines.append(f"queue_max_{name}{{{text}}} {_number(value)}" if text
                              else f"queue_max_{name} {_number(value)}")

    def histogram(self, name: str, help_text: str, series: dict[Labels, Histogram]) -> None:
        self.lines.append(f"# HELP queue_max_{name} {help_text}")
        self.lines.append(f"# TYPE queue_max_{name} histogram")
        for (queue, task), histogram in sorted(series.items()):
            labels = {"queue": queue, "task": task}
            cumulative = histogram.cumulative()
            self.samples(name + "_bucket", [({**labels, "le": bound}, count) for bound, count in cumulative])
            self.samples(name + "_sum", [(labels, histogram.total)])
            self.samples(name + "_count", [(labels, cumulative[-1][1])])

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def add_event_metrics(out: Exposition, rows: Iterable[MetricRow]) -> None:
    totals = EventTotals.of(rows)
    out.family("jobs_enqueued_total", "counter", "Jobs enqueued, by queue and task.",
               [({"queue": q, "task": t}, v) for (q, t), v in sorted(totals.enqueued.items())])
    out.family("job_attempts_total", "counter",
               "Finished job attempts by outcome (completed, retry, dead_letter, timeout, lease_lost).",
               [({"queue": q, "task": t, "outcome": o}, v) for (q, t, o), v in sorted(totals.attempts.items())])
    out.family("job_failures_total", "counter",
               f"Failed job attempts by error type (at most {MAX_ERROR_TYPES} types per task, the rest as 'other').",
               [({"queue": q, "task": t, "error_type": e}, v) for (q, t, e), v in sorted(totals.failures.items())])
    out.histogram("job_duration_seconds", "Seconds from claim to the end of each finished attempt.", totals.duration)
    out.histogram("job_wait_seconds", "Seconds a job waited from due to claimed, per finished attempt.", totals.wait)


def add_shard_job_metrics(out: Exposition, per_shard: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
    """Jobs by status, scheduled jobs and dead letters of each shard (its `counts()`)."""
    out.family("jobs", "gauge", "Jobs stored, by shard and status (pending includes scheduled).",
               [({"shard": sid, "status": status}, counts.get(status) or 0) for sid, counts in per_shard
                for status in ("pending", "processing", "completed", "failed", "cancelled")])
    out.family("scheduled_jobs", "gauge", "Pending jobs whose run_at is still in the future, by shard.",
               [({"shard": sid}, counts.get("scheduled") or 0) for sid, counts in per_shard])
    out.family("dead_letter_jobs", "gauge", "Entries in the dead-letter queue, by shard.",
               [({"shard": sid}, counts.get("dead_letter") or 0) for sid, counts in per_shard])


def add_ready_metrics(out: Exposition, ready: int, oldest_ready_age: float | None) -> None:
    """The store's backlog: jobs claimable now, and how long the oldest of them has been due."""
    out.family("ready_jobs", "gauge", "Jobs that could be claimed now.", [({}, ready)])
    out.family("oldest_ready_job_age_seconds", "gauge",
               "Seconds the oldest claimable job has been due (0 when none is ready).",
               [({}, oldest_ready_age or 0.0)])


def add_task_circuit_metrics(out: Exposition, task_circuits: dict[str, dict[str, Any]]) -> None:
    """The host-wide breakers of tasks that have their own (`Queue.task_circuits()`)."""
    out.family("task_circuit_state", "gauge",
               "Host-wide circuit breaker state of each task that has its own (1 = current state).",
               [({"task": name, "state": state}, 1 if t["circuit_state"] == state else 0)
                for name, t in task_circuits.items() for state in ("closed", "open", "half_open")])
    out.family("task_circuit_failures", "gauge", "Consecutive failures counted by each task's own breaker.",
               [({"task": name}, t["circuit_failures"]) for name, t in task_circuits.items()])


def add_registry_metrics(out: Exposition, workers: Sequence[WorkerPresence], now: float, stale_after: float) -> None:
    """Every worker in the registry, whatever started it (on PostgreSQL, of every host)."""
    stale = sum(1 for w in workers if w.age(now) > stale_after)
    out.family("registered_workers", "gauge",
               "Workers in the registry: live, or stale (no heartbeat for three intervals: dead or hung).",
               [({"state": "live"}, len(workers) - stale), ({"state": "stale"}, stale)])
    out.family("worker_heartbeat_age_seconds", "gauge", "Seconds since each registered worker's last heartbeat.",
               [({"worker": w.worker_id, "host": w.host, "pid": w.pid}, round(w.age(now), 3)) for w in workers])
    out.family("worker_running_jobs", "gauge", "Jobs each registered worker's handlers are running now.",
               [({"worker": w.worker_id, "host": w.host, "pid": w.pid}, w.running) for w in workers])


def render_event_metrics(rows: Iterable[MetricRow]) -> str:
    """The event metrics alone, in the Prometheus text format."""
    out = Exposition()
    add_event_metrics(out, rows)
    return out.text()


def render_queue_metrics(queue: Queue, counts: list[dict[str, int]] | None = None,
                         oldest_ready_age: float | None = None) -> str:
    """The queue's gauges (as `queue-max metrics` names them) and its event metrics; pass
    `counts` (per shard) and `oldest_ready_age` if you have just read them."""
    out = Exposition()
    if counts is None:
        counts = [queue.counts(shard_id) for shard_id in range(queue.num_shards)]
        oldest_ready_age = queue.oldest_ready_age()
    per_shard = list(enumerate(counts))
    add_shard_job_metrics(out, per_shard)
    add_ready_metrics(out, sum(c["pending"] - c["scheduled"] for _sid, c in per_shard), oldest_ready_age)
    add_task_circuit_metrics(out, queue.task_circuits())
    add_registry_metrics(out, queue.workers(), queue.clock.time(), queue.stale_worker_after)
    add_event_metrics(out, queue.event_metrics())
    return out.text()


class QueueMaxCollector:
    """A `prometheus_client` collector of the queue's gauges and event metrics (read at scrape)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def describe(self) -> list[Any]:
        return []  # no fixed description: the registry asks `collect` when it needs names

    def collect(self) -> Iterator[Any]:
        from prometheus_client.parser import text_string_to_metric_families

        yield from text_string_to_metric_families(render_queue_metrics(self.queue))
