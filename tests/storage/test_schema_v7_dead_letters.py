"""Schema 7: a dead letter keeps its job's queue name and the dead letters are counted per queue.
A schema-6 directory is upgraded with exact counts, and dead letters written with the sqlite3
shell are counted in the queue their row names."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from test_named_queue_storage import downgrade_to_v6

from queue_max.models import ErrorInfo, NewJob
from queue_max.storage.sqlite import ShardManager
from queue_max.storage.sqlite._ids import rowid_of, shard_of_id
from queue_max.storage.sqlite._sql import SCHEMA_VERSION

NOW = 1_800_000_000.0
BOOM = ErrorInfo("RuntimeError", "boom")


def jobs(queue_name: str, n: int, **options: object) -> list[NewJob]:
    return [NewJob(json.dumps({"q": queue_name, "i": i}), queue_name=queue_name, **options)  # type: ignore[arg-type]
            for i in range(n)]


def bury(store: ShardManager, queue_name: str, n: int) -> list[int]:
    claimed = store.claim("w", n, 30.0, NOW, queue=queue_name)
    for job in claimed:
        store.bury(job.lease, BOOM, NOW)
    return [job.id for job in claimed]


def tallied_and_counted(data: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Per queue, summed over the shards: what `dead_tally` says, and the dead letters counted."""
    tallied: dict[str, int] = {}
    counted: dict[str, int] = {}
    for path in sorted(data.glob("shard_*.db")):
        conn = sqlite3.connect(path)
        for into, sql in ((tallied, "SELECT queue_name, n FROM dead_tally WHERE n <> 0"),
                          (counted, "SELECT queue_name, count(*) FROM dead_letter_queue GROUP BY queue_name")):
            for name, n in conn.execute(sql):
                into[name] = into.get(name, 0) + n
        conn.close()
    return tallied, counted


def assert_exact(store: ShardManager, data: Path, expected: dict[str, int]) -> None:
    tallied, counted = tallied_and_counted(data)
    assert tallied == counted == expected
    assert store.dlq_count() == store.counts(NOW)["dead_letter"] == sum(expected.values())
    for name in ("default", "mail", "reports", "nothing-here"):
        want = expected.get(name, 0)
        assert store.dlq_count(queue_name=name) == store.counts(NOW, queue_name=name)["dead_letter"] == want
        assert [entry.queue_name for entry in store.dlq_list(1000, queue_name=name)] == [name] * want


def test_a_schema_6_directory_keeps_each_dead_letters_queue_and_counts_them_per_queue(tmp_path: Path):
    # Given a schema-6 directory of three shards holding dead letters of three queues (buried by
    # workers and by lease recovery), and one whose job row is gone, as 0.1.1 left them
    data = tmp_path / "data"
    store = ShardManager(data, 3)
    store.enqueue_many(jobs("default", 4) + jobs("mail", 9) + jobs("reports", 5, max_attempts=1), NOW)
    bury(store, "default", 2)
    mail = bury(store, "mail", 7)
    store.claim("w", 5, 30.0, NOW, queue="reports")
    assert store.requeue_expired(NOW + 31, BOOM).buried == 5
    store.close()
    orphan = mail[0]
    conn = sqlite3.connect(data / f"shard_{shard_of_id(orphan)}.db", isolation_level=None)
    conn.execute("DELETE FROM fila WHERE id = ?", (rowid_of(orphan),))
    conn.close()
    for path in sorted(data.glob("shard_*.db")):
        downgrade_to_v6(path)
    conn = sqlite3.connect(data / "shard_0.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 6
    assert "queue_name" not in [row[1] for row in conn.execute("PRAGMA table_info(dead_letter_queue)")]
    conn.close()
    # When this version opens it
    store = ShardManager(data, 3)
    try:
        # Then every shard is at the current schema, each dead letter is in its job's queue (the
        # orphan in the default queue, the one 0.1.1 had) and the counts per queue are exact
        for path in sorted(data.glob("shard_*.db")):
            conn = sqlite3.connect(path)
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
            conn.close()
        assert_exact(store, data, {"default": 3, "mail": 6, "reports": 5})
        assert {e.original_job_id: e.queue_name for e in store.dlq_list(100)}[orphan] == "default"
        # And later burials, requeues and prunes keep them exact
        bury(store, "mail", 2)
        assert store.dlq_requeue(NOW, queue_name="reports") == 5
        assert store.dlq_prune(queue_name="default") == 3
        assert_exact(store, data, {"mail": 8})
    finally:
        store.close()


def test_dead_letters_written_with_the_sqlite3_shell_are_counted_in_the_queue_their_row_names(tmp_path: Path):
    # Given a one-shard queue with one dead letter of "mail"
    data = tmp_path / "data"
    store = ShardManager(data, 1)
    store.enqueue_many(jobs("mail", 1), NOW)
    bury(store, "mail", 1)
    conn = sqlite3.connect(data / "shard_0.db", isolation_level=None)
    insert = ("INSERT INTO dead_letter_queue(original_job_id, job_rowid, payload, failed_at, shard_id, attempts"
              "{}) VALUES (0, 0, '{{}}', 0, 0, 1{})")
    try:
        # When an operator inserts one without a queue name and one of "reports"
        conn.execute(insert.format("", ""))
        conn.execute(insert.format(", queue_name", ", 'reports'"))
        # Then they are counted in the default queue and in "reports"
        assert_exact(store, data, {"default": 1, "mail": 1, "reports": 1})
        # When one is moved to another queue, and one deleted, by hand
        conn.execute("UPDATE dead_letter_queue SET queue_name = 'mail' WHERE queue_name = 'default'")
        conn.execute("DELETE FROM dead_letter_queue WHERE queue_name = 'reports'")
        # Then the counts follow
        assert_exact(store, data, {"mail": 2})
    finally:
        conn.close()
        store.close()
