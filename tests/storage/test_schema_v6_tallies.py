"""Schema 6: no insert trigger. A row inserted by hand joins the uncounted tail, and a schema-5
shard (whose tail was marked row by row) is upgraded with its counts exact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from test_named_queue_storage import _downgrade, downgrade_to_v6
from test_tallies import UNCOUNTED, assert_exact, one_shard

from queue_max._clock import FakeClock
from queue_max.storage.sqlite._sql import SCHEMA_VERSION, TALLY_STATUSES

_COLUMNS = ", ".join(TALLY_STATUSES)
_ADD = ", ".join(f"{status} = {status} + excluded.{status}" for status in TALLY_STATUSES)


def _upsert(row: str, sign: str) -> str:
    flags = ", ".join(f"{sign}({row}.status = '{status}')" for status in TALLY_STATUSES)
    return (f"INSERT INTO tallies(queue_name, {_COLUMNS}) VALUES ({row}.queue_name, {flags}) "
            f"ON CONFLICT(queue_name) DO UPDATE SET {_ADD};")


# schema 5's triggers, as it created them: every insert but a lone enqueue's (`tallied` = -1)
# counted by a trigger, and a folded row told apart by `tallied` alone
V5_TRIGGERS = [
    f"CREATE TRIGGER fila_tally_insert AFTER INSERT ON fila WHEN NEW.tallied IS NULL BEGIN {_upsert('NEW', '+')} END",
    f"CREATE TRIGGER fila_tally_delete AFTER DELETE ON fila WHEN OLD.tallied IS NOT -1 BEGIN {_upsert('OLD', '-')} END",
    "CREATE TRIGGER fila_tally_status AFTER UPDATE OF status ON fila WHEN NEW.tallied IS OLD.tallied "
    "AND OLD.tallied IS NOT -1 AND OLD.status IS NOT NEW.status AND OLD.queue_name = NEW.queue_name "
    "BEGIN UPDATE tallies SET "
    + ", ".join(f"{s} = {s} + (NEW.status = '{s}') - (OLD.status = '{s}')" for s in TALLY_STATUSES)
    + " WHERE queue_name = NEW.queue_name; END",
    "CREATE TRIGGER fila_tally_queue AFTER UPDATE OF queue_name ON fila WHEN OLD.tallied IS NOT -1 AND "
    f"OLD.queue_name IS NOT NEW.queue_name BEGIN {_upsert('OLD', '-')} {_upsert('NEW', '+')} END",
]


def downgrade_to_v5(path: Path) -> None:
    """Turn a schema-6 shard file into the schema-5 layout: its triggers, its folded rows."""
    downgrade_to_v6(path)
    drops = [f"DROP TRIGGER {name}" for name in ("fila_tally_delete", "fila_tally_status", "fila_tally_queue")]
    mark = "(SELECT mark FROM tally_mark)"
    _downgrade(path, 5, [*drops, *V5_TRIGGERS,
                         f"UPDATE fila SET tallied = NULL WHERE id <= {mark} AND tallied = -1"])


def insert_by_hand(path: Path, payload: str, queue_name: str = "default") -> None:
    """What an operator types in the sqlite3 shell: only the columns a job needs."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO fila(payload, max_tentativas, created_at, run_at, status, ready, queue_name) "
                 "VALUES (?, 3, 0, 0, 'pending', 1, ?)", (payload, queue_name))
    conn.close()


def test_a_job_inserted_by_hand_is_counted_and_so_are_its_later_changes(tmp_path: Path):
    # Given a queue holding jobs added in a batch and one at a time
    clock = FakeClock()
    data = tmp_path / "data"
    with one_shard(data, clock) as queue:
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(3)])
        queue.enqueue({"lone": 1})
        queue.enqueue({"lone": 2})
        # When an operator inserts two jobs with the sqlite3 shell
        insert_by_hand(data / "shard_0.db", '{"by": "hand"}')
        insert_by_hand(data / "shard_0.db", '{"by": "hand", "q": 1}', queue_name="ops")
        # Then the counts see them at once (as uncounted rows of the tail)
        assert_exact(queue, data, clock.time())
        assert queue.queue_stats()["ops"]["pending"] == 1
        # and after a batch claim folds them in and leases them, and a purge deletes the rest
        assert len(queue.claim_jobs("w", 100)) == 7
        conn = sqlite3.connect(data / "shard_0.db")
        assert conn.execute(UNCOUNTED).fetchone()[0] == 0
        conn.close()
        assert_exact(queue, data, clock.time())
        insert_by_hand(data / "shard_0.db", '{"by": "hand", "late": 1}')
        queue.purge_queue("pending")
        assert_exact(queue, data, clock.time())
        assert queue.counts()["processing"] == 7 and queue.counts()["pending"] == 0


def test_a_schema_5_shard_is_upgraded_with_its_counts_exact(tmp_path: Path):
    # Given a shard as schema 5 left it: jobs counted by a batch, by its insert trigger (a job
    # inserted by hand), and lone enqueues not counted yet (`tallied` = -1 above the mark)
    clock = FakeClock()
    data = tmp_path / "data"
    path = data / "shard_0.db"
    with one_shard(data, clock) as queue:
        queue.enqueue_batch([{"payload": {"i": i}} for i in range(4)])
        queue.enqueue({"folded": 1})  # its metrics write folds it in
    downgrade_to_v5(path)
    insert_by_hand(path, '{"by": "hand"}', queue_name="ops")  # counted by schema 5's trigger
    conn = sqlite3.connect(path, isolation_level=None)
    for i in range(3):
        conn.execute("INSERT INTO fila(payload, max_tentativas, created_at, run_at, status, ready, tallied) "
                     "VALUES (?, 3, 0, 0, 'pending', 1, -1)", (f'{{"lone": {i}}}',))
    assert conn.execute("SELECT pending FROM tallies WHERE queue_name = 'ops'").fetchone()[0] == 1
    conn.close()
    # When it is opened again
    with one_shard(data, clock) as queue:
        # Then it is at the current schema, every row is counted once, and later writes count
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
        assert conn.execute(UNCOUNTED).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'fila_tally_insert'").fetchone()[0] == 0
        conn.close()
        assert_exact(queue, data, clock.time())
        assert queue.counts()["pending"] == 9
        jobs = queue.claim_jobs("w", 3)
        queue.complete_job(queue.pop_job("w"))  # type: ignore[arg-type]
        queue.complete_jobs([(job, None) for job in jobs])
        insert_by_hand(path, '{"by": "hand", "after": 1}')
        assert_exact(queue, data, clock.time())
        assert queue.counts()["completed"] == 4 and queue.counts()["pending"] == 6
