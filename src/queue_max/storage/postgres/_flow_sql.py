"""The SQL of the host-wide (here: cluster-wide) flow-control state, as templates on `{s}`."""

from __future__ import annotations

__all__ = ["FLOW_SCHEMA", "FlowQ"]

FLOW_SCHEMA = [
    "CREATE TABLE {s}.flow_buckets (name text PRIMARY KEY, tokens float8 NOT NULL, stamp float8 NOT NULL)",
    """CREATE TABLE {s}.flow_breakers (name text PRIMARY KEY, state text NOT NULL,
       failures integer NOT NULL, opened_at float8, trial_until float8)""",
    """CREATE TABLE {s}.flow_slots (id bigserial PRIMARY KEY, name text NOT NULL, holder text NOT NULL,
       expires_at float8 NOT NULL)""",
    "CREATE INDEX flow_slots_name ON {s}.flow_slots (name, expires_at)",
    "CREATE INDEX flow_slots_holder ON {s}.flow_slots (holder)",
    "CREATE TABLE {s}.flow_paused (name text PRIMARY KEY, paused_at float8 NOT NULL)",
]


class FlowQ:
    """Named statement templates of the flow-control state."""

    bucket_init = (
        "INSERT INTO {s}.flow_buckets (name, tokens, stamp) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
    )
    bucket_lock = "SELECT tokens, stamp FROM {s}.flow_buckets WHERE name = %s FOR UPDATE"
    bucket_set = "UPDATE {s}.flow_buckets SET tokens = %s, stamp = %s WHERE name = %s"
    buckets = "SELECT name, tokens, stamp FROM {s}.flow_buckets ORDER BY name"

    breaker_get = "SELECT state, failures, opened_at, trial_until FROM {s}.flow_breakers WHERE name = %s"
    breaker_init = (
        "INSERT INTO {s}.flow_breakers (name, state, failures) VALUES (%s, 'closed', 0) ON CONFLICT DO NOTHING"
    )
    breaker_lock = (
        "SELECT state, failures, opened_at, trial_until FROM {s}.flow_breakers WHERE name = %s FOR UPDATE"
    )
    breaker_set = (
        "UPDATE {s}.flow_breakers SET state = %s, failures = %s, opened_at = %s, trial_until = %s "
        "WHERE name = %s"
    )
    breakers = "SELECT name, state, failures, opened_at, trial_until FROM {s}.flow_breakers ORDER BY name"
    # queues paused, breakers not closed or counting failures (an ack records a success only on those)
    blocks = (
        "SELECT 'paused', name, NULL, NULL::integer, NULL::float8, NULL::float8 FROM {s}.flow_paused UNION ALL "
        "SELECT 'breaker', name, state, failures, opened_at, trial_until FROM {s}.flow_breakers "
        "WHERE state <> 'closed' OR failures > 0"
    )
    # tells every listener that paused queues or breakers changed (see FlowControl.flow_token)
    notify_flow = "SELECT pg_notify(%s, 'flow')"

    # slots of one scope are counted and taken by one caller at a time (a transaction-scoped lock)
    slots_lock = "SELECT pg_advisory_xact_lock(hashtext(%s))"
    slots_expire = "DELETE FROM {s}.flow_slots WHERE name = %s AND expires_at < %s"
    slots_live = "SELECT count(*) FROM {s}.flow_slots WHERE name = %s AND expires_at >= %s"
    slots_take = (
        "INSERT INTO {s}.flow_slots (name, holder, expires_at) SELECT %s, %s, %s FROM generate_series(1, %s) "
        "RETURNING id"
    )
    slots_free = "DELETE FROM {s}.flow_slots WHERE id = ANY(%s::bigint[])"
    slots_extend = "UPDATE {s}.flow_slots SET expires_at = greatest(expires_at, %s) WHERE holder = %s"
    slots_extend_ids = "UPDATE {s}.flow_slots SET expires_at = greatest(expires_at, %s) WHERE id = ANY(%s::bigint[])"
    slots_count = (
        "SELECT name, count(*) FROM {s}.flow_slots WHERE expires_at >= %s GROUP BY name ORDER BY name"
    )

    pause = "INSERT INTO {s}.flow_paused (name, paused_at) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    resume = "DELETE FROM {s}.flow_paused WHERE name = %s"
    paused = "SELECT name FROM {s}.flow_paused ORDER BY name"
