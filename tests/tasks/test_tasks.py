"""@task: registration, direct calls, enqueueing, and the handles that come back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from task_modules.fixtures import drain, isolated_tasks, tq  # noqa: F401

from queue_max import JobNotFound, JobStatus
from queue_max.tasks import (
    DuplicateTask,
    ResultTimeout,
    Task,
    TaskCancelled,
    TaskFailed,
    TaskHandle,
    registry,
    task,
)


def test_a_task_is_registered_under_module_and_qualname(tq):
    @task
    def greet(name: str) -> str:
        return f"hi {name}"

    assert isinstance(greet, Task)
    assert greet.name == f"{__name__}:test_a_task_is_registered_under_module_and_qualname.<locals>.greet"
    assert registry.get(greet.name) is greet
    assert greet.__name__ == "greet" and greet.__wrapped__ is greet.fn  # type: ignore[attr-defined]


def test_a_given_name_is_used_as_is(tq):
    @task(name="emails.send")
    def send() -> None: ...

    assert send.name == "emails.send" and "emails.send" in registry


def test_a_second_function_under_a_taken_name_is_refused(tq):
    @task(name="jobs.same")
    def first() -> None: ...

    with pytest.raises(DuplicateTask, match="'jobs.same' is already registered.*pass name="):
        @task(name="jobs.same")
        def second() -> None: ...


def test_the_same_function_defined_again_replaces_the_old_one(tq):
    # Given a function registered twice, as when its module is imported again
    def make() -> Task[[], int]:
        @task
        def again() -> int:
            return 1
        return again

    first, second = make(), make()
    # Then the name resolves to the newest definition and no error is raised
    assert first.name == second.name and registry.get(second.name) is second


def test_a_direct_call_runs_synchronously_and_enqueues_nothing(tq):
    @task(priority=2)
    def double(x: int) -> int:
        return 2 * x

    assert double(21) == 42
    assert tq.get_stats()["pending"] == 0
    assert double.get_stats()["calls"] == 1


def test_delay_stores_the_envelope_with_the_task_priority_and_retries(tq):
    @task(priority=2, max_retries=5)
    def send_email(to: str, subject: str) -> None: ...

    handle = send_email.delay("user@example.com", subject="Hello")
    job = handle.job()
    assert job is not None
    assert job.payload == {"__task__": send_email.name, "args": ["user@example.com"],
                           "kwargs": {"subject": "Hello"}}
    assert (job.priority_int, job.max_attempts) == (2, 6)


def test_max_retries_zero_is_honoured(tq):
    @task(max_retries=0)
    def once() -> None: ...

    assert tq.get_job(once.delay().id).max_attempts == 1


def test_a_delayed_task_runs_on_a_worker_and_its_result_comes_back(tq):
    @task
    def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    handle = add.delay(2, 3)
    assert handle.status is JobStatus.PENDING and not handle.ready()
    drain(tq)
    assert handle.ready() and handle.status is JobStatus.COMPLETED
    assert handle.get(timeout=1) == {"sum": 5}
    assert add.get_stats()["succeeded"] == 1


def test_a_failure_comes_back_with_its_type_name_and_message(tq):
    class CardDeclined(Exception):
        pass

    @task(max_retries=0)
    def charge(amount: int) -> None:
        raise CardDeclined(f"card declined for {amount}")

    handle = charge.delay(30)
    drain(tq)
    with pytest.raises(TaskFailed) as caught:
        handle.get(timeout=1)
    assert caught.value.error_type.endswith("CardDeclined")
    assert caught.value.error_message == "card declined for 30"
    assert caught.value.job_id == handle.id and "CardDeclined" in (caught.value.traceback or "")


def test_the_handle_reads_like_the_dict_enqueue_returns(tq):
    @task
    def noop() -> None: ...

    handle = noop.delay()
    assert handle["id"] == handle.id and handle["shard_id"] == handle.shard_id
    assert "shard_id" in handle and "id" in handle and "result" not in handle
    assert dict(handle) == {"id": handle.id, "shard_id": handle.shard_id} == handle
    assert tq.shard_of(handle.id) == handle.shard_id
    with pytest.raises(KeyError):
        handle["status"]


def test_get_with_a_string_explains_how_to_read_the_id(tq):
    @task
    def noop() -> None: ...

    with pytest.raises(ValueError, match=r"handle\['id'\]"):
        noop.delay().get("id")  # type: ignore[arg-type]


def test_get_gives_up_after_its_timeout_without_touching_the_job(tq):
    @task
    def noop() -> None: ...

    handle = noop.delay()
    with pytest.raises(ResultTimeout, match="did not finish within 0.05s .status: pending"):
        handle.get(timeout=0.05)
    assert handle.status is JobStatus.PENDING


def test_a_handle_rebuilt_from_the_id_reads_the_same_job(tq):
    @task
    def three() -> int:
        return 3

    job_id = three.delay().id
    drain(tq)
    assert TaskHandle(tq, job_id).get(timeout=1) == 3


def test_cancel_stops_a_pending_job_and_get_reports_it(tq):
    @task
    def noop() -> None: ...

    handle = noop.delay()
    assert handle.cancel() is True
    assert handle.status is JobStatus.CANCELLED and drain(tq) == []
    with pytest.raises(TaskCancelled):
        handle.get(timeout=1)
    assert handle.cancel() is False


def test_results_are_gone_after_the_result_ttl(make_queue, clock):
    # Given a queue that keeps no results
    queue = make_queue(shards=1, clock=clock, result_ttl=0)

    @task(queue=queue)
    def one() -> int:
        return 1

    handle = one.delay()
    drain(queue)
    with pytest.raises(JobNotFound, match="result_ttl"):
        handle.get(timeout=1)


def test_schedule_in_is_not_claimable_before_its_time(tq, clock):
    @task
    def later() -> str:
        return "ran"

    handle = later.schedule_in(300)
    assert handle.job().run_ts == clock.time() + 300
    clock.advance(299)
    assert drain(tq) == []
    clock.advance(1)
    assert [job.id for job in drain(tq)] == [handle.id]
    assert handle.get(timeout=1) == "ran"


def test_schedule_at_takes_an_aware_datetime(tq, clock):
    @task
    def later(x: int) -> int:
        return x

    when = datetime.fromtimestamp(clock.time(), timezone(timedelta(hours=2))) + timedelta(minutes=5)
    handle = later.schedule_at(when, 7)
    assert handle.job().run_ts == when.timestamp()
    clock.advance(300)
    drain(tq)
    assert handle.get(timeout=1) == 7


def test_map_enqueues_one_job_per_item_with_the_extra_arguments_appended(tq):
    @task
    def send_email(to: str, subject: str, *, urgent: bool = False) -> str:
        return f"{subject} -> {to}{' !' if urgent else ''}"

    handles = send_email.map(["a@b.com", "c@d.com"], "Welcome!", urgent=True)
    assert [h.job().payload["args"] for h in handles] == [
        ["a@b.com", "Welcome!"], ["c@d.com", "Welcome!"]]
    drain(tq)
    assert [h.get(timeout=1) for h in handles] == ["Welcome! -> a@b.com !", "Welcome! -> c@d.com !"]


def test_map_writes_nothing_when_one_item_is_bad(tq):
    @task
    def square(x: object) -> None: ...

    with pytest.raises(ValueError, match=r"map\(\): item 2: .*set"):
        square.map([1, 2, {3}, 4])
    assert tq.get_stats()["pending"] == 0


def test_map_of_nothing_enqueues_nothing(tq):
    @task
    def square(x: int) -> int:
        return x * x

    assert square.map([]) == []


def test_with_options_overrides_one_call(tq, make_queue, clock, tmp_path):
    other = make_queue(data_dir=tmp_path / "other", shards=1, clock=clock)

    @task(priority=1)
    def job(x: int) -> int:
        return x

    plain = job.delay(1)
    urgent = job.with_options(priority=9, max_retries=0, dedupe_key="k1", shard_key=1).delay(2)
    same = job.with_options(dedupe_key="k1").delay(3)
    elsewhere = job.with_options(queue=other, delay=60).delay(4)
    assert plain.job().priority_int == 1
    stored = urgent.job()
    assert (stored.priority_int, stored.max_attempts, stored.dedupe_key) == (9, 1, "k1")
    assert same.id == urgent.id  # a live job with the key already exists
    assert elsewhere.queue is other and elsewhere.job().run_ts == clock.time() + 60
    assert [job.payload["args"] for job in other.list_jobs()] == [[4]]
    assert sorted(job.payload["args"][0] for job in tq.list_jobs()) == [1, 2]


def test_with_options_chains_and_schedules(tq, clock):
    @task
    def job() -> None: ...

    handle = job.with_options(priority=3).with_options(max_retries=1).schedule_in(10)
    stored = handle.job()
    assert (stored.priority_int, stored.max_attempts, stored.run_ts) == (3, 2, clock.time() + 10)


def test_the_task_stats_count_this_process_only(tq):
    @task(priority=2, max_retries=4, timeout=30, retry_on=[TimeoutError])
    def work(x: int) -> int:
        return x

    work(1)
    work.delay(1)
    work.map([1, 2])
    drain(tq)
    stats = work.get_stats()
    assert stats.pop("queue_stats")["completed"] == 3
    assert stats == {"name": work.name, "task_name": work.name, "version": 1, "calls": 1, "enqueued": 3,
                     "eager": 0, "succeeded": 3, "failed": 0, "priority": 2, "max_retries": 4,
                     "timeout": 30.0, "rate_limit": None, "retry_on": ["TimeoutError"]}


def test_there_is_one_current_job_for_tasks_and_workers(tq):
    import queue_max.tasks
    import queue_max.workers
    from queue_max.tasks import execute_task_payload

    # Given one function under both names, and a task that reports what it sees
    assert queue_max.tasks.current_job is queue_max.workers.current_job
    seen = []

    @task
    def look() -> None:
        ctx = queue_max.tasks.current_job()
        seen.append((ctx.id, ctx.attempts, ctx.remaining(), ctx.cancelled))

    # When its job runs through execute_task_payload with the job, and when a worker path runs it
    look.delay()
    (job,) = tq.claim_jobs("w", 1)
    execute_task_payload(job.payload, job)
    look.delay()
    drain(tq)
    # Then both runs saw a JobContext for their job; outside a run there is none
    assert seen[0] == (job.id, 1, None, False) and len(seen) == 2
    assert queue_max.tasks.current_job() is None


def test_the_default_queue_can_be_read_without_building_one(tq):
    from queue_max.tasks import current_default_queue, set_default_queue

    assert current_default_queue() is tq
    set_default_queue(None)
    assert current_default_queue() is None  # and nothing was built or opened
