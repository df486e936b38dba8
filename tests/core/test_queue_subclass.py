"""A Queue subclass that overrides a method and calls super() keeps its override on every call."""

from __future__ import annotations

from typing import Any

from queue_max import Queue


class CountingQueue(Queue):
    calls = 0

    def get_job(self, job_id: Any) -> Any:
        type(self).calls += 1
        return super().get_job(job_id)


def test_an_override_that_calls_super_is_called_every_time(tmp_path, settings):
    # Given a subclass whose get_job counts, then calls the Queue's
    with CountingQueue(data_dir=tmp_path / "data", shards=1, settings=settings) as queue:
        job_id = queue.enqueue({"n": 1})["id"]
        # When get_job is called three times
        found = [queue.get_job(job_id) for _ in range(3)]
    # Then the override ran each time (the Queue's method is not cached over it) and worked
    assert CountingQueue.calls == 3 and all(job is not None and job.id == job_id for job in found)


def test_a_plain_queue_still_gets_the_part_method_directly(tmp_path, settings):
    with Queue(data_dir=tmp_path / "data", shards=1, settings=settings) as queue:
        queue.get_job(1)
        assert "get_job" in vars(queue)  # the bound method of the part, cached on first use
