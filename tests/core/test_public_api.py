"""The public API: complete, sorted, and what the reference README promises."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import queue_max
from queue_max import Job, JobPriority, JobStatus, Queue


def test_all_is_sorted_and_complete():
    assert queue_max.__all__ == sorted(queue_max.__all__)
    for name in queue_max.__all__:
        assert hasattr(queue_max, name), name


def test_every_module_declares_its_public_names():
    for module in pkgutil.walk_packages(queue_max.__path__, "queue_max."):
        if ".contrib." in module.name or module.name.endswith("__main__"):
            continue
        mod = importlib.import_module(module.name)
        assert hasattr(mod, "__all__"), module.name
        for name in mod.__all__:
            assert hasattr(mod, name), f"{module.name}.{name}"


def test_queue_constructor_keeps_the_reference_signature():
    params = list(inspect.signature(Queue).parameters.values())
    names = [p.name for p in params[:7]]
    assert names == ["shards", "rate_limit", "max_retries", "data_dir", "circuit_breaker_threshold",
                     "circuit_breaker_timeout", "rate_limiter_timeout"]
    assert params[6].default == 5.0 and all(p.default is None for p in params[:6])


def test_reference_methods_exist_with_their_positional_arguments():
    expected = {
        "enqueue": ["payload", "pagina_id", "priority", "max_retries"],
        "enqueue_batch": ["items"],
        "enqueue_from_file": ["path", "fmt"],
        "pop_job": ["worker_id"],
        "complete_job": ["job_id", "shard_id"],
        "fail_job": ["job_id", "shard_id", "error", "permanent"],
        "retry_failed_jobs": ["shard_id"],
        "cleanup_old_jobs": ["days"],
        "purge_queue": ["status"],
        "recover_orphans": [],
        "heartbeat": ["shard_id", "worker_id"],
        "wait_until_empty": ["timeout"],
        "get_failed_jobs": ["limit"],
        "get_processing_jobs": [],
        "get_stats": [],
        "on": ["event", "callback"],
        "batch": [],
        "close": [],
    }
    for method, args in expected.items():
        params = [p.name for p in inspect.signature(getattr(Queue, method)).parameters.values()
                  if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"]
        assert params[: len(args)] == args, method


def test_job_has_every_reference_field_and_english_aliases(queue):
    queue.enqueue({"x": 1}, priority=2)
    job = queue.pop_job("w")
    for name in ("id", "payload", "status", "priority_int", "shard_id", "tentativas", "max_tentativas",
                 "last_error", "error_type", "worker_id", "created_at", "next_retry_at", "started_at",
                 "completed_at", "is_pending", "is_processing", "is_completed", "is_failed",
                 "is_cancelled", "is_terminal", "can_retry", "remaining_retries", "age_seconds",
                 "processing_time_seconds", "attempts", "max_attempts", "shard_key", "enqueued_at",
                 "run_at", "claimed_at", "lease"):
        getattr(job, name)
    assert job.priority is JobPriority.HIGH and job.status is JobStatus.PROCESSING
    assert job.created_at.endswith("+00:00") and job.enqueued_at.tzinfo is not None
    assert job.can_retry and job.remaining_retries == 3 and not job.is_terminal
    assert isinstance(job, Job) and job.to_dict()["status"] == "processing"


def test_a_dead_letter_keeps_its_positional_fields_and_defaults_its_queue_name():
    # Given a DeadLetter built positionally as before it had a queue name
    entry = queue_max.DeadLetter(1, 1024, 0, {"a": 1}, "boom", "ValueError", 0.0, 2, "trace")
    # Then every earlier field sits where it was, and the queue is the default one
    assert (entry.original_job_id, entry.attempts, entry.error_stack) == (1024, 2, "trace")
    assert entry.queue_name == "default"
    # And the dict keeps every earlier key, with the queue name added beside them
    assert list(entry.as_dict()) == ["id", "original_job_id", "payload", "error", "error_type", "failed_at",
                                     "shard_id", "attempts", "error_stack", "queue_name"]
