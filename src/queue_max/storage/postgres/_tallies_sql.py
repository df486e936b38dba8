"""The SQL of the job tallies (exact jobs per queue and status, see `TALLIES_SCHEMA`), as templates on `{s}`."""

from __future__ import annotations

__all__ = ["DEAD_PER_QUEUE_SCHEMA", "DEAD_TALLY_SCHEMA", "TALLIES_SCHEMA", "TalliesQ"]


def _tally(rows: str) -> str:
    """A trigger function adding `rows` (queue_name, status, n) to this backend's own slot rows."""
    return (
        "BEGIN INSERT INTO {s}.tallies AS t (queue_name, status, slot, n) "
        "SELECT d.queue_name, d.status, pg_backend_pid(), sum(d.n) FROM (" + rows + ") AS d "
        "GROUP BY d.queue_name, d.status HAVING sum(d.n) <> 0 ORDER BY d.queue_name, d.status "
        "ON CONFLICT (queue_name, status, slot) DO UPDATE SET n = t.n + excluded.n; RETURN NULL; END"
    )


# Schema 5 -> 6: exact jobs per (queue, status), kept by the jobs table's statement triggers in
# the writing transaction, whichever statement writes (claims, acks, recovery, admin verbs, COPY,
# a caller's own SQL). Each backend adds to its own rows (slot = its pid), so no two open
# transactions ever share a counter row: a claim never waits on another's counter, and no two
# writers can deadlock on them. Slot 0 holds what `fold` moved there (and the migration's count).
# The reading sums the rows: (queues x statuses x backends that wrote since the last fold).
TALLIES_SCHEMA = [
    # no writer may change jobs between the count below and the triggers taking over
    "LOCK TABLE {s}.jobs IN SHARE ROW EXCLUSIVE MODE",
    """
    CREATE TABLE {s}.tallies (
        queue_name text    NOT NULL,
        status     text    NOT NULL,
        slot       integer NOT NULL,
        n          bigint  NOT NULL,
        PRIMARY KEY (queue_name, status, slot)
    ) WITH (fillfactor = 50)""",
    "CREATE FUNCTION {s}.tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$ "
    + _tally("SELECT queue_name, status, 1 AS n FROM new_jobs") + " $$",
    "CREATE FUNCTION {s}.tally_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
    + _tally("SELECT queue_name, status, -1 AS n FROM old_jobs") + " $$",
    # most updates (heartbeats, lease extensions, progress) move no job: they net to no row
    "CREATE FUNCTION {s}.tally_update() RETURNS trigger LANGUAGE plpgsql AS $$ " + _tally(
        "SELECT queue_name, status, 1 AS n FROM new_jobs "
        "UNION ALL SELECT queue_name, status, -1 FROM old_jobs") + " $$",
    "CREATE FUNCTION {s}.tally_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN DELETE FROM {s}.tallies; RETURN NULL; END $$",
    "CREATE TRIGGER tally_insert AFTER INSERT ON {s}.jobs REFERENCING NEW TABLE AS new_jobs "
    "FOR EACH STATEMENT EXECUTE FUNCTION {s}.tally_insert()",
    "CREATE TRIGGER tally_delete AFTER DELETE ON {s}.jobs REFERENCING OLD TABLE AS old_jobs "
    "FOR EACH STATEMENT EXECUTE FUNCTION {s}.tally_delete()",
    "CREATE TRIGGER tally_update AFTER UPDATE ON {s}.jobs REFERENCING OLD TABLE AS old_jobs "
    "NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION {s}.tally_update()",
    "CREATE TRIGGER tally_truncate AFTER TRUNCATE ON {s}.jobs "
    "FOR EACH STATEMENT EXECUTE FUNCTION {s}.tally_truncate()",
    # the jobs a database already holds, counted once (the lock above keeps the count exact)
    "INSERT INTO {s}.tallies (queue_name, status, slot, n) "
    "SELECT queue_name, status, 0, count(*) FROM {s}.jobs GROUP BY queue_name, status",
]

# Schema 6 -> 7: the dead letters counted the same way, in one row per backend of queue '' (no
# job's queue may be empty) and status 'dead_letter' (no job's status): `get_stats()` reads it.
DEAD_TALLY_SCHEMA = [
    "LOCK TABLE {s}.dead_letters IN SHARE ROW EXCLUSIVE MODE",
    "CREATE FUNCTION {s}.tally_dead_insert() RETURNS trigger LANGUAGE plpgsql AS $$ "
    + _tally("SELECT '' AS queue_name, 'dead_letter' AS status, 1 AS n FROM new_dead") + " $$",
    "CREATE FUNCTION {s}.tally_dead_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
    + _tally("SELECT '' AS queue_name, 'dead_letter' AS status, -1 AS n FROM old_dead") + " $$",
    "CREATE FUNCTION {s}.tally_dead_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN DELETE FROM {s}.tallies WHERE status = 'dead_letter'; RETURN NULL; END $$",
    "CREATE TRIGGER tally_dead_insert AFTER INSERT ON {s}.dead_letters REFERENCING NEW TABLE AS new_dead "
    "FOR EACH STATEMENT EXECUTE FUNCTION {s}.tally_dead_insert()",
    "CREATE TRIGGER tally_dead_delete AFTER DELETE ON {s}.dead_letters REFERENCING OLD TABLE AS old_dead "
    "FOR EACH STATEMENT EXECUTE FUNCTION {s}.tally_dead_delete()",
    "CREATE TRIGGER tally_dead_truncate AFTER TRUNCATE ON {s}.dead_letters "
    "FOR EACH STATEMENT EXECUTE FUNCTION {s}.tally_dead_truncate()",
    "INSERT INTO {s}.tallies (queue_name, status, slot, n) "
    "SELECT '', 'dead_letter', 0, count(*) FROM {s}.dead_letters HAVING count(*) > 0",
]

