"""Every public entry point refuses bad input with a typed error, before anything is written."""

from __future__ import annotations

import decimal
import enum
from datetime import datetime

import pytest

from queue_max import ConfigError, InvalidPayload, JobNotFound, Queue


class Colour(enum.IntEnum):
    RED = 1


NOT_JSON = [
    ({"x": float("nan")}, "NaN"),
    ({"x": float("inf")}, "Infinity"),
    ({"x": {1, 2}}, "set"),
    ({"x": (1, 2)}, "tuple"),
    ({1: "a"}, "int key"),
    ({"x": object()}, "object"),
    ({"x": b"bytes"}, "bytes"),
    ({"x": decimal.Decimal("1.5")}, "Decimal"),
    ({"x": datetime(2026, 1, 1)}, "datetime"),
    ({"x": Colour.RED}, "Colour"),
    ({"x": [1, [2, (3,)]]}, "tuple"),
    ({"x": {"y": {"z": float("nan")}}}, "NaN"),
]


@pytest.mark.parametrize("payload, named", NOT_JSON)
def test_payloads_that_are_not_exact_json_are_refused(queue, payload, named):
    with pytest.raises(InvalidPayload) as info:
        queue.enqueue(payload)
    assert named.split()[0] in str(info.value) or "key" in str(info.value)
    assert queue.get_stats()["pending"] == 0


@pytest.mark.parametrize("payload", [[1, 2], "text", None, 3, ("a",)])
def test_a_payload_must_be_a_dict(queue, payload):
    with pytest.raises(InvalidPayload, match="payload must be a dict"):
        queue.enqueue(payload)


def test_deep_nesting_is_refused_with_the_limit_named(queue):
    payload: dict = {}
    node = payload
    for _ in range(100):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(InvalidPayload, match="deeper than 64"):
        queue.enqueue(payload)


def test_a_self_referencing_payload_is_refused_not_a_crash(queue):
    payload: dict = {}
    payload["self"] = payload
    with pytest.raises(InvalidPayload):
        queue.enqueue(payload)


def test_oversize_payloads_are_refused_with_the_limit_named(make_queue):
    queue = make_queue(max_payload_bytes=1024)
    with pytest.raises(InvalidPayload, match="limit is 1024 bytes"):
        queue.enqueue({"blob": "x" * 2000})


def test_unicode_edge_cases_are_stored_exactly(queue):
    payload = {"emoji": "\U0001f600", "nul": "a\x00b", "lone": "\ud800", "rtl": "\u202e",
               "k\u00e9y": "caf\u00e9", "big": 2**80, "neg": -0.0, "tiny": 5e-324}
    ref = queue.enqueue(payload)
    stored = queue.get_job(ref["id"]).payload
    assert stored == payload and str(stored["neg"]) == "-0.0"


@pytest.mark.parametrize("priority", [101, -101, "high", 1.5, True, None])
def test_bad_priorities_are_refused(queue, priority):
    with pytest.raises(InvalidPayload, match="priority must be an int from -100 to 100"):
        queue.enqueue({"x": 1}, priority=priority)


@pytest.mark.parametrize("max_retries", [-1, 1.0, "3", True, 1001])
def test_bad_max_retries_are_refused(queue, max_retries):
    with pytest.raises(InvalidPayload, match="max_retries"):
        queue.enqueue({"x": 1}, max_retries=max_retries)


@pytest.mark.parametrize("options, message", [
    ({"pagina_id": -1}, "pagina_id"),
    ({"pagina_id": "7"}, "pagina_id"),
    ({"delay": -5}, "delay"),
    ({"delay": float("nan")}, "delay"),
    ({"run_at": datetime(2030, 1, 1)}, "timezone-aware"),
    ({"run_at": "2030-01-01"}, "run_at"),
    ({"dedupe_key": ""}, "dedupe_key"),
    ({"dedupe_key": 5}, "dedupe_key"),
])
def test_bad_job_options_are_refused(queue, options, message):
    with pytest.raises(InvalidPayload, match=message):
        queue.enqueue({"x": 1}, **options)


def test_a_bad_item_rejects_the_whole_batch(queue):
    items = [{"payload": {"n": n}} for n in range(10)] + [{"payload": {"n": float("nan")}}]
    with pytest.raises(InvalidPayload, match="enqueue_batch item 10"):
        queue.enqueue_batch(items)
    assert queue.get_stats()["pending"] == 0


@pytest.mark.parametrize("items, message", [
    ([{"n": 1}], "'payload' key"),
    ([{"payload": {"n": 1}, "colour": "red"}], "unknown keys"),
    ([{"payload": [1]}], "payload must be a dict"),
    ({"payload": {}}, "list of job dicts"),
])
def test_batch_items_must_be_job_specs(queue, items, message):
    with pytest.raises(InvalidPayload, match=message):
        queue.enqueue_batch(items)


