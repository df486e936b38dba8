"""Every feature works the same on both backends: the same tests on SQLite shards and on PostgreSQL.

The PostgreSQL URL carries a password (trust auth ignores it), so each test also shows that the
password never reaches what the user sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from _pg import PG_URL, drop_schema, fresh_schema, require_pg
from queue_max import JobStatus, Permanent, Queue
from queue_max.cli import main
from queue_max.config import ENV_VARS, Settings
from queue_max.workers import Worker
from _helpers import worker_running

SECRET = "s3cret-Parity"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    userinfo, _, host = rest.rpartition("@")
    return f"{scheme}://{userinfo.split(':')[0] or 'postgres'}:{SECRET}@{host}" if userinfo else url


class Store:
    """Where one test's queue lives, as the CLI and a Queue each name it."""

    def __init__(self, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        self.kind = kind
        self.data_dir = tmp_path / "data"
        self.schema = fresh_schema() if kind == "postgres" else None
        self.url = _with_password(PG_URL) if kind == "postgres" else None
        self.settings = Settings() if self.schema is None else Settings().with_(database_schema=self.schema)
        if self.schema is not None:
            monkeypatch.setenv("QUEUE_MAX_DATABASE_SCHEMA", self.schema)

    def queue(self, **kwargs: Any) -> Queue:
        kwargs.setdefault("rate_limit", 0)
        if self.url is None:
            return Queue(data_dir=self.data_dir, shards=2, settings=self.settings, **kwargs)
        return Queue(database_url=self.url, settings=self.settings, **kwargs)

    def argv(self, *args: str) -> list[str]:
        where = ["--data-dir", str(self.data_dir)] if self.url is None else ["--database-url", self.url]
        return [*where, *args]

    def env(self) -> dict[str, str]:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": SRC}
        if self.schema is not None:
            env["QUEUE_MAX_DATABASE_SCHEMA"] = self.schema
        return env


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    if request.param == "postgres":
        require_pg()
    made = Store(request.param, tmp_path, monkeypatch)
    yield made
    if made.schema is not None:
        drop_schema(made.schema)


@pytest.fixture
def open_queue(store: Store) -> Iterator[Callable[..., Queue]]:
    opened: list[Queue] = []

    def make(**kwargs: Any) -> Queue:
        queue = store.queue(**kwargs)
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        queue.close()


def run_cli(store: Store, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(store.argv(*args))
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    return code, captured.out + captured.err


def test_a_worker_runs_each_job_once_and_keeps_its_result(open_queue):
    # Given 200 jobs
    queue = open_queue()
    ids = queue.enqueue_batch([{"payload": {"n": n}} for n in range(200)])["ids"]
    seen: list[int] = []
    # When two worker threads drain them
    worker = Worker("w", lambda payload: seen.append(payload["n"]) or payload["n"] * 2, queue,
                    concurrency=2, poll_interval=0.05)
    with worker_running(worker):
        assert queue.wait_until_empty(timeout=30)
    # Then each ran once, and its result is kept
    assert sorted(seen) == list(range(200))
    assert [queue.get_job(job_id).result for job_id in ids] == [n * 2 for n in range(200)]


def test_failures_retry_then_reach_the_dead_letter_queue_and_can_be_requeued(open_queue):
    # Given a job that fails permanently
    queue = open_queue()
    job_id = queue.enqueue({"bad": True}, max_retries=2)["id"]
    (job,) = queue.claim_jobs("w", 1)
    queue.fail_job(job, error=Permanent("no such customer"))
    # Then it is dead-lettered with its error, and requeueing it makes it claimable again
    (entry,) = queue.dlq_list()
    assert entry.original_job_id == job_id and "no such customer" in entry.error
    assert queue.get_job(job_id).status is JobStatus.FAILED
    assert queue.dlq_requeue(job_ids=[job_id]) == 1
    assert [j.id for j in queue.claim_jobs("w", 1)] == [job_id]


def test_scheduled_jobs_wait_and_dedupe_keys_hold_one_live_job(open_queue):
    queue = open_queue()
    later = queue.enqueue({"later": 1}, delay=3600)
    first = queue.enqueue({"v": 1}, dedupe_key="report-7")
    again = queue.enqueue({"v": 2}, dedupe_key="report-7")
    assert again["id"] == first["id"]
    claimed = queue.claim_jobs("w", 10)
    assert [job.id for job in claimed] == [first["id"]]
    assert queue.get_job(later["id"]).is_scheduled


def test_a_periodic_tick_enqueues_one_job_however_many_queues_fire_it(open_queue):
    # Given two queue objects (two processes) on the same storage
    one, two = open_queue(), open_queue()
    due, _ = one.schedule_state("nightly", 100.0)
    # When both fire the same tick, Then one job is enqueued
    fired = [q.fire_schedule("nightly", due, due + 60, {"tick": 1}) for q in (one, two)]
    assert sum(ref is not None for ref in fired) == 1
    assert one.get_stats()["pending"] == 1


def test_events_are_emitted_for_enqueue(open_queue):
    queue = open_queue()
    seen: list[int] = []
    queue.events.on("job_enqueued", lambda job_id, shard_id: seen.append(job_id))
    ref = queue.enqueue({"x": 1})
    assert seen == [ref["id"]]


def test_the_cli_enqueues_lists_inspects_and_reports_stats(store, capsys):
    code, out = run_cli(store, capsys, "enqueue", "--payload", '{"n": 1}', "--json")
    assert code == 0, out
    job_id = json.loads(out)["id"]
    code, out = run_cli(store, capsys, "list", "--json")
    assert code == 0 and [job["id"] for job in json.loads(out)] == [job_id]
    code, out = run_cli(store, capsys, "inspect", str(job_id), "--json")
    assert code == 0 and json.loads(out)["payload"] == {"n": 1}
    code, out = run_cli(store, capsys, "stats", "--json")
    assert code == 0 and json.loads(out)["pending"] == 1
    code, out = run_cli(store, capsys, "health", "--json")
    assert code in (0, 3) and "data_dir" in json.loads(out)
    code, out = run_cli(store, capsys, "dlq", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_the_cli_shows_each_dead_letters_queue_and_a_task_breaker_in_its_queues_health(open_queue, store, capsys):
    # Given a dead letter in the queue "mail", and the open breaker of a task whose jobs go to "mail"
    queue = open_queue()
    queue.enqueue({"__task__": "mail.send", "args": [], "kwargs": {}}, queue_name="mail")
    (job,) = queue.claim_jobs("w", 1)
    queue.fail_job(job, error=Permanent("bounced"))
    queue.backend.breaker_record("task:mail.send", "failure", 1, time.time())
    # Then dlq list names the queue, in JSON and in its table
    code, out = run_cli(store, capsys, "dlq", "list", "--queue-name", "mail", "--json")
    assert code == 0 and [e["queue_name"] for e in json.loads(out)] == ["mail"]
    code, out = run_cli(store, capsys, "dlq", "list")
    assert code == 0 and out.splitlines()[1].split()[2] == "mail"
    # And health is red for "mail", where the task's jobs go, and green for another queue
    code, out = run_cli(store, capsys, "health", "--queue-name", "mail", "--json")
    assert code == 3 and json.loads(out)["checks"]["circuit"]["by_queue"] == {"mail": ["task mail.send"]}
    code, out = run_cli(store, capsys, "health", "--queue-name", "reports", "--json")
    assert code == 0 and json.loads(out)["checks"]["circuit"]["open"] == []


def test_the_worker_command_drains_the_queue_and_never_prints_the_password(open_queue, store):
    # Given jobs for a task module
    queue = open_queue()
    for n in range(5):
        queue.enqueue({"n": n})
    # When `queue-max worker --burst` runs them in a child process
    proc = subprocess.run([sys.executable, "-m", "queue_max", *store.argv("worker", "--function", "json:dumps", "--processes", "2", "--burst")],
                          capture_output=True, text=True, env=store.env(), timeout=120, check=False)
    # Then every job ran, and the start and stop lines hold no password
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert "queue " in proc.stderr
    assert queue.get_stats()["pending"] == 0


@pytest.mark.parametrize("path", ["/", "/queues", "/jobs", "/workers", "/schedules"])
def test_the_dashboard_pages_render_and_never_show_the_password(open_queue, path):
    from queue_max.dashboard import Dashboard, Request

    # Given a queue with a job, behind the dashboard
    queue = open_queue()
    queue.enqueue({"n": 1})
    dashboard = Dashboard(queue, allow_anonymous=True)
    # When a page is rendered, Then it works on both backends and holds no password
    response = dashboard.handle(Request("GET", path, query={}, headers={"host": "dash"}))
    assert response.status == 200
    assert SECRET not in response.body.decode("utf-8")


def test_event_metrics_and_trace_contexts_are_stored_and_shown_by_the_metrics_command(open_queue, store, capsys, spans):
    from opentelemetry.trace import SpanKind

    # Given a traced job that fails once before it succeeds, and a plain one
    queue = open_queue(retry_backoff=0.0)
    traced = queue.enqueue({"n": 1})["id"]
    queue.enqueue({"n": 2})
    calls: list[int] = []

    def flaky(payload: dict[str, Any]) -> None:
        calls.append(payload["n"])
        if calls.count(1) == 1 and payload["n"] == 1:
            raise ConnectionError("down")

    # When a worker runs them
    worker = Worker("w", flaky, queue, poll_interval=0.02, burst=True)
    worker.start()
    assert worker.wait(20)
    # Then the trace context is kept beside the job across its retry, out of its payload
    (send, _plain) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.PRODUCER]
    stored = json.loads(queue.trace_contexts([traced])[traced])
    assert f"{send.context.trace_id:032x}" in stored["traceparent"]
    assert queue.get_job(traced).payload == {"n": 1}
    consumers = [span for span in spans.get_finished_spans() if span.kind is SpanKind.CONSUMER
                 and [link.context.span_id for link in span.links] == [send.context.span_id]]
    assert len(consumers) == 2  # both attempts link to the producer
    # And the rollup counts the enqueues, the attempts by outcome and the failure by type
    totals = {(row.name, row.label): row.value for row in queue.event_metrics() if row.task == ""}
    assert totals[("enqueued", "")] == 2
    assert totals[("attempt", "completed")] == 2 and totals[("attempt", "retry")] == 1
    assert totals[("failure", "ConnectionError")] == 1
    # And `queue-max metrics` shows them from another connection
    code, out = run_cli(store, capsys, "metrics")
    assert code == 0, out
    assert 'queue_max_jobs_enqueued_total{queue="default",task=""} 2' in out
    assert 'queue_max_job_attempts_total{queue="default",task="",outcome="retry"} 1' in out
    assert 'queue_max_job_failures_total{queue="default",task="",error_type="ConnectionError"} 1' in out


def test_an_idle_worker_is_registered_while_it_runs_and_seen_by_another_queue_object(open_queue):
    # Given a worker with nothing to do, on either backend
    queue, other = open_queue(), open_queue()
    worker = Worker("idle-parity", lambda payload: None, queue, queues=["emails"], poll_interval=0.05)
    worker.start()
    try:
        # Then another Queue object on the same storage lists it, idle
        (found,) = other.workers()
        assert (found.worker_id, found.queues, found.running, found.kind) == ("idle-parity", ("emails",), 0, "Worker")
    finally:
        worker.stop()
    assert other.workers() == []
