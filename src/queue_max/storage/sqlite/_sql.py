"""Every SQL statement the SQLite backend runs, named, in one place."""

from __future__ import annotations

import functools

from ._flow_sql import FLOW_SCHEMA
from ._ids import SQL_JOB_ID
from ._rows import CLAIMED_COLUMNS
from ._rows import NAMED_JOB_COLUMNS as JOB_COLUMNS

__all__ = ["ACK_CHUNK", "APPLICATION_ID", "DEAD_TALLY_SCHEMA", "FIND_FILTERS", "MIGRATE_2_TO_3", "MIGRATE_3_TO_4", "MIGRATE_4_TO_5", "MIGRATE_5_TO_6", "MIGRATE_6_TO_7",
           "OBSERVABILITY_SCHEMA", "SCHEMA", "SCHEMA_VERSION", "TALLIES_SCHEMA", "TALLY_STATUSES", "Q", "claim_excluding", "complete_values"]

# "QMAX" as a big-endian int: marks a file as a queue-max shard.
APPLICATION_ID = 0x514D4158
SCHEMA_VERSION = 7

# schema v2: the per-minute event metrics (see _rollup) and the trace context of traced jobs
OBSERVABILITY_SCHEMA = [
    """
    CREATE TABLE metrics (
        minute INTEGER NOT NULL,
        queue  TEXT    NOT NULL,
        task   TEXT    NOT NULL,
        name   TEXT    NOT NULL,
        label  TEXT    NOT NULL,
        value  REAL    NOT NULL,
        PRIMARY KEY (minute, queue, task, name, label)
    ) WITHOUT ROWID
    """,
    # W3C trace context of a job enqueued under an OpenTelemetry span (kept across retries)
    "CREATE TABLE job_traces (job_rowid INTEGER PRIMARY KEY, context TEXT NOT NULL)",
]

# The run order, per named queue. `ready` is 1 from the moment a job is due until it finishes,
# and a claim does not change it: claiming rewrites only the table row, not an index page, which
# is what makes a claim cheap. A claim skips the entries that are already processing. A worker
# on chosen queues reads only their entries; one on every queue walks the queue names present
# (one index seek each) and merges their heads. One index, not two: a second one cost a fifth of
# the single-enqueue rate.
_READY_INDEX = (
    "CREATE INDEX fila_ready ON fila(queue_name, priority DESC, run_at, id) WHERE ready = 1"
)

# The stored statuses, in the column order of `tallies`.
TALLY_STATUSES = ("pending", "scheduled", "processing", "completed", "failed", "cancelled")
_TALLY_COLUMNS = ", ".join(TALLY_STATUSES)
_TALLY_ADD = ", ".join(f"{status} = {status} + excluded.{status}" for status in TALLY_STATUSES)
_TALLY_COUNTS = ", ".join(f"count(*) FILTER (WHERE status = '{status}')" for status in TALLY_STATUSES)


def _tally_upsert(row: str, sign: str) -> str:
    """Add (`sign` "+") or take away ("-") `row`'s job in its queue's tallies row: one UPSERT."""
    flags = ", ".join(f"{sign}({row}.status = '{status}')" for status in TALLY_STATUSES)
    return (f"INSERT INTO tallies(queue_name, {_TALLY_COLUMNS}) VALUES ({row}.queue_name, {flags}) "
            f"ON CONFLICT(queue_name) DO UPDATE SET {_TALLY_ADD};")


# Schema v5: exact job counts per queue and stored status, kept in the transaction of every
# write, so `get_stats()` reads one small row per queue instead of counting a million rows.
#
# Who counts (measured with callgrind, benchmarks/instr.py; figures in docs/benchmarks.md):
# - A statement that moves many jobs at once counts them itself, in its own transaction: a
#   batch enqueue, a batch claim, a grouped ack (`_tally.py`). It flips the row's `tallied`
#   column, which tells the triggers below that the change is already counted. A trigger that
#   would count each row of a batch cost ~15k instructions a row, +26% on claim(32)+ack; a
#   trigger whose WHEN is false costs ~1.7k.
# - Every insert of ours counts itself (`tallied` = 1) or is left to the tail (below); schema 6
#   has no insert trigger: even one whose WHEN was false cost a batch enqueue ~3.4k
#   instructions a row (SQLite also copies an INSERT ... SELECT through a temporary table when
#   the table has row triggers) and a lone enqueue ~3.9k.
# - Everything else is counted by the triggers: a single claim or ack (one statement each, with
#   no statement added: a transaction around them would add three), retries, dead letters,
#   cancels, recovery, housekeeping, and any update or delete made with the sqlite3 shell.
# - The tail: a row whose id is above `tally_mark.mark` and whose `tallied` is -1 (a lone
#   enqueue: one INSERT, its own transaction) or NULL (a row inserted with the sqlite3 shell)
#   is not counted yet. Readers count such rows themselves (a short range of the newest ids),
#   triggers leave them alone, and the next transaction that folds the tail (a batch claim, a
#   grouped ack, a batch enqueue, the once-a-second metrics write) counts them in and moves the
#   mark past them; the rows keep their `tallied`, and the mark alone says they are counted.
#   A trigger per lone enqueue cost +24% of its instructions (one more page in its commit).
# An UPDATE that does not set `status` (heartbeats, lease extensions, progress) never runs them.
_COUNTED_ROW = "({0}.tallied >= 0 OR {0}.id <= (SELECT mark FROM tally_mark))"  # not in the tail
_TALLY_TRIGGERS = [
    f"CREATE TRIGGER fila_tally_delete AFTER DELETE ON fila WHEN {_COUNTED_ROW.format('OLD')} "
    f"BEGIN {_tally_upsert('OLD', '-')} END",
    "CREATE TRIGGER fila_tally_status AFTER UPDATE OF status ON fila WHEN NEW.tallied IS OLD.tallied "
    "AND OLD.status IS NOT NEW.status AND OLD.queue_name = NEW.queue_name AND "
    f"{_COUNTED_ROW.format('OLD')} BEGIN UPDATE tallies SET "
    + ", ".join(f"{status} = {status} + (NEW.status = '{status}') - (OLD.status = '{status}')"
                for status in TALLY_STATUSES)
    + " WHERE queue_name = NEW.queue_name; END",
    "CREATE TRIGGER fila_tally_queue AFTER UPDATE OF queue_name ON fila WHEN OLD.queue_name IS NOT "
    f"NEW.queue_name AND {_COUNTED_ROW.format('OLD')} BEGIN {_tally_upsert('OLD', '-')} {_tally_upsert('NEW', '+')} END",
]
TALLIES_SCHEMA = [
    f"""
    CREATE TABLE tallies (
        queue_name TEXT PRIMARY KEY,
        {', '.join(f"{status} INTEGER NOT NULL DEFAULT 0" for status in TALLY_STATUSES)}
    ) WITHOUT ROWID
    """,
    *_TALLY_TRIGGERS,
    # the rows above `mark` that no statement counted are counted later (see `_tally.fold_tail`)
    "CREATE TABLE tally_mark (one INTEGER PRIMARY KEY CHECK (one = 1), mark INTEGER NOT NULL)",
    "INSERT INTO tally_mark(one, mark) VALUES (1, coalesce((SELECT max(id) FROM fila), 0))",
]