@pytest.mark.parametrize("kwargs, message", [
    ({"shards": 0}, "shards must be an int from 1 to 1024"),
    ({"shards": 2000}, "shards"),
    ({"shards": "6"}, "shards"),
    ({"rate_limit": -1}, "rate_limit"),
    ({"max_retries": -1}, "max_retries"),
    ({"circuit_breaker_threshold": 0}, "circuit_breaker_threshold"),
    ({"circuit_breaker_timeout": -1}, "circuit_breaker_timeout"),
    ({"rate_limiter_timeout": float("inf")}, "rate_limiter_timeout"),
    ({"lease_timeout": 0}, "lease_timeout"),
    ({"result_ttl": -1}, "result_ttl"),
    ({"data_dir": ""}, "data_dir"),
    ({"data_dir": 5}, "data_dir"),
])
def test_bad_queue_settings_are_refused(tmp_path, settings, kwargs, message):
    kwargs.setdefault("data_dir", tmp_path / "q")
    with pytest.raises(ConfigError, match=message):
        Queue(settings=settings, **kwargs)


def test_a_data_dir_that_is_a_file_is_refused(tmp_path, settings):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        Queue(data_dir=target, settings=settings)


def test_zero_is_a_real_value_never_replaced_by_a_default(make_queue):
    queue = make_queue(max_retries=0, rate_limit=0, result_ttl=0, rate_limiter_timeout=0)
    stats = queue.get_stats()
    assert stats["max_retries"] == 0 and stats["rate_limit"] == 0
    assert queue.options.result_ttl == 0 and queue.options.rate_limiter_timeout == 0


@pytest.mark.parametrize("job_id", [-1, 0, 5, "12", None, 10**15 + 1023])
def test_unknown_job_ids(queue, job_id):
    assert queue.get_job(job_id) is None
    with pytest.raises(JobNotFound):
        queue.cancel(job_id)


@pytest.mark.parametrize("status", ["done", 3, "PENDING"])
def test_bad_statuses_are_refused(queue, status):
    with pytest.raises(ConfigError, match="status must be one of"):
        queue.purge_queue(status)


@pytest.mark.parametrize("call", [
    lambda q: q.get_failed_jobs(limit=0),
    lambda q: q.cleanup_old_jobs(days=-1),
    lambda q: q.dlq_prune(older_than=-5),
    lambda q: q.shard_manager.get_dead_letter_queue(shard_id=99),
    lambda q: q.heartbeat(0, None),
])
def test_bad_management_arguments_are_refused(queue, call):
    with pytest.raises(ConfigError):
        call(queue)


def test_a_non_json_result_is_refused_and_the_job_stays_leased(queue):
    queue.enqueue({"x": 1})
    job = queue.pop_job("w")
    with pytest.raises(InvalidPayload, match="result"):
        queue.complete_job(job, result={"when": datetime(2026, 1, 1)})
    assert queue.get_job(job.id).is_processing
    assert queue.complete_job(job, result={"when": "2026-01-01"}) is True


def test_an_oversize_item_rejects_the_whole_batch_and_is_named(make_queue):
    queue = make_queue(max_payload_bytes=100, shards=3)
    items = [{"payload": {"n": n}} for n in range(30)]
    items[17] = {"payload": {"blob": "x" * 200}}
    with pytest.raises(InvalidPayload, match=r"item 17: payload is 21\d bytes as JSON; the limit is 100"):
        queue.enqueue_batch(items)
    assert queue.get_stats()["pending"] == 0
    # the general path (items with options) refuses it the same way
    items[0] = {"payload": {"n": 0}, "priority": 2}
    with pytest.raises(InvalidPayload, match="item 17"):
        queue.enqueue_batch(items)
    assert queue.get_stats()["pending"] == 0


def test_a_batch_mixing_bare_payloads_and_options_keeps_input_order(make_queue):
    queue = make_queue(shards=2)
    result = queue.enqueue_batch([{"payload": {"n": 0}}, {"payload": {"n": 1}, "priority": 2},
                                  {"payload": {"n": 2}}])
    assert [queue.get_job(i).payload["n"] for i in result["ids"]] == [0, 1, 2]
    assert result["total"] == 3


@pytest.mark.parametrize("worker_id, limit", [("", 1), (5, 1), ("w", 0), ("w", 1.5), ("w", 10_001)])
def test_bad_claim_arguments_are_refused(queue, worker_id, limit):
    queue.enqueue({"x": 1})
    with pytest.raises(ConfigError):
        queue.claim_jobs(worker_id, limit)
    assert queue.get_stats()["pending"] == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"durable": "false"}, "durable must be True or False"),
    ({"retry_backoff": 100, "retry_backoff_max": 10}, "retry_backoff .* must not exceed retry_backoff_max"),
])
def test_more_bad_queue_settings(tmp_path, settings, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Queue(data_dir=tmp_path / "q", settings=settings, **kwargs)


@pytest.mark.parametrize("call", [
    lambda q: q.dlq_list(queue_name="two words"),
    lambda q: q.dlq_count(queue_name=""),
    lambda q: q.dlq_requeue(queue_name="a" * 65),
    lambda q: q.dlq_prune(queue_name="-leading-dash"),
    lambda q: q.purge_queue("pending", queue_name="bad/name"),
    lambda q: q.cleanup_old_jobs(queue_name=3),
    lambda q: q.counts(queue_name="x y"),
    lambda q: q.oldest_ready(queue_name="x y"),
])
def test_a_bad_queue_name_filter_is_refused_before_anything_changes(queue, call):
    # Given a pending job in the default queue
    queue.enqueue({"n": 1})
    # When a management call names a queue that could not exist, it is refused with the rule
    with pytest.raises(ConfigError, match="queue_name must be 1 to 64 characters"):
        call(queue)
    # And nothing was changed
    assert queue.counts()["pending"] == 1
