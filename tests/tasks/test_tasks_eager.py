"""Eager mode for users' tests, and which queue a task uses when it names none."""

from __future__ import annotations

import pytest
from task_modules.fixtures import isolated_tasks, tq  # noqa: F401

from queue_max import ConfigError, InvalidPayload, JobStatus, Queue, QueueClosed
from queue_max.tasks import (
    EagerHandle,
    TaskFailed,
    eager,
    get_default_queue,
    is_eager,
    set_default_queue,
    set_eager,
    task,
)


def test_eager_delay_runs_inline_and_returns_a_finished_handle(tq):
    @task
    def add(a: int, b: int) -> int:
        return a + b

    with eager():
        handle = add.delay(2, 3)
    assert isinstance(handle, EagerHandle) and handle.id < 0
    assert handle.status is JobStatus.COMPLETED and handle.ready()
    assert handle.get() == 5 and handle.get(timeout=0) == 5
    assert tq.get_stats()["pending"] == 0 and tq.get_stats()["completed"] == 0
    assert add.get_stats()["eager"] == 1


def test_eager_keeps_a_failure_in_the_handle(tq):
    @task(max_retries=5)
    def boom() -> None:
        raise KeyError("missing")

    with eager():
        handle = boom.delay()
    assert handle.status is JobStatus.FAILED
    with pytest.raises(TaskFailed) as caught:
        handle.get()
    assert (caught.value.error_type, caught.value.error_message) == ("KeyError", "'missing'")


def test_eager_with_propagate_raises_at_the_call(tq):
    @task
    def boom() -> None:
        raise KeyError("missing")

    with eager(propagate=True), pytest.raises(KeyError):
        boom.delay()


def test_eager_passes_arguments_and_results_through_json(tq):
    @task
    def echo(value: dict[str, list[int]]) -> dict[str, object]:
        return {"got": value, "same_object": False}

    with eager():
        assert echo.delay({"a": [1, 2]}).get() == {"got": {"a": [1, 2]}, "same_object": False}
        # what a worker could not store is refused in eager mode too
        with pytest.raises(InvalidPayload, match=r"args\[0\] is a set"):
            echo.delay({1, 2})  # type: ignore[arg-type]
        failed = task(name="eager.tuple")(lambda: (1, 2)).delay()
    with pytest.raises(TaskFailed, match="tuple"):
        failed.get()


def test_eager_map_and_schedules_run_every_call_inline(tq):
    @task
    def square(x: int) -> int:
        return x * x

    with eager():
        assert [h.get() for h in square.map([1, 2, 3])] == [1, 4, 9]
        assert square.schedule_in(3600, 4).get() == 16
    assert tq.get_stats()["pending"] == 0


def test_eager_mode_ends_with_its_block_and_can_be_set_for_the_process(tq):
    assert is_eager() == (False, False)
    with eager(propagate=True):
        assert is_eager() == (True, True)
        with eager():
            assert is_eager() == (True, False)
        assert is_eager() == (True, True)
    assert is_eager() == (False, False)
    set_eager(True)
    assert is_eager() == (True, False)
    set_eager(False)
    with pytest.raises(ConfigError):
        set_eager("yes")  # type: ignore[arg-type]


def test_a_task_uses_its_own_queue_then_the_default_one(tq, make_queue, tmp_path):
    own = make_queue(data_dir=tmp_path / "own", shards=1)

    @task(queue=own)
    def mine() -> None: ...

    @task
    def shared() -> None: ...

    assert mine.queue is own and shared.queue is tq is get_default_queue()
    assert mine.delay().queue is own and shared.delay().queue is tq


def test_the_default_queue_is_built_lazily_from_the_environment(tmp_path, monkeypatch):
    # Given no default queue and the configuration in the environment
    set_default_queue(None)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("NUM_SHARDS", "3")
    monkeypatch.setenv("RATE_LIMIT_MAX", "0")
    # When a task needs a queue, one is built from it
    queue = get_default_queue()
    assert queue.num_shards == 3 and (tmp_path / "env-data").is_dir()
    assert get_default_queue() is queue
    # And resetting closes it, so the next use builds a fresh one
    set_default_queue(None)
    with pytest.raises(QueueClosed):
        queue.get_stats()
    fresh = get_default_queue()
    assert fresh is not queue
    set_default_queue(None)


def test_set_default_queue_refuses_what_is_not_a_queue():
    with pytest.raises(ConfigError, match="takes a queue_max.Queue or None, got 'data'"):
        set_default_queue("data")  # type: ignore[arg-type]


def test_a_queue_you_set_is_not_closed_when_replaced(tq):
    set_default_queue(None)
    assert isinstance(tq, Queue) and tq.get_stats()["pending"] == 0
