"""queue-max demo: tasks, a worker and the queue, on the embedded SQLite storage.

Opens a real queue in a temporary directory, defines a few `@task` functions, and enqueues them
with `.delay()`, `.schedule_in()` and `.map()`, with a deduplicated call and with tasks that
fail once, fail for good, or fail every time. One `Worker` with three threads runs them; the
results, the errors and the dead letters are read back through the task handles, and the
queue's stats are printed at the end. Takes a couple of seconds:

    python examples/demo.py
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    import queue_max  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from queue_max import JobStatus, Permanent, Queue, TaskFailed, task
from queue_max.tasks import current_job, set_default_queue
from queue_max.workers import Worker

THREADS = 3
IMAGES = 20


# ── the tasks: plain functions; a worker finds them by name ──
@task(priority=2)
def send_email(to: str, subject: str) -> str:
    time.sleep(0.01)  # pretend to talk to an SMTP server
    return f"sent {subject!r} to {to}"


@task
def resize_image(image: str, width: int) -> dict[str, Any]:
    time.sleep(0.005)
    return {"thumbnail": f"thumbs/{width}/{image}"}


@task
def build_report(day: str) -> str:
    return f"report for {day}"


@task
def call_flaky_api(url: str) -> str:
    job = current_job()  # the job being run: its id, its attempts, ...
    if job is not None and job.attempts == 1:
        raise TimeoutError(f"{url} timed out")  # retryable: tried again after the backoff
    return "ok"


@task
def charge_card(card: str) -> None:
    raise Permanent(f"card {card} declined")  # retrying cannot help: dead-lettered at once


@task(max_retries=1)
def sync_inventory(warehouse: str) -> None:
    raise ConnectionError(f"warehouse {warehouse} unreachable")  # fails twice, then dead-lettered


# ── output: aligned rows, and a timeline shared with queue-max's own log lines ──
class Timeline(logging.Formatter):
    """Formats a log record as `  0.25s  message`, counting from `start`."""

    start = time.time()

    def format(self, record: logging.LogRecord) -> str:
        return f"  {record.created - self.start:5.2f}s  {record.getMessage()}"


def show_log(timeline: Timeline) -> logging.Logger:
    """Print queue-max's log (retries at WARNING, dead letters at ERROR) and the demo's own."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(timeline)
    for name in ("queue_max", "demo"):
        logging.getLogger(name).addHandler(handler)
    logging.getLogger("demo").setLevel(logging.INFO)
    return logging.getLogger("demo")


def row(what: str, job: str, text: str) -> None:
    print(f"  {what:<36} {job:<10} {text}")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def short(type_name: str | None) -> str:
    """`queue_max.retry.Permanent` -> `Permanent`: the stored type names are fully qualified."""
    return (type_name or "?").rsplit(".", 1)[-1]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="queue-max-demo-") as tmp:
        return run(Path(tmp) / "data")


