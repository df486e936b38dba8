"""Every SQL statement the PostgreSQL backend runs, named, with its numbered migrations.

Statements are templates over `{s}`, the quoted schema name, formatted once per backend so that
psycopg can prepare each one after a few executions.
"""

from __future__ import annotations

from ..sqlite._ids import MAX_SHARDS
from ..sqlite._rows import NAMED_JOB_COLUMNS
from ._flow_sql import FLOW_SCHEMA, FlowQ
from ._metrics_sql import METRICS_SCHEMA, MetricsQ
from ._tallies_sql import DEAD_PER_QUEUE_SCHEMA, DEAD_TALLY_SCHEMA, TALLIES_SCHEMA, TalliesQ
from ._workers_sql import WORKERS_SCHEMA, WorkersQ

__all__ = ["FIND_FILTERS", "MIGRATIONS", "SCHEMA_VERSION", "Q", "Statements"]

# version -> statements that bring a schema from version - 1 to version (one transaction)
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """
        CREATE TABLE {s}.jobs (
            id               bigint PRIMARY KEY,
            queue_name       text    NOT NULL DEFAULT 'default',
            pagina_id        bigint,
            payload          text    NOT NULL,
            status           text    NOT NULL,
            priority         integer NOT NULL DEFAULT 0,
            tentativas       integer NOT NULL DEFAULT 0,
            max_tentativas   integer NOT NULL,
            lease_token      bigint  NOT NULL DEFAULT 0,
            last_error       text,
            error_type       text,
            error_stack      text,
            worker_id        text,
            heartbeat        float8,
            lease_expires_at float8,
            lease_deadline   float8,
            created_at       float8  NOT NULL,
            run_at           float8  NOT NULL,
            started_at       float8,
            completed_at     float8,
            expires_at       float8,
            dedupe_key       text,
            result           text
        ) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02,
                autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.05)
        """,
        "CREATE SEQUENCE {s}.job_ids OWNED BY {s}.jobs.id",
        # The run order: only due, waiting jobs are in it, so the claim reads its head.
        """CREATE INDEX jobs_ready ON {s}.jobs (queue_name, priority DESC, run_at, id)
           WHERE status = 'pending'""",
        "CREATE INDEX jobs_scheduled ON {s}.jobs (run_at) WHERE status = 'scheduled'",
        "CREATE INDEX jobs_leased ON {s}.jobs (lease_deadline) WHERE status = 'processing'",
        "CREATE INDEX jobs_finished ON {s}.jobs (completed_at) WHERE status IN ('completed', 'cancelled')",
        """CREATE UNIQUE INDEX jobs_dedupe ON {s}.jobs (dedupe_key)
           WHERE dedupe_key IS NOT NULL AND completed_at IS NULL""",
        """
        CREATE TABLE {s}.dead_letters (
            id              bigserial PRIMARY KEY,
            original_job_id bigint  NOT NULL,
            job_rowid       bigint  NOT NULL,
            payload         text    NOT NULL,
            error           text,
            error_type      text,
            error_stack     text,
            failed_at       float8  NOT NULL,
            attempts        integer NOT NULL
        )""",
        "CREATE INDEX dead_letters_job ON {s}.dead_letters (job_rowid)",
        """
        CREATE TABLE {s}.job_errors (
            id          bigserial PRIMARY KEY,
            job_rowid   bigint  NOT NULL,
            attempt     integer NOT NULL,
            worker_id   text,
            error_type  text,
            error       text,
            error_stack text,
            failed_at   float8  NOT NULL
        )""",
        "CREATE INDEX job_errors_job ON {s}.job_errors (job_rowid)",
        """
        CREATE TABLE {s}.schedules (
            name        text PRIMARY KEY,
            next_run_at float8 NOT NULL,
            last_run_at float8,
            last_job_id bigint
        )""",
        # Striped counters: every ack adding to one row would make all workers queue on its lock.
        "CREATE TABLE {s}.counters (key text, slot integer, n bigint NOT NULL, PRIMARY KEY (key, slot))",
        "INSERT INTO {s}.meta (key, value) VALUES ('created_at', extract(epoch FROM now())::text)",
    ],
    # named queues (a worker on every queue claims on jobs_ready_all), per-key concurrency and
    # the host-wide flow-control state; see storage.base point 9
    2: [
        "ALTER TABLE {s}.jobs ADD COLUMN concurrency_key text",
        "CREATE INDEX jobs_ready_all ON {s}.jobs (priority DESC, run_at, id) WHERE status = 'pending'",
        *FLOW_SCHEMA,
    ],
    # the per-minute event-metrics rollup and the trace contexts of traced jobs (SQLite's v2)
    3: METRICS_SCHEMA,
    # a running job's reported progress, and a cancel asked of it while it runs (SQLite's v4)
    4: [
        "ALTER TABLE {s}.jobs ADD COLUMN progress double precision",
        "ALTER TABLE {s}.jobs ADD COLUMN progress_message text",
        "ALTER TABLE {s}.jobs ADD COLUMN cancel_requested double precision",
    ],
    # the worker registry: every live worker of every host, idle ones too (see _workers)
    5: WORKERS_SCHEMA,
    # exact jobs per queue and status, kept by triggers, counted once from the rows (see _tallies_sql)
    6: TALLIES_SCHEMA,
    # the dead letters counted by triggers too, so get_stats() counts no rows at all
    7: DEAD_TALLY_SCHEMA,
    # each dead letter keeps its queue's name, and the dead letters are counted per queue
    8: DEAD_PER_QUEUE_SCHEMA,
}
SCHEMA_VERSION = max(MIGRATIONS)