# Schema 5's dead-letter count: one row, one number (its dead letters had no queue name).
_DEAD_TALLY_V5 = [
    "CREATE TABLE dead_tally (one INTEGER PRIMARY KEY CHECK (one = 1), n INTEGER NOT NULL)",
    "INSERT INTO dead_tally(one, n) VALUES (1, (SELECT count(*) FROM dead_letter_queue))",
    "CREATE TRIGGER dead_tally_insert AFTER INSERT ON dead_letter_queue BEGIN "
    "UPDATE dead_tally SET n = n + 1; END",
    "CREATE TRIGGER dead_tally_delete AFTER DELETE ON dead_letter_queue BEGIN "
    "UPDATE dead_tally SET n = n - 1; END",
]

# Schema 7: a dead letter keeps the name of its job's queue (written at burial), and the dead
# letters are counted per queue by triggers, so the dead letters of one queue are one row read:
# `dlq_count(queue_name=...)` at 100k dead letters on 6 shards went from ~84 ms (each dead
# letter's job looked up) to a read of 6 tally rows (docs/benchmarks.md). Triggers, not the
# burying statements, count them: a burial is rare next to a claim or an ack, and a dead letter
# inserted, deleted or moved to another queue with the sqlite3 shell is counted too.
DEAD_TALLY_SCHEMA = [
    # The dead letters of one queue in id order (`dlq_list` reads it backwards, to its limit),
    # with their error type: a count by queue and error type reads this index alone. At 50k dead
    # letters of a queue in a shard: 16 ms -> 1.5 ms on an index of the queue name alone, and an
    # index (queue_name, error_type) made `dlq_list` sort the queue's entries (0.03 -> 24 ms).
    "CREATE INDEX dead_letter_queue_name ON dead_letter_queue(queue_name, id, error_type)",
    "CREATE TABLE dead_tally (queue_name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO dead_tally(queue_name, n) SELECT queue_name, count(*) FROM dead_letter_queue GROUP BY queue_name",
    "CREATE TRIGGER dead_tally_insert AFTER INSERT ON dead_letter_queue BEGIN "
    "INSERT INTO dead_tally(queue_name, n) VALUES (NEW.queue_name, 1) "
    "ON CONFLICT(queue_name) DO UPDATE SET n = n + 1; END",
    "CREATE TRIGGER dead_tally_delete AFTER DELETE ON dead_letter_queue BEGIN "
    "UPDATE dead_tally SET n = n - 1 WHERE queue_name = OLD.queue_name; END",
    "CREATE TRIGGER dead_tally_queue AFTER UPDATE OF queue_name ON dead_letter_queue "
    "WHEN OLD.queue_name IS NOT NEW.queue_name BEGIN "
    "UPDATE dead_tally SET n = n - 1 WHERE queue_name = OLD.queue_name; "
    "INSERT INTO dead_tally(queue_name, n) VALUES (NEW.queue_name, 1) "
    "ON CONFLICT(queue_name) DO UPDATE SET n = n + 1; END",
]

SCHEMA = [
    """
    CREATE TABLE fila (
        id               INTEGER PRIMARY KEY,
        pagina_id        INTEGER,
        payload          TEXT    NOT NULL,
        status           TEXT    NOT NULL DEFAULT 'pending',
        priority         INTEGER NOT NULL DEFAULT 0,
        tentativas       INTEGER NOT NULL DEFAULT 0,
        max_tentativas   INTEGER NOT NULL,
        lease_token      INTEGER NOT NULL DEFAULT 0,
        last_error       TEXT,
        error_type       TEXT,
        error_stack      TEXT,
        worker_id        TEXT,
        heartbeat        REAL,
        lease_expires_at REAL,
        created_at       REAL    NOT NULL,
        run_at           REAL    NOT NULL,
        started_at       REAL,
        completed_at     REAL,
        expires_at       REAL,
        dedupe_key       TEXT,
        result           TEXT,
        ready            INTEGER,
        queue_name       TEXT    NOT NULL DEFAULT 'default',
        concurrency_key  TEXT,
        progress         REAL,
        progress_message TEXT,
        cancel_requested REAL,
        tallied          INTEGER
    )
    """,
    _READY_INDEX,
    "CREATE INDEX fila_scheduled ON fila(run_at) WHERE status = 'scheduled'",
    """CREATE UNIQUE INDEX fila_dedupe ON fila(dedupe_key)
       WHERE dedupe_key IS NOT NULL AND completed_at IS NULL""",
    """
    CREATE TABLE dead_letter_queue (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        original_job_id INTEGER NOT NULL,
        job_rowid       INTEGER NOT NULL,
        payload         TEXT    NOT NULL,
        error           TEXT,
        error_type      TEXT,
        error_stack     TEXT,
        failed_at       REAL    NOT NULL,
        shard_id        INTEGER NOT NULL,
        attempts        INTEGER NOT NULL,
        queue_name      TEXT    NOT NULL DEFAULT 'default'
    )
    """,
    "CREATE INDEX dead_letter_job ON dead_letter_queue(job_rowid)",
    """
    CREATE TABLE job_errors (
        job_rowid   INTEGER NOT NULL,
        attempt     INTEGER NOT NULL,
        worker_id   TEXT,
        error_type  TEXT,
        error       TEXT,
        error_stack TEXT,
        failed_at   REAL    NOT NULL
    )
    """,
    "CREATE INDEX job_errors_job ON job_errors(job_rowid)",
    "CREATE TABLE shard_metadata (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
    """
    CREATE TABLE schedules (
        name        TEXT PRIMARY KEY,
        next_run_at REAL NOT NULL,
        last_run_at REAL,
        last_job_id INTEGER
    ) WITHOUT ROWID
    """,
    *OBSERVABILITY_SCHEMA,
    *FLOW_SCHEMA,
    *TALLIES_SCHEMA,
    *DEAD_TALLY_SCHEMA,
]

