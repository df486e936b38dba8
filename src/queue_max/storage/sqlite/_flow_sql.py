"""The SQL of the host-wide flow-control state: token buckets, breakers, slots, paused queues."""

from __future__ import annotations

__all__ = ["FLOW_SCHEMA", "F"]

# Every shard file has these tables (one schema for every file); only shard 0's are used.
FLOW_SCHEMA = [
    """
    CREATE TABLE flow_buckets (
        name   TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        stamp  REAL NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE flow_breakers (
        name        TEXT PRIMARY KEY,
        state       TEXT    NOT NULL,
        failures    INTEGER NOT NULL,
        opened_at   REAL,
        trial_until REAL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE flow_slots (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        holder     TEXT NOT NULL,
        expires_at REAL NOT NULL
    )
    """,
    "CREATE INDEX flow_slots_name ON flow_slots(name, expires_at)",
    "CREATE INDEX flow_slots_holder ON flow_slots(holder)",
    "CREATE TABLE flow_paused (name TEXT PRIMARY KEY, paused_at REAL NOT NULL) WITHOUT ROWID",
]


class F:
    """Named statements of the flow-control state."""

    bucket_get = "SELECT tokens, stamp FROM flow_buckets WHERE name = ?"
    bucket_put = (
        "INSERT INTO flow_buckets(name, tokens, stamp) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET tokens = excluded.tokens, stamp = excluded.stamp"
    )
    buckets = "SELECT name, tokens, stamp FROM flow_buckets ORDER BY name"

    breaker_get = "SELECT state, failures, opened_at, trial_until FROM flow_breakers WHERE name = ?"
    breaker_put = (
        "INSERT INTO flow_breakers(name, state, failures, opened_at, trial_until) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET state = excluded.state, "
        "failures = excluded.failures, opened_at = excluded.opened_at, "
        "trial_until = excluded.trial_until"
    )
    # a change as one short statement, applied only if nobody changed the row since it was read
    breaker_insert = (
        "INSERT INTO flow_breakers(name, state, failures, opened_at, trial_until) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(name) DO NOTHING"
    )
    breaker_cas = (
        "UPDATE flow_breakers SET state = ?, failures = ?, opened_at = ?, trial_until = ? "
        "WHERE name = ? AND state = ? AND failures = ? AND opened_at IS ? AND trial_until IS ?"
    )
    breakers = "SELECT name, state, failures, opened_at, trial_until FROM flow_breakers ORDER BY name"
    # what claims and acks must know: queues paused, breakers not closed or counting failures
    # (an ack records a success only on those)
    blocks = (
        "SELECT 'paused', name, NULL, NULL, NULL, NULL FROM flow_paused UNION ALL "
        "SELECT 'breaker', name, state, failures, opened_at, trial_until FROM flow_breakers "
        "WHERE state != 'closed' OR failures > 0"
    )

    slots_expire = "DELETE FROM flow_slots WHERE name = ? AND expires_at < ?"
    slots_live = "SELECT count(*) FROM flow_slots WHERE name = ? AND expires_at >= ?"
    slot_take = "INSERT INTO flow_slots(name, holder, expires_at) VALUES (?, ?, ?)"
    slot_free = "DELETE FROM flow_slots WHERE id = ?"
    slots_any = "SELECT EXISTS (SELECT 1 FROM flow_slots WHERE holder = ?)"
    slots_extend = "UPDATE flow_slots SET expires_at = max(expires_at, ?) WHERE holder = ?"
    slot_extend = "UPDATE flow_slots SET expires_at = max(expires_at, ?) WHERE id = ?"
    slots_count = (
        "SELECT name, count(*) FROM flow_slots WHERE expires_at >= ? GROUP BY name ORDER BY name"
    )

    pause = "INSERT INTO flow_paused(name, paused_at) VALUES (?, ?) ON CONFLICT DO NOTHING"
    resume = "DELETE FROM flow_paused WHERE name = ?"
    paused = "SELECT name FROM flow_paused ORDER BY name"