_JOB_COLUMNS = NAMED_JOB_COLUMNS  # one decoder (sqlite._rows.job_from_row) reads rows of both backends
_JOB_ID = f"id * {MAX_SHARDS}"  # the one shard's ids, as in sqlite._ids
_RETURNING_JOB = ", ".join("j." + column for column in NAMED_JOB_COLUMNS.split(", "))
_CLAIM_PICKED = (
    "UPDATE {s}.jobs j SET status = 'processing', worker_id = %(worker)s, started_at = %(now)s, "
    "heartbeat = %(now)s, lease_expires_at = %(until)s, lease_deadline = %(deadline)s, "
    "tentativas = j.tentativas + 1, lease_token = j.lease_token + 1 "
    "FROM picked WHERE j.id = picked.id RETURNING " + _RETURNING_JOB
)
_LEASES = "unnest(%(ids)s::bigint[], %(tokens)s::bigint[]) AS l(id, token)"
_LEASED = "j.id = l.id AND j.lease_token = l.token AND j.status = 'processing'"
_ONE_LEASED = "id = %(id)s AND lease_token = %(token)s AND status = 'processing'"
_EXPIRED = "status = 'processing' AND lease_deadline < %(now_srv)s"
# what an attempt's metrics need from its row: task name, claim time, due time
_FACTS = "(j.payload::json ->> '__task__'), j.started_at, j.run_at, j.queue_name"