# Schema 2 -> 3: named queues, per-key concurrency, and the host-wide flow-control tables.
MIGRATE_2_TO_3 = [
    "ALTER TABLE fila ADD COLUMN queue_name TEXT NOT NULL DEFAULT 'default'",
    "ALTER TABLE fila ADD COLUMN concurrency_key TEXT",
    "DROP INDEX fila_ready",
    _READY_INDEX,
    *FLOW_SCHEMA,
]

# Schema 3 -> 4: a running job's reported progress, and a cancel asked of it while it runs.
MIGRATE_3_TO_4 = [
    "ALTER TABLE fila ADD COLUMN progress REAL",
    "ALTER TABLE fila ADD COLUMN progress_message TEXT",
    "ALTER TABLE fila ADD COLUMN cancel_requested REAL",
]

# Schema 4 -> 5: the tallies, counted once from the rows the shard holds.
MIGRATE_4_TO_5 = [
    "ALTER TABLE fila ADD COLUMN tallied INTEGER",
    *TALLIES_SCHEMA,
    *_DEAD_TALLY_V5,
    f"INSERT INTO tallies(queue_name, {_TALLY_COLUMNS}) SELECT queue_name, {_TALLY_COUNTS} FROM fila GROUP BY queue_name",
]

# The tail of uncounted rows (see TALLIES_SCHEMA): the newest ids, inserted by a lone enqueue or by hand.
_TAIL = "id > (SELECT mark FROM tally_mark) AND coalesce(tallied, -1) < 0"

# Schema 5 -> 6: no insert trigger (every insert of ours counts itself or joins the tail, and a
# row inserted by hand joins the tail), and a folded row keeps its `tallied`. Schema 5's tail
# (`tallied` = -1 above the mark) is folded first under its own rule, so that every row is
# counted when the new triggers start.
MIGRATE_5_TO_6 = [
    f"INSERT INTO tallies(queue_name, {_TALLY_COLUMNS}) SELECT queue_name, {_TALLY_COUNTS} FROM fila "
    "WHERE id > (SELECT mark FROM tally_mark) AND tallied = -1 GROUP BY queue_name "
    f"ON CONFLICT(queue_name) DO UPDATE SET {_TALLY_ADD}",
    "UPDATE tally_mark SET mark = coalesce((SELECT max(id) FROM fila), 0)",
    "DROP TRIGGER IF EXISTS fila_tally_insert",
    "DROP TRIGGER IF EXISTS fila_tally_delete",
    "DROP TRIGGER IF EXISTS fila_tally_status",
    "DROP TRIGGER IF EXISTS fila_tally_queue",
    *_TALLY_TRIGGERS,
]

# Schema 6 -> 7: each dead letter takes its job's queue name (a dead letter carried over from
# 0.1.1 whose job row 0.1.1 had deleted is in `default`, the one queue 0.1.1 had), and the
# one-row count gives way to one row per queue (see DEAD_TALLY_SCHEMA).
MIGRATE_6_TO_7 = [
    "ALTER TABLE dead_letter_queue ADD COLUMN queue_name TEXT NOT NULL DEFAULT 'default'",
    "UPDATE dead_letter_queue SET queue_name = j.queue_name FROM fila AS j "
    "WHERE j.id = dead_letter_queue.job_rowid AND j.queue_name <> 'default'",
    "DROP TRIGGER dead_tally_insert",
    "DROP TRIGGER dead_tally_delete",
    "DROP TABLE dead_tally",
    *DEAD_TALLY_SCHEMA,
]

# JobQuery field -> the clause it adds to `Q.find_jobs` (parameters are named after the field)
FIND_FILTERS = {
    "status": " AND status = :status",
    "waiting": " AND status IN ('pending', 'scheduled')",
    "task": " AND json_extract(payload, '$.__task__') = :task",
    "error_type": " AND error_type = :error_type",
    "created_since": " AND created_at >= :created_since",
    "created_until": " AND created_at < :created_until",
    "payload_contains": " AND instr(payload, :payload_contains) > 0",
    "queue_name": " AND queue_name = :queue_name",
}

_TASK = "coalesce(json_extract(f.payload, '$.__task__'), '')"
# what an attempt's metrics need from its row: task name, claim time, due time, queue
_FACTS = "json_extract(payload, '$.__task__'), started_at, run_at, queue_name"
_METRICS_UPSERT = (
    "ON CONFLICT(minute, queue, task, name, label) DO UPDATE SET value = value + excluded.value"
)

_WAITING = "('pending', 'scheduled')"
# The running jobs, found without reading every job: the run-order index holds the waiting ones
# too (a million at depth), so the walk stops once it has met as many running jobs as the
# tallies count. Running jobs sit at the head of the run order (claims take it from there), so
# the walk is short: at 1M pending, a maintenance pass went from ~30 ms a shard to well under 1.
_RUNNING = (
    "id IN (SELECT id FROM fila WHERE ready = 1 AND status = 'processing' "
    "LIMIT (SELECT coalesce(sum(processing), 0) FROM tallies) "
    f"+ (SELECT count(*) FROM fila WHERE {_TAIL} AND status = 'processing'))"
)
# the same for finished jobs, which no index holds: the walk goes in id order, and jobs finish
# roughly in the order they were added, so the finished ones come first
_FINISHED = (
    "id IN (SELECT id FROM fila WHERE status = '{0}' LIMIT (SELECT coalesce(sum({0}), 0) FROM tallies) "
    "+ (SELECT count(*) FROM fila WHERE " + _TAIL + " AND status = '{0}'))"
)
_EXPIRED = _RUNNING + " AND lease_expires_at < :now"
_LEASED = "id = :id AND lease_token = :token AND status = 'processing'"