def run(data_dir: Path) -> int:
    queue = Queue(
        data_dir=data_dir,
        shards=4,
        rate_limit=0,           # no rate limiting in the demo (0 switches the limiter off)
        max_retries=2,
        retry_backoff=0.2,      # retry after ~0.2s, then ~0.4s (default: 120s, 240s, ...)
        retry_backoff_max=1.0,
    )
    set_default_queue(queue)    # where .delay() stores jobs (default: Queue() from the environment)
    print(f"queue-max demo: a queue of 4 SQLite shards in {data_dir}")

    # ── enqueue: each call returns a handle as soon as the job is in a shard file ──
    print("\nenqueue")
    email = send_email.delay("ada@example.com", "Welcome")
    row("send_email.delay(to, subject)", f"job {email.id}", "priority 2 (high)")
    thumbs = resize_image.map([f"img{i}.png" for i in range(IMAGES)], 128)
    row(f"resize_image.map({IMAGES} images, width)", f"{len(thumbs)} jobs", "stored in one batch")
    report = build_report.schedule_in(1.0, "2024-06-01")
    row("build_report.schedule_in(1.0, day)", f"job {report.id}", "not before 1.0s from now")
    welcome = send_email.with_options(dedupe_key="welcome:bob")
    first = welcome.delay("bob@example.com", "Welcome")
    again = welcome.delay("bob@example.com", "Welcome")
    row("send_email, same dedupe_key, twice", f"job {first.id}",
        f"the second call returned job {again.id}: one job")
    flaky = call_flaky_api.delay("api.example.com")
    row("call_flaky_api.delay(url)", f"job {flaky.id}", "times out on its first attempt")
    card = charge_card.delay("4000-0000-0000-0002")
    row("charge_card.delay(card)", f"job {card.id}", "raises Permanent: no retry")
    sync = sync_inventory.delay("north")
    row("sync_inventory.delay(warehouse)", f"job {sync.id}", "always fails; max_retries=1")
    stats = queue.get_stats()
    print(f"  {stats['pending']} jobs pending, {stats['scheduled']} of them scheduled for later")

    # ── work: one Worker, three threads; without a function, it runs each task by name ──
    print(f"\nwork: one Worker, {THREADS} threads; the timeline with queue-max's own log lines")
    timeline = Timeline()
    log = show_log(timeline)
    watched = {flaky.id: "call_flaky_api", report.id: "build_report"}

    def completed(job_id: int, shard_id: int) -> None:   # a queue event, in the worker's thread
        if job_id in watched:
            log.info("job %d completed (%s)", job_id, watched[job_id])

    queue.on("job_completed", completed)
    timeline.start = time.time()
    worker = Worker("demo-worker", queue=queue, poll_interval=0.05, concurrency=THREADS)
    worker.start()
    log.info("worker started")
    drained = queue.wait_until_empty(timeout=20)
    worker.stop()
    log.info("queue drained, worker stopped" if drained else "queue NOT drained in 20s")

    # ── results: read back through the handles (from any process, with the id alone) ──
    print("\nresults, through the handles")
    row("send_email", f"job {email.id}", f"{email.status}  {email.get(timeout=5)!r}")
    results = [h.get(timeout=5) for h in thumbs]
    finished = sum(h.status == JobStatus.COMPLETED for h in thumbs)
    row("resize_image", f"{len(thumbs)} jobs", f"{finished} completed, first: {results[0]}")
    job = report.job()
    assert job.claimed_at is not None
    waited = job.claimed_at.timestamp() - job.enqueued_at.timestamp()
    row("build_report", f"job {report.id}",
        f"{report.status}  {report.get(timeout=5)!r}, started {waited:.1f}s after enqueue")
    row("send_email (deduplicated)", f"job {first.id}", f"{first.status}  {first.get(timeout=5)!r}")
    job = flaky.job()
    earlier = "; ".join(f"{short(e.type)}: {e.message}" for e in job.errors)
    row("call_flaky_api", f"job {flaky.id}",
        f"{flaky.status}  {flaky.get(timeout=5)!r} after {job.attempts} attempts ({earlier})")
    failures = 0
    for name, handle in (("charge_card", card), ("sync_inventory", sync)):
        try:
            handle.get(timeout=5)
        except TaskFailed as exc:   # the task's error, by type name and message
            failures += 1
            row(name, f"job {handle.id}", f"{handle.status}     TaskFailed: {short(exc.error_type)}: "
                                         f"{exc.error_message} ({plural(exc.attempts, 'attempt')})")

    print("\ndead-letter queue")
    for dead in queue.dlq_list():
        print(f"  job {dead.original_job_id:<7} {plural(dead.attempts, 'attempt'):<11} "
              f"{short(dead.error_type)}: {dead.error}")

    stats = queue.get_stats()
    done = worker.get_stats()
    print("\nstats")
    print("  queue.get_stats()        worker.get_stats()")
    queue_keys = ("pending", "processing", "completed", "dead_letter", "num_shards", "circuit_state")
    worker_keys = ("processed", "failed", "retried", "lost", "released", "concurrency")
    for q, w in zip(queue_keys, worker_keys, strict=True):
        print(f"  {q:<13} {stats[q]!s:>8}   {w:<13} {done[w]:>5}")
    queue.close()

    expected = 1 + IMAGES + 1 + 1 + 1   # emails, thumbnails, report, deduplicated email, flaky call
    ok = (drained and failures == 2 and first.id == again.id
          and stats["completed"] == expected and stats["dead_letter"] == 2
          and stats["pending"] == 0 and stats["processing"] == 0
          and done["processed"] == expected and done["retried"] == 2)
    print("\ndemo finished OK" if ok else "\ndemo finished with unexpected counts")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