# Schema 7 -> 8: a dead letter keeps the name of its job's queue (written at burial; taken from
# the job rows here, `default` for one whose job row the caller's own SQL deleted), and the dead
# letters are counted per queue, status 'dead_letter', so the dead letters of one queue are read
# from the tallies: `dlq_count(queue_name=...)` at 100k dead letters went from 104-154 ms (each
# dead letter's job looked up) to 0.15-0.20 ms (docs/benchmarks.md).
DEAD_PER_QUEUE_SCHEMA = [
    "LOCK TABLE {s}.dead_letters IN SHARE ROW EXCLUSIVE MODE",
    "ALTER TABLE {s}.dead_letters ADD COLUMN queue_name text NOT NULL DEFAULT 'default'",
    "UPDATE {s}.dead_letters d SET queue_name = j.queue_name FROM {s}.jobs j "
    "WHERE j.id = d.job_rowid AND j.queue_name <> 'default'",
    # the dead letters of one queue in `dlq_list`'s order, with their error type (a count by
    # queue and error type can read this index alone)
    "CREATE INDEX dead_letters_queue ON {s}.dead_letters (queue_name, failed_at, id) INCLUDE (error_type)",
    "CREATE OR REPLACE FUNCTION {s}.tally_dead_insert() RETURNS trigger LANGUAGE plpgsql AS $$ "
    + _tally("SELECT queue_name, 'dead_letter' AS status, 1 AS n FROM new_dead") + " $$",
    "CREATE OR REPLACE FUNCTION {s}.tally_dead_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
    + _tally("SELECT queue_name, 'dead_letter' AS status, -1 AS n FROM old_dead") + " $$",
    # we never update a dead letter; a caller's own SQL that moves one to another queue is counted
    "CREATE FUNCTION {s}.tally_dead_update() RETURNS trigger LANGUAGE plpgsql AS $$ " + _tally(
        "SELECT queue_name, 'dead_letter' AS status, 1 AS n FROM new_dead "
        "UNION ALL SELECT queue_name, 'dead_letter', -1 FROM old_dead") + " $$",
    "CREATE TRIGGER tally_dead_update AFTER UPDATE ON {s}.dead_letters REFERENCING OLD TABLE AS old_dead "
    "NEW TABLE AS new_dead FOR EACH STATEMENT EXECUTE FUNCTION {s}.tally_dead_update()",
    "DELETE FROM {s}.tallies WHERE status = 'dead_letter'",
    "INSERT INTO {s}.tallies (queue_name, status, slot, n) "
    "SELECT queue_name, 'dead_letter', 0, count(*) FROM {s}.dead_letters GROUP BY queue_name",
]


class TalliesQ:
    """Named statement templates of the job tallies."""

    # One statement, so one snapshot: the tallies, and per queue the scheduled jobs already due
    # (they count as pending; claims promote them within milliseconds, so the index range is short).
    read_tallies = (
        "SELECT queue_name, status, sum(n)::bigint FROM {s}.tallies GROUP BY queue_name, status "
        "UNION ALL SELECT queue_name, 'due', count(*) FROM {s}.jobs "
        "WHERE status = 'scheduled' AND run_at <= %(now)s GROUP BY queue_name"
    )
    read_tallies_in = (
        "SELECT queue_name, status, sum(n)::bigint FROM {s}.tallies WHERE queue_name = %(queue)s "
        "GROUP BY queue_name, status UNION ALL SELECT queue_name, 'due', count(*) FROM {s}.jobs "
        "WHERE status = 'scheduled' AND run_at <= %(now)s AND queue_name = %(queue)s GROUP BY queue_name"
    )
    # the dead letters of every queue, and of one (also in `read_tallies` and `read_tallies_in`)
    tally_dead = "SELECT coalesce(sum(n), 0)::bigint FROM {s}.tallies WHERE status = 'dead_letter'"
    tally_dead_in = (
        "SELECT coalesce(sum(n), 0)::bigint FROM {s}.tallies WHERE queue_name = %s AND status = 'dead_letter'"
    )
    tally_live = (
        "SELECT coalesce(sum(n), 0)::bigint FROM {s}.tallies WHERE status IN ('pending', 'scheduled', 'processing')"
    )
    tally_rows = "SELECT count(*) FROM {s}.tallies WHERE slot <> 0"
    # Every backend's rows moved into slot 0, skipping those an open transaction holds (so the
    # fold never waits on a writer, nor a writer long on it); rows that reach zero go.
    fold_lock = "SELECT pg_try_advisory_xact_lock(hashtext(%s))"
    fold = (
        "WITH moved AS (DELETE FROM {s}.tallies WHERE (queue_name, status, slot) IN "
        "(SELECT queue_name, status, slot FROM {s}.tallies WHERE slot <> 0 FOR UPDATE SKIP LOCKED) "
        "RETURNING queue_name, status, n) "
        "INSERT INTO {s}.tallies AS t (queue_name, status, slot, n) "
        "SELECT queue_name, status, 0, sum(n) FROM moved GROUP BY queue_name, status "
        "ORDER BY queue_name, status "
        "ON CONFLICT (queue_name, status, slot) DO UPDATE SET n = t.n + excluded.n"
    )
    drop_zero = "DELETE FROM {s}.tallies WHERE slot = 0 AND n = 0"
    # what the tallies should say: the rows, counted (for tests and `check_tallies`)
    count_rows = "SELECT queue_name, status, count(*) FROM {s}.jobs GROUP BY queue_name, status"