# set by a statement that counts its rows in the tallies itself (see TALLIES_SCHEMA)
_COUNTED = ", tallied = NOT coalesce(tallied, 0)"


def _claim(picked: str, counted: bool = False) -> str:
    """Lease the jobs whose ids `picked` (a SELECT of at most :limit ids) returns; `counted`
    (a batch claim): the caller adds them to the tallies in the same transaction, and decodes
    rows of CLAIMED_COLUMNS (`_rows.claimed_jobs`) instead of JOB_COLUMNS."""
    return (
        "UPDATE fila SET status = 'processing', worker_id = :worker, started_at = :now, "
        "heartbeat = :now, lease_expires_at = :until, tentativas = tentativas + 1, "
        f"lease_token = lease_token + 1{_COUNTED if counted else ''} WHERE id IN ({picked}) "
        f"RETURNING {CLAIMED_COLUMNS if counted else JOB_COLUMNS}"
    )


# Every queue name with an entry in the run order, one index seek per name (a loose index scan).
# `seed`, a WHERE clause, gates the first name: the walk is empty when it is false.
def _names(seed: str = "") -> str:
    return (
        "WITH RECURSIVE names(n) AS (SELECT (SELECT min(queue_name) FROM fila WHERE ready = 1)" + seed +
        " UNION ALL SELECT (SELECT min(queue_name) FROM fila WHERE ready = 1 AND queue_name > n) "
        "FROM names WHERE n IS NOT NULL) "
    )


def _merged_heads(names: str, skip: str = "") -> str:
    """Each queue's head by run order (the queues `names` walks), merged, the best `limit` taken."""
    return (
        names + "SELECT c.id FROM names, fila AS c WHERE names.n IS NOT NULL" + skip +
        " AND c.id IN (SELECT id FROM fila WHERE queue_name = names.n AND ready = 1 "
        "AND status = 'pending' ORDER BY priority DESC, run_at, id LIMIT :limit) "
        "ORDER BY c.priority DESC, c.run_at, c.id LIMIT :limit"
    )


# The first and last queue names in the run order: two index seeks, equal when the shard's
# waiting jobs are all of one queue (the common case: one queue, or one queue per shard).
_LOW = "(SELECT min(queue_name) FROM fila WHERE ready = 1)"
_HIGH = "(SELECT max(queue_name) FROM fila WHERE ready = 1)"


def _claim_any(counted: bool = False) -> str:
    """The all-queues claim, with a direct path for a shard whose run order holds one queue name.

    That queue's head is the merged head, so the one-name arm reads its index range directly,
    and the merging arm (a loose index scan, each queue's head looked up again and sorted) runs
    only when there are two names or more (its walk is gated on min < max). Measured with
    `benchmarks/instr.py claim_ack --n 1000` (claim 32 + grouped ack, one queue): 171.7k ->
    167.7k instructions a job; on a raw-SQL loop of the same statements the merge cost ~6.9k a
    job more than `claim_queue`, this form ~2.6k more."""
    one = (
        f"SELECT id FROM fila WHERE queue_name = (CASE WHEN {_LOW} = {_HIGH} THEN {_LOW} END) "
        "AND ready = 1 AND status = 'pending' ORDER BY priority DESC, run_at, id LIMIT :limit"
    )
    many = _merged_heads(_names(f" WHERE {_LOW} < {_HIGH}"))
    return _claim(f"SELECT * FROM ({one}) UNION ALL SELECT * FROM ({many})", counted)


def _claim_named(counted: bool = False) -> str:
    """The all-queues claim when the caller guesses the shard's run order holds `:queue` alone.

    It reads that queue's head straight off its index, gated on the run order's first and last
    names both being `:queue` (two index seeks): a wrong guess leases nothing, so the caller
    falls back to `claim_counted` and no queue waits behind a stale guess."""
    return _claim(
        "SELECT id FROM fila WHERE queue_name = :queue AND ready = 1 AND status = 'pending' "
        f"AND {_LOW} = :queue AND {_HIGH} = :queue ORDER BY priority DESC, run_at, id LIMIT :limit",
        counted,
    )


def claim_excluding(count: int, counted: bool = False) -> str:
    """The all-queues claim that skips `count` queues (paused, or their breaker open)."""
    marks = ", ".join(f":x{i}" for i in range(count))
    return _claim(_merged_heads(_names(), f" AND names.n NOT IN ({marks})"), counted)


_QUEUE_HEAD = (
    "SELECT id FROM fila WHERE queue_name = :queue AND ready = 1 AND status = 'pending' "
    "ORDER BY priority DESC, run_at, id LIMIT :limit"
)


# The one-job claim (`pop_job`): the id is matched with `=` on a scalar subquery instead of
# `IN (...)`, so SQLite builds no ephemeral table for the picked ids, and when one queue alone
# has entries in the run order (the common case) its head is read straight off the index; with
# several, the queues' heads are merged as in the batch claim. Measured with callgrind on a
# claim + ack loop of raw statements on one shard: 387k -> 237k instructions a job.
_ONE_QUEUE_HEAD = _QUEUE_HEAD.replace(":limit", "1")
_ONE_OF_ALL = (
    "SELECT CASE WHEN lo = (SELECT max(queue_name) FROM fila WHERE ready = 1) THEN "
    "(SELECT id FROM fila WHERE queue_name = lo AND ready = 1 AND status = 'pending' "
    "ORDER BY priority DESC, run_at, id LIMIT 1) ELSE (" + _names() +
    "SELECT c.id FROM names, fila AS c WHERE names.n IS NOT NULL AND c.id = (SELECT id FROM fila "
    "WHERE queue_name = names.n AND ready = 1 AND status = 'pending' ORDER BY priority DESC, run_at, id "
    "LIMIT 1) ORDER BY c.priority DESC, c.run_at, c.id LIMIT 1) END "
    "FROM (SELECT min(queue_name) AS lo FROM fila WHERE ready = 1)"
)


def _claim_first(picked: str) -> str:
    """Lease the one job whose id the scalar SELECT `picked` returns (counted by the trigger)."""
    return _claim(picked).replace(" WHERE id IN (", " WHERE id = (", 1)


