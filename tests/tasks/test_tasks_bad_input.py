"""Bad arguments to the tasks API: refused with a typed error naming the value, nothing written."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from task_modules.fixtures import isolated_tasks, tq  # noqa: F401

from queue_max import ConfigError, InvalidPayload
from queue_max.tasks import InvalidTaskArguments, periodic_task, retryable_task, task


@pytest.fixture
def echo(tq):
    @task
    def echo(value: object, *, flag: bool = False) -> None: ...

    return echo


@pytest.mark.parametrize(("value", "message"), [
    ({1, 2}, r"args\[0\] is a set \(\{1, 2\}\); allowed: dict with str keys"),
    ((1, 2), r"args\[0\] is a tuple .*convert tuples to lists"),
    (math.nan, r"args\[0\] is nan; JSON has no NaN"),
    ({1: "a"}, r"args\[0\] has a int key 1; JSON object keys must be str"),
    (object(), r"args\[0\] is a object"),
    (b"raw", r"args\[0\] is a bytes"),
])
def test_arguments_that_are_not_json_are_refused_before_anything_is_written(tq, echo, value, message):
    with pytest.raises(InvalidPayload, match=message):
        echo.delay(value)
    assert tq.get_stats()["pending"] == 0


def test_a_keyword_argument_that_is_not_json_names_its_key(tq, echo):
    with pytest.raises(InvalidPayload, match=r"echo.delay\(\): kwargs\['flag'\] is a set"):
        echo.delay(1, flag={True})  # type: ignore[arg-type]


def test_arguments_that_do_not_fit_the_signature_are_refused(tq, echo):
    with pytest.raises(InvalidTaskArguments, match=r"arguments do not match echo\(value, \*, flag=False\): got an "
                                                   r"unexpected keyword argument 'colour'"):
        echo.delay(1, colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="missing a required argument: 'value'"):
        echo.delay()  # type: ignore[call-arg]
    assert tq.get_stats()["pending"] == 0


@pytest.mark.parametrize(("options", "message"), [
    ({"prio": 2}, r"@task\(\.\.\.\) got unknown option 'prio'; allowed: .*max_retries, name, on_failure, on_success, priority"),
    ({"priority": 101}, r"priority must be an int from -100 to 100 .*got 101"),
    ({"priority": "high"}, r"priority must be an int .*got 'high'"),
    ({"priority": True}, r"priority must be an int .*got True"),
    ({"max_retries": -1}, r"max_retries must be an int from 0 to 1000 .*got -1"),
    ({"max_retries": 2.5}, r"max_retries must be an int .*got 2.5"),
    ({"timeout": 0}, r"timeout must be a finite number of seconds > 0 or None, got 0"),
    ({"timeout": math.inf}, r"timeout must be a finite number .*got inf"),
    ({"retry_on": ValueError("x")}, r"retry_on must be an exception type or a list of them"),
    ({"retry_on": [ValueError, "KeyError"]}, r"retry_on must hold exception types, got 'KeyError'"),
    ({"retry_backoff": 10, "retry_backoff_max": 5}, r"retry_backoff_max \(5.0\) must be >= retry_backoff"),
    ({"queue": "default"}, r"queue must be a queue_max.Queue or None, got 'default'"),
    ({"name": ""}, r"task name must be a non-empty str"),
    ({"name": 7}, r"task name must be a non-empty str .*got 7"),
])
def test_bad_task_options_are_refused_at_decoration(options, message):
    with pytest.raises(ConfigError, match=message):
        task(**options)


def test_decorating_twice_or_decorating_a_class_is_refused(tq, echo):
    with pytest.raises(ConfigError, match="already a task"):
        task(echo)
    with pytest.raises(ConfigError, match="decorates a function"):
        task(int)
    with pytest.raises(ConfigError, match="a lambda has no stable name; pass name="):
        task(lambda: None)


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"prio": 1}, ConfigError, r"with_options\(\) got unknown option 'prio'; allowed: concurrency_key, dedupe_key, dedupe_window, delay"),
    ({"priority": 500}, InvalidPayload, r"echo.delay\(\): priority must be an int from -100 to 100"),
    ({"delay": -1}, InvalidPayload, r"delay must be a finite number of seconds >= 0, got -1"),
    ({"dedupe_key": ""}, InvalidPayload, r"dedupe_key must be a non-empty str"),
    ({"max_retries": -2}, InvalidPayload, r"max_retries must be an int from 0 to 1000"),
    ({"shard_key": -1}, InvalidPayload, r"shard key\) must be a non-negative int"),
    ({"queue": object()}, ConfigError, r"queue must be a queue_max.Queue"),
    ({"delay": 1, "run_at": datetime.now(timezone.utc)}, InvalidPayload, "either delay= or run_at="),
])
def test_bad_per_call_options_are_refused(tq, echo, options, error, message):
    with pytest.raises(error, match=message):
        echo.with_options(**options).delay(1)
    assert tq.get_stats()["pending"] == 0


def test_a_naive_datetime_is_refused_by_schedule_at(tq, echo):
    naive = datetime(2030, 1, 1, 12, 0)
    with pytest.raises(InvalidPayload, match=r"schedule_at\(\): when must be timezone-aware, got naive "
                                             r"datetime.datetime\(2030, 1, 1, 12, 0\); a naive datetime "
                                             r"is ambiguous"):
        echo.schedule_at(naive, 1)
    with pytest.raises(InvalidPayload, match="when must be a timezone-aware datetime, got '2030-01-01'"):
        echo.schedule_at("2030-01-01", 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidPayload, match="run_at must be timezone-aware"):
        echo.with_options(run_at=naive).delay(1)
    assert tq.get_stats()["pending"] == 0


@pytest.mark.parametrize("seconds", [-1, math.nan, "soon"])
def test_a_bad_schedule_in_delay_is_refused(tq, echo, seconds):
    with pytest.raises(InvalidPayload, match="delay must be a finite number of seconds >= 0"):
        echo.schedule_in(seconds, 1)


def test_a_time_given_twice_is_refused(tq, echo):
    with pytest.raises(InvalidPayload, match="with_options\\(\\) already set delay=; give the time once"):
        echo.with_options(delay=5).schedule_in(10, 1)


def test_map_refuses_a_string_a_dict_and_a_dedupe_key(tq, echo):
    with pytest.raises(InvalidPayload, match="items must be an iterable with one item per job .*got str"):
        echo.map("abc")
    with pytest.raises(InvalidPayload, match="got dict"):
        echo.map({"a": 1})
    with pytest.raises(InvalidPayload, match="dedupe_key names one job"):
        echo.with_options(dedupe_key="k").map([1, 2])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"interval": 0}, r"interval must be a finite number of seconds > 0, got 0"),
    ({"interval": -5}, r"interval must be a finite number of seconds > 0, got -5"),
    ({"interval": "60"}, r"interval must be a finite number of seconds > 0, got '60'"),
    ({}, r"needs exactly one of interval= \(seconds\) or cron="),
    ({"interval": 60, "cron": "* * * * *"}, "needs exactly one of"),
    ({"cron": "*/5 * * *"}, r"must have 5 fields .*got 4"),
    ({"cron": "61 * * * *"}, r"minute value 61 is out of range 0-59"),
    ({"interval": 60, "tz": timezone.utc}, "tz= applies to cron= schedules only"),
    ({"interval": 60, "prio": 1}, r"@periodic_task got unknown option 'prio'"),
])
def test_bad_periodic_task_arguments_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        periodic_task(**kwargs)


def test_a_periodic_task_must_take_no_arguments():
    with pytest.raises(ConfigError, match="must be callable with no arguments"):
        @periodic_task(interval=60)
        def needs(x: int) -> None: ...


def test_bare_periodic_task_explains_what_it_needs():
    with pytest.raises(ConfigError, match=r"write @periodic_task\(interval=60\)"):
        @periodic_task  # type: ignore[arg-type]
        def tick() -> None: ...


def test_bad_retryable_task_options_are_refused():
    with pytest.raises(ConfigError, match="max_retries must be an int from 0 to 1000"):
        retryable_task(max_retries=-1)
    with pytest.raises(ConfigError, match="retry_on must hold exception types"):
        retryable_task(retry_on=["TimeoutError"])
    with pytest.raises(ConfigError, match="sleep must be a callable"):
        retryable_task(sleep=5)  # type: ignore[arg-type]
