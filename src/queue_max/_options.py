"""Turning the Queue's keyword arguments and job specs into validated settings and NewJobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._payload import DEFAULT_QUEUE, encode_payload, resolve_run_at
from .config import Settings
from ._validate import (
    check_bool,
    check_concurrency_key,
    check_count,
    check_dedupe_key,
    check_dedupe_window,
    check_max_retries,
    check_priority,
    check_queue_name,
    check_seconds,
    check_shard_key,
)
from .errors import ConfigError, InvalidPayload
from .models import NewJob

__all__ = ["BATCH_KEYS", "QueueOptions", "build_from_spec", "build_job", "resolve_options"]

BATCH_KEYS = frozenset({"payload", "pagina_id", "shard_key", "priority", "max_retries", "delay",
                        "run_at", "dedupe_key", "dedupe_window", "queue_name", "concurrency_key"})


def _check_backoff(base: float, cap: float) -> None:
    if base > cap:
        raise ConfigError(f"retry_backoff ({base}) must not exceed retry_backoff_max ({cap})")


@dataclass(frozen=True, slots=True)
class QueueOptions:
    """The Queue's resolved configuration (explicit arguments over settings over defaults)."""

    shards: int | None
    shards_explicit: bool
    rate_limit: int
    max_retries: int
    data_dir: Path
    circuit_threshold: int
    circuit_timeout: float
    rate_limiter_timeout: float
    lease_timeout: float
    result_ttl: float
    alert_threshold: int
    max_payload_bytes: int
    retry_backoff: float
    retry_backoff_max: float
    recovery_interval: float
    heartbeat_interval: float
    cleanup_days: float
    durable: bool


def resolve_options(s: Settings, args: Mapping[str, Any]) -> QueueOptions:
    """`args` holds the Queue's keyword arguments; None means "use the setting" (0 is a value)."""

    def pick(name: str, default: Any) -> Any:
        value = args.get(name)
        return default if value is None else value

    shards = args.get("shards")
    if shards is not None:
        shards = check_count("shards", shards, 1, 1024)
    data_dir = pick("data_dir", s.data_dir)
    if not isinstance(data_dir, (str, Path)) or not str(data_dir):
        raise ConfigError(f"data_dir must be a non-empty str or Path, got {data_dir!r}")
    options = QueueOptions(
        shards=shards if shards is not None else (s.num_shards if s.shards_explicit else None),
        shards_explicit=shards is not None or s.shards_explicit,
        rate_limit=check_count("rate_limit", pick("rate_limit", s.rate_limit), 0, 10**9),
        max_retries=check_count("max_retries", pick("max_retries", s.max_retries), 0, 1000),
        data_dir=Path(data_dir),
        circuit_threshold=check_count(
            "circuit_breaker_threshold", pick("circuit_breaker_threshold", s.circuit_failure_threshold), 1, 10**6),
        circuit_timeout=check_seconds(
            "circuit_breaker_timeout", pick("circuit_breaker_timeout", s.circuit_timeout)),
        rate_limiter_timeout=check_seconds("rate_limiter_timeout", pick("rate_limiter_timeout", 5.0)),
        lease_timeout=check_seconds("lease_timeout", pick("lease_timeout", s.lease_timeout), positive=True),
        result_ttl=check_seconds("result_ttl", pick("result_ttl", s.result_ttl)),
        alert_threshold=check_count("alert_threshold", pick("alert_threshold", s.alert_threshold), 0, 10**12),
        max_payload_bytes=check_count(
            "max_payload_bytes", pick("max_payload_bytes", s.max_payload_bytes), 64, 256 * 1024 * 1024),
        retry_backoff=check_seconds("retry_backoff", pick("retry_backoff", s.retry_backoff)),
        retry_backoff_max=check_seconds("retry_backoff_max", pick("retry_backoff_max", s.retry_backoff_max)),
        recovery_interval=check_seconds(
            "recovery_interval", pick("recovery_interval", s.recovery_interval), positive=True),
        heartbeat_interval=check_seconds(
            "heartbeat_interval", pick("heartbeat_interval", s.heartbeat_interval), positive=True),
        cleanup_days=s.cleanup_days,
        durable=check_bool("durable", pick("durable", s.durable)),
    )
    _check_backoff(options.retry_backoff, options.retry_backoff_max)
    return options


def build_job(
    options: QueueOptions,
    now: float,
    payload: object,
    pagina_id: object = None,
    priority: object = 0,
    max_retries: object = None,
    delay: object = None,
    run_at: object = None,
    dedupe_key: object = None,
    queue_name: object = DEFAULT_QUEUE,
    concurrency_key: object = None,
    dedupe_window: object = None,
) -> NewJob:
    """Validate one job completely (before anything is written) and return it ready to store."""
    retries = options.max_retries if max_retries is None else check_max_retries(max_retries)
    key = check_dedupe_key(dedupe_key)
    return NewJob(
        encode_payload(payload, options.max_payload_bytes),
        check_priority(priority),
        retries + 1,
        resolve_run_at(now, delay, run_at),
        check_shard_key(pagina_id),
        key,
        queue_name=check_queue_name(queue_name),
        concurrency_key=check_concurrency_key(concurrency_key),
        dedupe_window=check_dedupe_window(dedupe_window, key),
    )


def build_from_spec(options: QueueOptions, now: float, spec: object, where: str) -> NewJob:
    """A NewJob from an `enqueue_batch` item or a jobs-file record; errors name `where`."""
    if type(spec) is dict and len(spec) == 1 and "payload" in spec:
        # the common case: a payload with every option at its default
        try:
            return NewJob(encode_payload(spec["payload"], options.max_payload_bytes), 0,
                          options.max_retries + 1)
        except InvalidPayload as exc:
            raise type(exc)(f"{where}: {exc}") from None
    if not isinstance(spec, dict) or "payload" not in spec:
        raise InvalidPayload(
            f"{where} must be a dict with a 'payload' key (and optionally "
            f"{', '.join(sorted(BATCH_KEYS - {'payload'}))}), got {spec!r:.80}"
        )
    unknown = set(spec) - BATCH_KEYS
    if unknown:
        raise InvalidPayload(
            f"{where} has unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(BATCH_KEYS))}"
        )
    key = spec.get("pagina_id", spec.get("shard_key"))
    try:
        return build_job(options, now, spec["payload"], key, spec.get("priority", 0),
                         spec.get("max_retries"), spec.get("delay"), spec.get("run_at"),
                         spec.get("dedupe_key"), spec.get("queue_name", DEFAULT_QUEUE),
                         spec.get("concurrency_key"), spec.get("dedupe_window"))
    except InvalidPayload as exc:
        raise type(exc)(f"{where}: {exc}") from None