# Most leases one grouped-ack statement takes (a longer group runs it once per chunk).
ACK_CHUNK = 64


@functools.lru_cache(maxsize=None)
def complete_values(count: int) -> str:
    """The grouped ack of up to `count` leases (a power of two, at most ACK_CHUNK), one
    statement, whose jobs the caller counts (see TALLIES_SCHEMA). Its parameters: now, expires,
    then (rowid, token, result) of each lease, padded with NULL triples that match no row; the
    token and status checks are `_LEASED`'s.

    The leases come as a VALUES list bound as plain parameters instead of one JSON array walked
    by `json_each` (`->>` on each element's text, in SQLite): measured on a raw-SQL claim(32) +
    ack loop under callgrind, 55.3k -> 48.0k instructions a job inside `sqlite3_step` (80.8k ->
    74.8k in all). Padded to a power of two so that a connection prepares at most seven texts:
    one text per group size cost a 4-thread drain on 6 shards ~13k instructions a job in
    `sqlite3_prepare_v2` (each thread's connection to each shard preparing most sizes)."""
    if count not in _ACK_SIZES:
        raise ValueError(f"a grouped ack takes a power of two from 1 to {ACK_CHUNK} leases, got {count!r}")
    return (
        "UPDATE fila SET status = 'completed', ready = NULL, completed_at = ?, expires_at = ?, "
        "result = l.column3, lease_expires_at = NULL, heartbeat = NULL" + _COUNTED + " FROM (VALUES "
        + ", ".join(["(?, ?, ?)"] * count) + ") AS l "
        "WHERE fila.id = l.column1 AND fila.lease_token = l.column2 AND fila.status = 'processing'"
    )


_ACK_SIZES = frozenset(1 << i for i in range(ACK_CHUNK.bit_length()))