class Q:
    """Named statement templates (format with `statements(schema)`)."""

    create_schema = "CREATE SCHEMA IF NOT EXISTS {s}"
    create_meta = "CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value text)"
    get_version = "SELECT value::int FROM {s}.meta WHERE key = 'schema_version'"
    set_version = (
        "INSERT INTO {s}.meta (key, value) VALUES ('schema_version', %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )
    all_meta = "SELECT key, value FROM {s}.meta"
    add_counter = (
        "INSERT INTO {s}.counters (key, slot, n) VALUES (%s, pg_backend_pid() %% 16, %s) "
        "ON CONFLICT (key, slot) DO UPDATE SET n = {s}.counters.n + excluded.n"
    )
    sum_counters = "SELECT key, sum(n)::bigint FROM {s}.counters GROUP BY key"
    # No job ever runs inside a transaction; a session left idle in one is ended by the server.
    configure = (
        "SELECT set_config('statement_timeout', %s, false), "
        "set_config('idle_in_transaction_session_timeout', %s, false)"
    )
    server_time = "SELECT extract(epoch FROM clock_timestamp())::float8"

    reserve_ids = "SELECT nextval('{s}.job_ids') FROM generate_series(1, %s)"
    insert_one = (
        "INSERT INTO {s}.jobs (id, pagina_id, payload, priority, max_tentativas, created_at, run_at, "
        "status, queue_name, concurrency_key) VALUES (nextval('{s}.job_ids'), %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s) RETURNING id"
    )
    insert_one_notify = (
        "WITH ins AS (INSERT INTO {s}.jobs (id, pagina_id, payload, priority, max_tentativas, "
        "created_at, run_at, status, queue_name, concurrency_key) VALUES (nextval('{s}.job_ids'), "
        "%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id) SELECT id, pg_notify(%s, '') FROM ins"
    )
    insert_arrays = (
        "INSERT INTO {s}.jobs (created_at, id, pagina_id, payload, priority, max_tentativas, run_at, "
        "status, queue_name, concurrency_key) SELECT %s, t.* FROM unnest(%s::bigint[], %s::bigint[], "
        "%s::text[], %s::int[], %s::int[], %s::float8[], %s::text[], %s::text[], %s::text[]) AS t"
    )
    insert_payloads = (
        "INSERT INTO {s}.jobs (max_tentativas, created_at, run_at, status, id, payload) "
        "SELECT %s, %s, %s, 'pending', t.* FROM unnest(%s::bigint[], %s::text[]) AS t"
    )
    insert_dedupe = (
        "INSERT INTO {s}.jobs (id, pagina_id, payload, priority, max_tentativas, created_at, run_at, "
        "status, dedupe_key, queue_name, concurrency_key) "
        "VALUES (nextval('{s}.job_ids'), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND completed_at IS NULL "
        "DO NOTHING RETURNING id"
    )
    find_live_key = "SELECT id FROM {s}.jobs WHERE dedupe_key = %s AND completed_at IS NULL"
    set_progress = (
        "UPDATE {s}.jobs SET progress = %(fraction)s, progress_message = %(message)s WHERE " + _ONE_LEASED
    )
    get_progress = "SELECT progress, progress_message FROM {s}.jobs WHERE id = %s AND progress IS NOT NULL"
    request_cancel = (
        "UPDATE {s}.jobs SET cancel_requested = coalesce(cancel_requested, %(now)s) "
        "WHERE id = %(id)s AND status = 'processing'"
    )
    cancel_requested = "SELECT 1 FROM {s}.jobs WHERE id = %s AND cancel_requested IS NOT NULL"
    # the running job stopped because a cancel was asked of it: it ends cancelled, not retried
    cancel_running = (
        "UPDATE {s}.jobs SET status = 'cancelled', completed_at = %(now)s, lease_expires_at = NULL, "
        "lease_deadline = NULL WHERE " + _ONE_LEASED
    )
    # a live job of the key, else the latest one completed since %s: what a dedupe window matches
    find_key_since = (
        "SELECT id FROM {s}.jobs WHERE dedupe_key = %s AND (completed_at IS NULL OR "
        "(status = 'completed' AND completed_at >= %s)) ORDER BY completed_at DESC NULLS FIRST LIMIT 1"
    )
    notify = "SELECT pg_notify(%s, '')"

    promote = "UPDATE {s}.jobs SET status = 'pending' WHERE status = 'scheduled' AND run_at <= %s"
    claim = (
        "WITH picked AS MATERIALIZED (SELECT id FROM {s}.jobs WHERE queue_name = %(queue)s "
        "AND status = 'pending' ORDER BY priority DESC, run_at, id LIMIT %(limit)s "
        "FOR UPDATE SKIP LOCKED) " + _CLAIM_PICKED
    )
    # every queue but those excluded (paused, breaker open), on jobs_ready_all
    claim_any = (
        "WITH picked AS MATERIALIZED (SELECT id FROM {s}.jobs WHERE status = 'pending' "
        "AND queue_name <> ALL(%(exclude)s::text[]) ORDER BY priority DESC, run_at, id "
        "LIMIT %(limit)s FOR UPDATE SKIP LOCKED) " + _CLAIM_PICKED
    )

    complete = (
        "UPDATE {s}.jobs j SET status = 'completed', completed_at = %(now)s, expires_at = %(expires)s, "
        "result = l.result, lease_expires_at = NULL, lease_deadline = NULL, heartbeat = NULL "
        "FROM unnest(%(ids)s::bigint[], %(tokens)s::bigint[], %(results)s::text[]) AS l(id, token, result) "
        "WHERE " + _LEASED + " RETURNING j.id"
    )
    # one statement: the rows go with their error history, and the lifetime counter moves
    complete_delete = (
        "WITH gone AS (DELETE FROM {s}.jobs j USING " + _LEASES + " WHERE " + _LEASED +
        " RETURNING j.id), history AS (DELETE FROM {s}.job_errors WHERE job_rowid IN (SELECT id FROM gone)), "
        "counted AS (INSERT INTO {s}.counters (key, slot, n) "
        "SELECT 'total_jobs_processed', pg_backend_pid() %% 16, count(*) FROM gone HAVING count(*) > 0 "
        "ON CONFLICT (key, slot) DO UPDATE SET n = {s}.counters.n + excluded.n) "
        "SELECT id FROM gone"
    )
    # the same acks returning what the metrics need, for jobs another process claimed
    complete_facts = complete.replace("RETURNING j.id", "RETURNING j.id, " + _FACTS)
    complete_delete_facts = complete_delete.replace(
        "RETURNING j.id)", "RETURNING j.id, " + _FACTS.replace("),", ") AS task,") + ")").removesuffix(
        "SELECT id FROM gone") + "SELECT id, task, started_at, run_at, queue_name FROM gone"
    attempt_facts = "SELECT " + _FACTS + " FROM {s}.jobs j WHERE " + _ONE_LEASED
    delete_errors_of = "DELETE FROM {s}.job_errors WHERE job_rowid = ANY(%s::bigint[])"
    retry = (
        "UPDATE {s}.jobs SET status = CASE WHEN %(run_at)s > %(now)s THEN 'scheduled' ELSE 'pending' END, "
        "run_at = %(run_at)s, last_error = %(error)s, error_type = %(error_type)s, "
        "error_stack = %(stack)s, worker_id = NULL, heartbeat = NULL, lease_expires_at = NULL, "
        "lease_deadline = NULL WHERE " + _ONE_LEASED + " RETURNING id"
    )
    bury = (
        "UPDATE {s}.jobs SET status = 'failed', completed_at = %(now)s, last_error = %(error)s, "
        "error_type = %(error_type)s, error_stack = %(stack)s, heartbeat = NULL, "
        "lease_expires_at = NULL, lease_deadline = NULL WHERE " + _ONE_LEASED + " RETURNING id"
    )
    to_dead_letter = (
        "INSERT INTO {s}.dead_letters (original_job_id, job_rowid, payload, error, error_type, "
        "error_stack, failed_at, attempts, queue_name) SELECT " + _JOB_ID + ", id, payload, last_error, "
        "error_type, error_stack, %(now)s, tentativas, queue_name FROM {s}.jobs WHERE id = %(id)s"
    )
    log_error = (
        "INSERT INTO {s}.job_errors (job_rowid, attempt, worker_id, error_type, error, error_stack, "
        "failed_at) SELECT id, tentativas, worker_id, %(error_type)s, %(error)s, %(stack)s, %(now)s "
        "FROM {s}.jobs WHERE " + _ONE_LEASED
    )
    release = (
        "UPDATE {s}.jobs j SET status = 'pending', tentativas = j.tentativas - 1, worker_id = NULL, "
        "heartbeat = NULL, lease_expires_at = NULL, lease_deadline = NULL, started_at = NULL "
        "FROM " + _LEASES + " WHERE " + _LEASED + " RETURNING j.id"
    )
    release_until = (
        "UPDATE {s}.jobs j SET status = 'scheduled', run_at = %(run_at)s, tentativas = j.tentativas - 1, "
        "worker_id = NULL, heartbeat = NULL, lease_expires_at = NULL, lease_deadline = NULL, "
        "started_at = NULL FROM " + _LEASES + " WHERE " + _LEASED + " RETURNING j.id"
    )
    extend = (
        "UPDATE {s}.jobs j SET lease_expires_at = %(until)s, lease_deadline = %(deadline)s, "
        "heartbeat = %(until)s FROM " + _LEASES + " WHERE " + _LEASED + " RETURNING j.id"
    )
    heartbeat = (
        "UPDATE {s}.jobs SET lease_expires_at = %(until)s, lease_deadline = %(deadline)s, "
        "heartbeat = %(until)s WHERE status = 'processing' AND worker_id = %(worker)s"
    )
    expire_worker = (
        "UPDATE {s}.jobs SET lease_expires_at = %(now)s - 0.001, lease_deadline = %(deadline)s - 0.001 "
        "WHERE status = 'processing' AND worker_id = %(worker)s"
    )

    recovery_lock = "SELECT pg_try_advisory_xact_lock(hashtext(%s))"
    peek_expired = "SELECT 1 FROM {s}.jobs WHERE " + _EXPIRED + " LIMIT 1"
    # Locking the expired rows first: an ack racing the recovery either wins (its row is
    # skipped here) or finds the job recovered; no statement below re-reads the predicate.
    lock_expired = (
        "SELECT id, tentativas >= max_tentativas FROM {s}.jobs WHERE " + _EXPIRED +
        " ORDER BY lease_deadline LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
    )
    log_expired = (
        "INSERT INTO {s}.job_errors (job_rowid, attempt, worker_id, error_type, error, failed_at) "
        "SELECT id, tentativas, worker_id, %(error_type)s, %(error)s, %(now)s FROM {s}.jobs "
        "WHERE id = ANY(%(ids)s::bigint[]) ORDER BY id"
    )
    bury_expired_dlq = (
        "INSERT INTO {s}.dead_letters (original_job_id, job_rowid, payload, error, error_type, "
        "failed_at, attempts, queue_name) SELECT " + _JOB_ID + ", id, payload, %(error)s, %(error_type)s, "
        "%(now)s, tentativas, queue_name FROM {s}.jobs WHERE id = ANY(%(dead)s::bigint[]) ORDER BY id"
    )
    bury_expired = (
        "UPDATE {s}.jobs SET status = 'failed', completed_at = %(now)s, last_error = %(error)s, "
        "error_type = %(error_type)s, error_stack = NULL, heartbeat = NULL, lease_expires_at = NULL, "
        "lease_deadline = NULL WHERE id = ANY(%(dead)s::bigint[])"
    )
    requeue_expired = (
        "UPDATE {s}.jobs SET status = 'pending', run_at = %(now)s, last_error = %(error)s, "
        "error_type = %(error_type)s, error_stack = NULL, worker_id = NULL, heartbeat = NULL, "
        "lease_expires_at = NULL, lease_deadline = NULL WHERE id = ANY(%(alive)s::bigint[])"
    )

    cancel = (
        "UPDATE {s}.jobs SET status = 'cancelled', completed_at = %(now)s "
        "WHERE id = %(id)s AND status IN ('pending', 'scheduled')"
    )
    get = "SELECT " + _JOB_COLUMNS + " FROM {s}.jobs WHERE id = %s"
    get_errors = (
        "SELECT error_type, error, error_stack, attempt, worker_id, failed_at FROM {s}.job_errors "
        "WHERE job_rowid = %s ORDER BY id"
    )
    list_status = "SELECT " + _JOB_COLUMNS + " FROM {s}.jobs WHERE status = ANY(%s) ORDER BY id LIMIT %s"
    list_all = "SELECT " + _JOB_COLUMNS + " FROM {s}.jobs ORDER BY id LIMIT %s"
    list_status_in = (
        "SELECT " + _JOB_COLUMNS + " FROM {s}.jobs WHERE queue_name = %s AND status = ANY(%s) "
        "ORDER BY id LIMIT %s"
    )
    list_all_in = "SELECT " + _JOB_COLUMNS + " FROM {s}.jobs WHERE queue_name = %s ORDER BY id LIMIT %s"
    has_ready = (
        "SELECT EXISTS (SELECT 1 FROM {s}.jobs WHERE status = 'pending') OR EXISTS "
        "(SELECT 1 FROM {s}.jobs WHERE status = 'scheduled' AND run_at <= %s)"
    )
    next_due = "SELECT min(run_at) FROM {s}.jobs WHERE status = 'scheduled'"
    oldest_ready = (
        "SELECT min(run_at) FROM {s}.jobs WHERE (status = 'pending' OR status = 'scheduled') "
        "AND run_at <= %s"
    )

    # the column order of the SQLite table, so one decoder reads both
    dlq_select = (
        "SELECT id, original_job_id, 0, payload, error, error_type, failed_at, attempts, error_stack, "
        "job_rowid, queue_name FROM {s}.dead_letters"
    )
    dlq_requeue_job = (
        "UPDATE {s}.jobs j SET status = 'pending', tentativas = 0, run_at = %(now)s, "
        "completed_at = NULL, worker_id = NULL, started_at = NULL "
        "WHERE j.id = %(id)s AND j.status = 'failed' AND (j.dedupe_key IS NULL OR NOT EXISTS "
        "(SELECT 1 FROM {s}.jobs o WHERE o.dedupe_key = j.dedupe_key AND o.completed_at IS NULL))"
    )
    dlq_delete = "DELETE FROM {s}.dead_letters WHERE id = %s"
    dlq_count = "SELECT count(*) FROM {s}.dead_letters"
    dlq_delete_job = "DELETE FROM {s}.jobs WHERE id = %s AND status = 'failed'"
    # job search (newest first, keyset on the primary key); filters appended from FIND_FILTERS
    find_jobs = "SELECT " + _JOB_COLUMNS + " FROM {s}.jobs WHERE id <= %(max_rowid)s"
    find_order = " ORDER BY id DESC LIMIT %(limit)s"
    local_statement_timeout = "SELECT set_config('statement_timeout', %s, true)"
    dlq_prune_jobs = (
        "DELETE FROM {s}.jobs WHERE status = 'failed' AND id IN "
        "(SELECT job_rowid FROM {s}.dead_letters WHERE failed_at < %(before)s)"
    )
    dlq_prune = "DELETE FROM {s}.dead_letters WHERE failed_at < %(before)s"

    purge_status = "DELETE FROM {s}.jobs WHERE status = ANY(%s)"
    purge_all = "DELETE FROM {s}.jobs"
    purge_dlq = "DELETE FROM {s}.dead_letters"
    orphan_errors = (
        "DELETE FROM {s}.job_errors e WHERE NOT EXISTS (SELECT 1 FROM {s}.jobs j WHERE j.id = e.job_rowid)"
    )
    count_completed = "SELECT count(*) FROM {s}.jobs WHERE status = 'completed'"
    # Finished jobs go in bounded batches, so one cleanup never holds many row locks or bloats WAL.
    cleanup_batch = (
        "WITH gone AS (DELETE FROM {s}.jobs WHERE id IN (SELECT id FROM {s}.jobs "
        "WHERE status IN ('completed', 'cancelled') AND (completed_at < %(before)s "
        "OR (status = 'completed' AND expires_at IS NOT NULL AND expires_at <= %(now)s)) "
        "LIMIT %(batch)s FOR UPDATE SKIP LOCKED) RETURNING id, status) "
        "SELECT count(*), count(*) FILTER (WHERE status = 'completed'), array_agg(id) FROM gone"
    )

    # The reading and housekeeping above, narrowed to one named queue (`_in`). A dead letter
    # keeps its job's queue name.
    dlq_of_queue = "queue_name = %s"
    oldest_ready_in = (
        "SELECT min(run_at) FROM {s}.jobs WHERE queue_name = %s AND (status = 'pending' OR "
        "status = 'scheduled') AND run_at <= %s"
    )
    purge_status_in = "DELETE FROM {s}.jobs WHERE queue_name = %s AND status = ANY(%s)"
    purge_all_in = "DELETE FROM {s}.jobs WHERE queue_name = %s"
    purge_dlq_in = "DELETE FROM {s}.dead_letters WHERE " + dlq_of_queue
    count_completed_in = "SELECT count(*) FROM {s}.jobs WHERE queue_name = %s AND status = 'completed'"
    cleanup_batch_in = (
        "WITH gone AS (DELETE FROM {s}.jobs WHERE id IN (SELECT id FROM {s}.jobs "
        "WHERE queue_name = %(queue)s AND status IN ('completed', 'cancelled') AND (completed_at < %(before)s "
        "OR (status = 'completed' AND expires_at IS NOT NULL AND expires_at <= %(now)s)) "
        "LIMIT %(batch)s FOR UPDATE SKIP LOCKED) RETURNING id, status) "
        "SELECT count(*), count(*) FILTER (WHERE status = 'completed'), array_agg(id) FROM gone"
    )

    count_any = "SELECT 1 FROM {s}.jobs LIMIT 1"
    copy_jobs = (
        "COPY {s}.jobs (id, pagina_id, payload, status, priority, tentativas, max_tentativas, last_error, "
        "error_type, error_stack, created_at, run_at, completed_at, expires_at, dedupe_key, result, queue_name, "
        "concurrency_key) FROM STDIN"
    )
    import_dead_letter = (
        "INSERT INTO {s}.dead_letters (original_job_id, job_rowid, payload, error, error_type, error_stack, "
        "failed_at, attempts, queue_name) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    import_schedule = (
        "INSERT INTO {s}.schedules (name, next_run_at, last_run_at, last_job_id) VALUES (%s, %s, %s, %s)"
    )

    schedule_init = (
        "INSERT INTO {s}.schedules (name, next_run_at) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    )
    schedule_get = "SELECT next_run_at, last_run_at, last_job_id FROM {s}.schedules WHERE name = %s"
    schedule_fire = (
        "UPDATE {s}.schedules SET next_run_at = %(next)s, last_run_at = %(due)s, last_job_id = %(job)s "
        "WHERE name = %(name)s AND next_run_at = %(due)s"
    )
    schedule_list = "SELECT name, next_run_at, last_run_at, last_job_id FROM {s}.schedules ORDER BY name"


# JobQuery field -> the clause it adds to `Q.find_jobs` (parameters are named after the field)
FIND_FILTERS = {
    "status": " AND status = ANY(%(status)s)",
    "task": " AND (payload::jsonb ->> '__task__') = %(task)s",
    "error_type": " AND error_type = %(error_type)s",
    "created_since": " AND created_at >= %(created_since)s",
    "created_until": " AND created_at < %(created_until)s",
    "payload_contains": " AND strpos(payload, %(payload_contains)s) > 0",
    "queue_name": " AND queue_name = %(queue_name)s",
}


class Statements(Q, FlowQ, MetricsQ, TalliesQ, WorkersQ):
    """`Q` with every template formatted for one (already quoted) schema."""

    def __init__(self, schema_ident: str) -> None:
        self.schema_ident = schema_ident
        for templates in (Q, FlowQ, MetricsQ, TalliesQ, WorkersQ):
            for name, value in vars(templates).items():
                if not name.startswith("_") and isinstance(value, str):
                    setattr(self, name, value.format(s=schema_ident))
