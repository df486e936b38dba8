"""The speed tricks on the hot paths give exactly the answers of the slow paths they skip."""

from __future__ import annotations

import inspect
import json
import threading

import pytest

from queue_max._json import loads
from queue_max.tasks._binding import ArgumentCheck
from queue_max.tasks.task import TaskStats


def plain(a, b, c=3):  # type: ignore[no-untyped-def]
    return a


def fancy(a, /, b, *rest, c, **more):  # type: ignore[no-untyped-def]
    return a


CALLS = [((), {}), ((1,), {}), ((1, 2), {}), ((1, 2, 3), {}), ((1, 2, 3, 4), {}), ((1,), {"b": 2}),
         ((), {"a": 1, "b": 2}), ((1,), {"a": 1}), ((1, 2), {"d": 4}), ((), {"b": 2, "c": 3}),
         ((1, 2), {"c": 5}), ((1,), {"c": 5})]


@pytest.mark.parametrize("fn", [plain, fancy])
@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_the_argument_check_agrees_with_signature_bind(fn, args, kwargs):
    # Given a plain signature (checked without bind) and one with every kind of parameter
    check = ArgumentCheck(fn)
    try:
        inspect.signature(fn).bind(*args, **kwargs)
        binds = True
    except TypeError:
        binds = False
    # When a call is checked, Then it is refused exactly when bind refuses it, with bind's reason
    problem = check.problem(args, kwargs)
    assert (problem is None) == binds
    if problem is not None:
        assert problem.startswith(f"arguments do not match {fn.__name__}(")


@pytest.mark.parametrize("text", ['{"i":5}', ' {"i": 5} ', '{"a":[1,2.5,null,true,"\\u00e9"]}', "[]", '"s"',
                                  "7", b'{"i":1}'.decode()])
def test_stored_json_reads_as_json_loads_reads_it(text):
    assert loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ['{"i":5} x', "", "{", "nan"])
def test_bad_json_raises_what_json_loads_raises(text):
    with pytest.raises(json.JSONDecodeError):
        loads(text)


def test_task_counters_add_up_across_threads_that_have_exited():
    # Given 8 threads that each count 1000 successes at once
    stats, start = TaskStats(), threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(1000):
            stats.count("succeeded")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # When the main thread counts too, Then every count is in the snapshot
    stats.count("enqueued", 3)
    assert stats.snapshot() == {"calls": 0, "enqueued": 3, "eager": 0, "succeeded": 8000, "failed": 0}