class Q:
    """Named statements."""

    read_header = "SELECT (SELECT application_id FROM pragma_application_id), " \
        "(SELECT user_version FROM pragma_user_version), " \
        "(SELECT count(*) FROM sqlite_master)"
    get_meta = "SELECT value FROM shard_metadata WHERE key = ?"
    set_meta = "INSERT OR REPLACE INTO shard_metadata(key, value) VALUES (?, ?)"
    add_meta = "UPDATE shard_metadata SET value = value + ? WHERE key = ?"
    all_meta = "SELECT key, value FROM shard_metadata"

    # Ids are never reused, without AUTOINCREMENT (which costs a page write per insert): a new
    # row takes max(id) + 1, but never less than the floor that deletions raise first.
    next_id = (
        "SELECT max(coalesce((SELECT max(id) FROM fila), 0), "
        "coalesce((SELECT value FROM shard_metadata WHERE key = 'id_floor'), 0)) + 1"
    )
    raise_floor = (
        "INSERT INTO shard_metadata(key, value) VALUES ('id_floor', "
        "coalesce((SELECT max(id) FROM fila), 0)) "
        "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)"
    )
    # one job of a batch (counted by the caller: `tallied` = 1, see TALLIES_SCHEMA)
    insert = (
        "INSERT INTO fila(id, pagina_id, payload, priority, max_tentativas, created_at, run_at, "
        f"status, ready, tallied) VALUES (({next_id}), ?, ?, ?, ?, ?, ?, ?, ?, 1)"
    )
    # the same, alone in its transaction: counted later (see TALLIES_SCHEMA)
    insert_lone = (
        "INSERT INTO fila(id, pagina_id, payload, priority, max_tentativas, created_at, run_at, "
        f"status, ready, tallied) VALUES (({next_id}), ?, ?, ?, ?, ?, ?, ?, ?, -1)"
    )
    # the same for a job with every option at its default, due now (`Queue.enqueue(payload)`,
    # `.delay()`): four parameters bound instead of eight (payload, attempts, now, now). Plain `?`
    # only: Python 3.12.0-3.12.3 warn that a numbered `?3` is a named placeholder.
    insert_plain_lone = (
        "INSERT INTO fila(id, payload, max_tentativas, created_at, run_at, status, ready, tallied) "
        f"VALUES (({next_id}), ?, ?, ?, ?, 'pending', 1, -1)"
    )
    insert_named_lone = (
        "INSERT INTO fila(id, pagina_id, payload, priority, max_tentativas, created_at, run_at, "
        f"status, ready, queue_name, concurrency_key, tallied) VALUES (({next_id}), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, -1)"
    )
    # the same for a job outside the default queue, or with a concurrency key
    insert_named = (
        "INSERT INTO fila(id, pagina_id, payload, priority, max_tentativas, created_at, run_at, "
        f"status, ready, queue_name, concurrency_key, tallied) VALUES (({next_id}), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
    )
    # one statement for a whole batch: SQLite walks the JSON array in C, in order
    # (both counted by the caller: `tallied` = 1, see TALLIES_SCHEMA)
    insert_json_array = (
        "INSERT INTO fila(id, pagina_id, payload, priority, max_tentativas, created_at, run_at, "
        "status, ready, queue_name, concurrency_key, tallied) "
        "SELECT ? + key, ?, value, ?, ?, ?, ?, ?, ?, ?, ?, 1 FROM json_each(?)"
    )
    # the same for validated payloads with default options, refusing oversize ones
    insert_json_array_checked = (
        "INSERT INTO fila(id, payload, max_tentativas, created_at, run_at, status, ready, tallied) "
        "SELECT ? + key, value, ?, ?, ?, 'pending', 1, 1 FROM json_each(?) WHERE length(value) <= ?"
    )
    first_oversize = "SELECT key, length(value) FROM json_each(?) WHERE length(value) > ? LIMIT 1"
    insert_dedupe = (
        "INSERT INTO fila(id, pagina_id, payload, priority, max_tentativas, created_at, run_at, "
        "status, ready, dedupe_key, queue_name, concurrency_key, tallied) "
        f"VALUES (({next_id}), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING RETURNING id"
    )
    find_live_key = "SELECT id FROM fila WHERE dedupe_key = ? AND completed_at IS NULL"
    # a live job of the key, else the latest one completed since ?: what a dedupe window matches
    find_key_since = (
        "SELECT id FROM fila WHERE dedupe_key = ? AND (completed_at IS NULL OR "
        "(status = 'completed' AND completed_at >= ?)) ORDER BY completed_at IS NULL DESC, completed_at DESC LIMIT 1"
    )
    delete_rowid_range = "DELETE FROM fila WHERE id BETWEEN ? AND ?"

    peek_ready = (
        "SELECT EXISTS (SELECT 1 FROM fila WHERE ready = 1 AND status = 'pending') OR EXISTS "
        "(SELECT 1 FROM fila WHERE status = 'scheduled' AND run_at <= ?)"
    )
    peek_due = "SELECT EXISTS (SELECT 1 FROM fila WHERE status = 'scheduled' AND run_at <= ?)"
    promote = (
        "UPDATE fila SET status = 'pending', ready = 1 WHERE status = 'scheduled' AND run_at <= ?"
    )
    claim = _claim_any()
    claim_counted = _claim_any(counted=True)
    # the same, when the shard's run order is guessed to hold one queue name (see _claim_named)
    claim_named_counted = _claim_named(counted=True)
    # one named queue, on its own index
    claim_queue = _claim(_QUEUE_HEAD)
    claim_queue_counted = _claim(_QUEUE_HEAD, counted=True)
    # one job (see _claim_first)
    claim_one = _claim_first(_ONE_OF_ALL)
    claim_queue_one = _claim_first(_ONE_QUEUE_HEAD)
    peek_queue = (
        "SELECT EXISTS (SELECT 1 FROM fila WHERE queue_name = ? AND ready = 1 AND status = 'pending') "
        "OR EXISTS (SELECT 1 FROM fila WHERE status = 'scheduled' AND run_at <= ?)"
    )

    complete = (
        "UPDATE fila SET status = 'completed', ready = NULL, completed_at = :now, expires_at = :expires, "
        "result = :result, lease_expires_at = NULL, heartbeat = NULL WHERE " + _LEASED
    )
    # the single ack returns what the metrics rollup needs (task, started_at, run_at, queue) itself
    complete_returning = complete + " RETURNING " + _FACTS
    # the grouped ack: see `complete_values`
    complete_delete = "DELETE FROM fila WHERE " + _LEASED
    delete_errors_of = "DELETE FROM job_errors WHERE job_rowid = ?"
    retry = (
        "UPDATE fila SET status = CASE WHEN :run_at > :now THEN 'scheduled' ELSE 'pending' END, "
        "ready = CASE WHEN :run_at > :now THEN NULL ELSE 1 END, "
        "run_at = :run_at, last_error = :error, "
        "error_type = :error_type, error_stack = :stack, worker_id = NULL, heartbeat = NULL, "
        "lease_expires_at = NULL WHERE " + _LEASED
    )
    bury = (
        "UPDATE fila SET status = 'failed', ready = NULL, completed_at = :now, last_error = :error, "
        "error_type = :error_type, error_stack = :stack, heartbeat = NULL, "
        "lease_expires_at = NULL WHERE " + _LEASED
    )
    to_dead_letter = (
        "INSERT INTO dead_letter_queue(original_job_id, job_rowid, payload, error, error_type, "
        "error_stack, failed_at, shard_id, attempts, queue_name) "
        f"SELECT {SQL_JOB_ID}, id, payload, last_error, error_type, error_stack, :now, "
        ":shard, tentativas, queue_name FROM fila WHERE id = :id"
    )
    log_error = (
        "INSERT INTO job_errors(job_rowid, attempt, worker_id, error_type, error, error_stack, "
        "failed_at) SELECT id, tentativas, worker_id, :error_type, :error, :stack, :now "
        "FROM fila WHERE id = :id"
    )
    release = (
        "UPDATE fila SET status = 'pending', tentativas = tentativas - 1, worker_id = NULL, "
        "heartbeat = NULL, lease_expires_at = NULL, started_at = NULL WHERE " + _LEASED
    )
    # given back to wait: out of the run order until `run_at` (a per-key or per-task limit)
    release_until = (
        "UPDATE fila SET status = 'scheduled', ready = NULL, run_at = :run_at, "
        "tentativas = tentativas - 1, worker_id = NULL, heartbeat = NULL, lease_expires_at = NULL, "
        "started_at = NULL WHERE " + _LEASED
    )
    extend = (
        "UPDATE fila SET lease_expires_at = :until, heartbeat = :now WHERE " + _LEASED
    )
    heartbeat = (
        "UPDATE fila SET lease_expires_at = :until, heartbeat = :now WHERE " + _RUNNING + " AND worker_id = :worker"
    )

    # a lease that ends at `now` is expired at `now` (`_EXPIRED` compares with <)
    expire_leases = (
        "UPDATE fila SET lease_expires_at = :now - 0.001 WHERE " + _RUNNING + " AND worker_id = :worker"
    )

    peek_expired = "SELECT 1 FROM fila WHERE " + _EXPIRED + " LIMIT 1"
    log_expired = (
        "INSERT INTO job_errors(job_rowid, attempt, worker_id, error_type, error, error_stack, "
        "failed_at) SELECT id, tentativas, worker_id, :error_type, :error, NULL, :now "
        "FROM fila WHERE " + _EXPIRED
    )
    bury_expired_dlq = (
        "INSERT INTO dead_letter_queue(original_job_id, job_rowid, payload, error, error_type, "
        "error_stack, failed_at, shard_id, attempts, queue_name) "
        f"SELECT {SQL_JOB_ID}, id, payload, :error, :error_type, NULL, :now, :shard, "
        "tentativas, queue_name FROM fila WHERE " + _EXPIRED + " AND tentativas >= max_tentativas"
    )
    bury_expired = (
        "UPDATE fila SET status = 'failed', ready = NULL, completed_at = :now, last_error = :error, "
        "error_type = :error_type, error_stack = NULL, heartbeat = NULL, lease_expires_at = NULL "
        "WHERE " + _EXPIRED + " AND tentativas >= max_tentativas"
    )
    requeue_expired = (
        "UPDATE fila SET status = 'pending', run_at = :now, last_error = :error, "
        "error_type = :error_type, error_stack = NULL, worker_id = NULL, heartbeat = NULL, "
        "lease_expires_at = NULL WHERE " + _EXPIRED
    )

    cancel = (
        "UPDATE fila SET status = 'cancelled', ready = NULL, completed_at = :now "
        "WHERE id = :id AND status IN " + _WAITING
    )
    get = f"SELECT {JOB_COLUMNS} FROM fila WHERE id = ?"
    set_progress = (
        "UPDATE fila SET progress = :fraction, progress_message = :message WHERE " + _LEASED
    )
    get_progress = "SELECT progress, progress_message FROM fila WHERE id = ? AND progress IS NOT NULL"
    request_cancel = (
        "UPDATE fila SET cancel_requested = coalesce(cancel_requested, :now) "
        "WHERE id = :id AND status = 'processing'"
    )
    cancel_requested = "SELECT 1 FROM fila WHERE id = ? AND cancel_requested IS NOT NULL"
    # the running job stopped because a cancel was asked of it: it ends cancelled, not retried
    cancel_running = (
        "UPDATE fila SET status = 'cancelled', ready = NULL, completed_at = :now, lease_expires_at = NULL "
        "WHERE " + _LEASED
    )
    get_errors = (
        "SELECT error_type, error, error_stack, attempt, worker_id, failed_at FROM job_errors "
        "WHERE job_rowid = ? ORDER BY rowid"
    )
    list_status = f"SELECT {JOB_COLUMNS} FROM fila WHERE status = ? ORDER BY id LIMIT ?"
    list_waiting = (
        f"SELECT {JOB_COLUMNS} FROM fila WHERE status IN {_WAITING} ORDER BY id LIMIT ?"
    )
    list_all = f"SELECT {JOB_COLUMNS} FROM fila ORDER BY id LIMIT ?"
    # the same three, for one named queue (its name is the first parameter)
    list_status_in = f"SELECT {JOB_COLUMNS} FROM fila WHERE queue_name = ? AND status = ? ORDER BY id LIMIT ?"
    list_waiting_in = (
        f"SELECT {JOB_COLUMNS} FROM fila WHERE queue_name = ? AND status IN {_WAITING} ORDER BY id LIMIT ?"
    )
    list_all_in = f"SELECT {JOB_COLUMNS} FROM fila WHERE queue_name = ? ORDER BY id LIMIT ?"
    # the counts: the tallies, and the scheduled jobs already due (they count as pending), read
    # on the scheduled index (claims promote them within milliseconds, so the range is short)
    read_tallies = f"SELECT queue_name, {_TALLY_COLUMNS} FROM tallies"
    count_due = (
        "SELECT queue_name, count(*) FROM fila WHERE status = 'scheduled' AND run_at <= ? GROUP BY queue_name"
    )
    count_dead = "SELECT coalesce(sum(n), 0) FROM dead_tally"
    # the rows of lone enqueues not counted yet, per queue and status, and their folding into the
    # tallies (the mark then moves to the id floor, which the floor raise puts at or above max(id))
    tail_counts = f"SELECT queue_name, status, count(*) FROM fila WHERE {_TAIL} GROUP BY queue_name, status"
    tail_waiting = "SELECT (SELECT mark FROM tally_mark) < coalesce((SELECT max(id) FROM fila), 0)"
    # the newest row's queue name and status, the tail's size, and how many of its rows share
    # that queue and status: one pass, no sort (see `_tally.fold_tail`)
    tail_span = (
        "SELECT newest.queue_name, newest.status, count(*), "
        "count(CASE WHEN fila.queue_name = newest.queue_name AND fila.status = newest.status THEN 1 END) "
        "FROM (SELECT queue_name, status FROM fila WHERE id = (SELECT max(id) FROM fila)) AS newest, fila "
        f"WHERE {_TAIL}"  # `newest` has no id nor tallied: these are the scanned row's
    )
    fold_tail = (
        f"INSERT INTO tallies(queue_name, {_TALLY_COLUMNS}) SELECT queue_name, {_TALLY_COUNTS} "
        f"FROM fila WHERE {_TAIL} GROUP BY queue_name ON CONFLICT(queue_name) DO UPDATE SET {_TALLY_ADD}"
    )
    fold_mark = "UPDATE tally_mark SET mark = (SELECT value FROM shard_metadata WHERE key = 'id_floor')"
    # what a statement that counts its own rows adds (one row per queue)
    tally_add = (
        f"INSERT INTO tallies(queue_name, {_TALLY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
        f"ON CONFLICT(queue_name) DO UPDATE SET {_TALLY_ADD}"
    )
    # a batch claim's and a grouped ack's move in one queue's row (`?`: the count twice, the queue)
    move_claimed = "UPDATE tallies SET pending = pending - ?, processing = processing + ? WHERE queue_name = ?"
    move_acked = "UPDATE tallies SET processing = processing - ?, completed = completed + ? WHERE queue_name = ?"
    # a grouped ack's jobs (`?`: their row ids as a JSON array) moved from processing to completed
    tally_completed = (
        "INSERT INTO tallies(queue_name, processing, completed) SELECT f.queue_name, -count(*), count(*) "
        "FROM json_each(?) AS l CROSS JOIN fila AS f ON f.id = l.value WHERE true GROUP BY f.queue_name "
        "ON CONFLICT(queue_name) DO UPDATE SET processing = processing + excluded.processing, "
        "completed = completed + excluded.completed"
    )
    # pending, scheduled and running jobs
    count_live = (
        "SELECT (SELECT coalesce(sum(pending + scheduled + processing), 0) FROM tallies) + "
        f"(SELECT count(*) FROM fila WHERE {_TAIL} AND status IN ('pending', 'scheduled', 'processing'))"
    )
    # due scheduled jobs count too: they are ready, only not yet promoted by a claim
    next_due = "SELECT min(run_at) FROM fila WHERE status = 'scheduled'"
    oldest_ready = (
        "SELECT min(m) FROM (SELECT min(run_at) AS m FROM fila WHERE ready = 1 AND "
        "status = 'pending' AND run_at <= :now UNION ALL SELECT min(run_at) FROM fila "
        "WHERE status = 'scheduled' AND run_at <= :now)"
    )

    # job search (newest first, keyset on the primary key); the filters are appended from
    # `FIND_FILTERS` in a fixed order, so every variant is one of a few cached statements
    find_jobs = f"SELECT {JOB_COLUMNS} FROM fila WHERE id <= :max_rowid"
    find_order = " ORDER BY id DESC LIMIT :limit"

    dlq_count = "SELECT count(*) FROM dead_letter_queue"
    dlq_delete_job = "DELETE FROM fila WHERE id = ? AND status = 'failed'"

    dlq_select = (
        "SELECT id, original_job_id, shard_id, payload, error, error_type, failed_at, "
        "attempts, error_stack, job_rowid, queue_name FROM dead_letter_queue"
    )
    dlq_requeue_job = (
        "UPDATE OR IGNORE fila SET status = 'pending', ready = 1, tentativas = 0, run_at = :now, "
        "completed_at = NULL, worker_id = NULL, started_at = NULL "
        "WHERE id = :id AND status = 'failed'"
    )
    dlq_delete = "DELETE FROM dead_letter_queue WHERE id = ?"
    dlq_prune_jobs = (
        "DELETE FROM fila WHERE status = 'failed' AND id IN "
        "(SELECT job_rowid FROM dead_letter_queue WHERE failed_at < :before)"
    )
    dlq_prune = "DELETE FROM dead_letter_queue WHERE failed_at < :before"

    purge_status = "DELETE FROM fila WHERE status = ?"
    purge_waiting = "DELETE FROM fila WHERE status IN " + _WAITING
    purge_all = "DELETE FROM fila"
    purge_dlq = "DELETE FROM dead_letter_queue"
    orphan_errors = "DELETE FROM job_errors WHERE job_rowid NOT IN (SELECT id FROM fila)"
    # Completed jobs count toward total_jobs_processed when their rows are deleted.
    count_completed = "SELECT count(*) FROM fila WHERE status = 'completed'"
    cleanup_completed = (
        "DELETE FROM fila WHERE " + _FINISHED.format("completed") + " AND (completed_at < :before "
        "OR (expires_at IS NOT NULL AND expires_at <= :now))"
    )
    cleanup_cancelled = "DELETE FROM fila WHERE " + _FINISHED.format("cancelled") + " AND completed_at < :before"

    # The reading and housekeeping above, narrowed to one named queue (`_in`: the name is the
    # first positional parameter, or `:queue`). A dead letter keeps its job's queue name.
    dlq_of_queue = "queue_name = ?"
    count_dead_in = "SELECT coalesce((SELECT n FROM dead_tally WHERE queue_name = ?), 0)"
    oldest_ready_in = (
        "SELECT min(m) FROM (SELECT min(run_at) AS m FROM fila WHERE queue_name = :queue AND ready = 1 "
        "AND status = 'pending' AND run_at <= :now UNION ALL SELECT min(run_at) FROM fila "
        "WHERE queue_name = :queue AND status = 'scheduled' AND run_at <= :now)"
    )
    purge_status_in = "DELETE FROM fila WHERE queue_name = ? AND status = ?"
    purge_waiting_in = "DELETE FROM fila WHERE queue_name = ? AND status IN " + _WAITING
    purge_all_in = "DELETE FROM fila WHERE queue_name = ?"
    purge_dlq_in = "DELETE FROM dead_letter_queue WHERE " + dlq_of_queue
    count_completed_in = "SELECT count(*) FROM fila WHERE queue_name = ? AND status = 'completed'"
    cleanup_completed_in = cleanup_completed + " AND queue_name = :queue"
    cleanup_cancelled_in = cleanup_cancelled + " AND queue_name = :queue"

    schedule_get = "SELECT next_run_at, last_run_at, last_job_id FROM schedules WHERE name = ?"
    schedule_init = "INSERT INTO schedules(name, next_run_at) VALUES (?, ?) ON CONFLICT DO NOTHING"
    schedule_fire = (
        "UPDATE schedules SET next_run_at = :next, last_run_at = :due, last_job_id = :job "
        "WHERE name = :name AND next_run_at = :due"
    )
    schedule_list = "SELECT name, next_run_at, last_run_at, last_job_id FROM schedules ORDER BY name"

    # ── per-minute event metrics (see models.MetricRow) ──
    attempt_facts = "SELECT " + _FACTS + " FROM fila WHERE " + _LEASED
    # the same for a group of leased rows about to be acked (`?` is a JSON array of row ids)
    ack_facts = (
        "SELECT f.id, json_extract(f.payload, '$.__task__'), f.started_at, f.run_at, f.queue_name "
        "FROM json_each(?) AS l CROSS JOIN fila AS f ON f.id = l.value WHERE f.status = 'processing'"
    )
    metrics_add = (
        "INSERT INTO metrics(minute, queue, task, name, label, value) VALUES (?, ?, ?, ?, ?, ?) " + _METRICS_UPSERT
    )
    # every figure goes to its minute and to the all-time row (minute 0)
    rollup_expired = (
        "WITH done AS (SELECT f.queue_name AS queue, " + _TASK + " AS task FROM fila AS f WHERE " + _EXPIRED + "), "
        "figures(queue, task, name, label, value) AS ("
        "SELECT queue, task, 'attempt', 'lease_lost', count(*) FROM done GROUP BY 1, 2 "
        "UNION ALL SELECT queue, task, 'failure', :label, count(*) FROM done GROUP BY 1, 2), "
        "minutes(m) AS (VALUES (:minute), (0)) "
        "INSERT INTO metrics(minute, queue, task, name, label, value) "
        "SELECT m, queue, task, name, label, value FROM figures, minutes WHERE true " + _METRICS_UPSERT
    )
    # per-minute rows older than the horizon go; the all-time rows (minute 0) already hold them
    drop_old_metrics = "DELETE FROM metrics WHERE minute > 0 AND minute < :horizon"
    read_metric_totals = "SELECT minute, queue, task, name, label, value FROM metrics WHERE minute = 0"
    read_metric_minutes = (
        "SELECT minute, queue, task, name, label, value FROM metrics WHERE minute >= :since AND minute > 0"
    )
    read_metric_minutes_named = (
        "SELECT minute, queue, task, name, label, value FROM metrics "
        "WHERE minute >= :since AND minute > 0 AND name = :name"
    )

    trace_put = "INSERT OR REPLACE INTO job_traces(job_rowid, context) VALUES (?, ?)"
    trace_get = "SELECT job_rowid, context FROM job_traces WHERE job_rowid IN (SELECT value FROM json_each(?))"
    orphan_traces = "DELETE FROM job_traces WHERE job_rowid NOT IN (SELECT id FROM fila)"
