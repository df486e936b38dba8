"""Bad arguments to the workers' constructors and methods: a ConfigError naming value and range."""

from __future__ import annotations

import pytest

from queue_max import ConfigError
from queue_max.workers import AsyncWorker, Worker, WorkerPool


def noop(payload: dict) -> None:
    return None


@pytest.mark.parametrize("cls", [Worker, AsyncWorker])
@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((42, noop), {}, "worker_id must be a non-empty str, got 42"),
        (("  ", noop), {}, "worker_id must be a non-empty str"),
        (("w", "not callable"), {}, "process_function must be a callable or None, got str"),
        (("w", noop), {"queue": None}, "queue is required"),
        (("w", noop), {"queue": "a queue"}, "queue must be a queue_max.Queue, got str"),
        (("w", noop), {"poll_interval": 0}, "poll_interval must be a finite number of seconds > 0, got 0"),
        (("w", noop), {"poll_interval": -1.0}, "poll_interval must be"),
        (("w", noop), {"poll_interval": float("nan")}, "poll_interval must be"),
        (("w", noop), {"job_timeout": -5}, "job_timeout must be a finite number of seconds > 0 or None, got -5"),
        (("w", noop), {"job_timeout": True}, "job_timeout must be"),
        (("w", noop), {"on_job_start": 3}, "on_job_start must be a callable or None, got int"),
        (("w", noop), {"on_job_complete": "x"}, "on_job_complete must be a callable"),
        (("w", noop), {"on_job_error": []}, "on_job_error must be a callable"),
        (("w", noop), {"concurrency": 0}, "concurrency must be an int from 1 to 10000 or None, got 0"),
        (("w", noop), {"concurrency": 2.5}, "concurrency must be an int"),
        (("w", noop), {"prefetch": 0}, "prefetch must be an int from 1"),
        (("w", noop), {"shutdown_timeout": -1}, "shutdown_timeout must be a finite number of seconds >= 0"),
        (("w", noop), {"max_jobs": 0}, "max_jobs must be an int from 1"),
        (("w", noop), {"burst": "yes"}, "burst must be True or False, got 'yes'"),
        (("w", noop), {"handle_signals": 1}, "handle_signals must be True or False or None"),
        (("w", noop), {"ack_interval": -0.1}, "ack_interval must be"),
        (("w", noop), {"timeout_grace": "1"}, "timeout_grace must be"),
    ],
)
def test_bad_worker_arguments_are_refused_clearly(cls, args, kwargs, message, queue):
    kwargs = {"queue": queue, **kwargs}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cls(*args, **kwargs)


def test_a_heartbeat_as_long_as_the_lease_is_refused(make_queue):
    queue = make_queue(shards=1, lease_timeout=1.0, heartbeat_interval=1.0)
    with pytest.raises(ConfigError, match=r"heartbeat_interval \(1.0s\) must be shorter than its lease_timeout"):
        Worker("w", noop, queue)


def test_bad_method_arguments_are_refused_clearly(queue):
    worker = Worker("w", noop, queue)
    with pytest.raises(ConfigError, match="timeout must be a finite number of seconds >= 0, got -1"):
        worker.stop(timeout=-1)
    with pytest.raises(ConfigError, match="timeout must be"):
        worker.wait(timeout="soon")
    with pytest.raises(ConfigError, match="handle_signals must be True or False"):
        worker.start(handle_signals="please")
    assert worker.state.value == "created"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 5}, "workers must be a list of Worker or AsyncWorker, got 5"),
        ({"workers": ["w"]}, "workers must hold Worker or AsyncWorker objects, got 'w'"),
        ({"auto_scale": "yes"}, "auto_scale must be True or False"),
        ({"min_workers": 5, "max_workers": 2}, r"min_workers \(5\) must not exceed max_workers \(2\)"),
        ({"min_workers": -1}, "min_workers must be an int from 0"),
        ({"max_workers": 0}, "max_workers must be an int from 1"),
        ({"scale_up_threshold": -1}, "scale_up_threshold must be an int from 0"),
        ({"scale_down_threshold": 50, "scale_up_threshold": 10}, r"scale_down_threshold \(50\) must not exceed"),
        ({"scale_check_interval": 0}, "scale_check_interval must be a finite number of seconds > 0"),
        ({"worker_factory": "factory"}, "worker_factory must be a callable or None"),
        ({"auto_scale": True}, "auto_scale needs at least one worker to clone, or a worker_factory"),
        ({"name": ""}, "name must be a non-empty str"),
    ],
)
def test_bad_pool_arguments_are_refused_clearly(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        WorkerPool(**kwargs)


def test_an_auto_scaled_pool_larger_than_its_maximum_is_refused(queue):
    workers = [Worker(f"w{k}", noop, queue) for k in range(3)]
    with pytest.raises(ConfigError, match="the pool has 3 workers, more than max_workers=2"):
        WorkerPool(workers, auto_scale=True, max_workers=2)


def test_bad_pool_method_arguments_are_refused_clearly(queue):
    pool = WorkerPool([Worker("w", noop, queue)])
    with pytest.raises(ConfigError, match="timeout must be"):
        pool.wait_for_idle(timeout=-2)
    with pytest.raises(ConfigError, match="timeout must be"):
        pool.stop_all(timeout=float("inf"))


def test_worker_options_refuse_bad_values_and_unknown_names():
    from queue_max import ConfigError, WorkerOptions

    with pytest.raises(ConfigError, match="prefetch must be an int from 1 to 10000, got 0"):
        WorkerOptions(prefetch=0)
    with pytest.raises(ConfigError, match="unknown worker options threads; allowed: concurrency"):
        WorkerOptions().replace(threads=2)


def test_a_worker_refuses_options_that_are_not_a_worker_options_value(queue):
    from queue_max import ConfigError, Worker

    with pytest.raises(ConfigError, match="options must be a WorkerOptions or None, got {'burst': True}"):
        Worker("w", print, queue, options={"burst": True})


def test_a_job_handler_refuses_what_cannot_run_or_time_a_job():
    from queue_max import ConfigError, JobHandler

    with pytest.raises(ConfigError, match="JobHandler fn must be a callable, got int 3"):
        JobHandler(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="JobHandler timeout must be .* > 0 or None, got 0"):
        JobHandler(print, timeout=0)
    with pytest.raises(ConfigError, match="retry_on must hold exception types, got 'x'"):
        JobHandler(print, retry_on=("x",))  # type: ignore[arg-type]
