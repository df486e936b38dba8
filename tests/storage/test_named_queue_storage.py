"""Named queues in SQLite: schema 2 -> 3 migration in place, and a claim index that leads with
the queue name."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from queue_max.errors import StorageError
from queue_max.models import NewJob
from queue_max.storage.sqlite import ShardManager
from queue_max.storage.sqlite._flow_sql import FLOW_SCHEMA
from queue_max.storage.sqlite._sql import SCHEMA_VERSION, Q, TALLIES_SCHEMA, complete_values

NOW = 1_800_000_000.0


def _downgrade(path: Path, version: int, statements: list[str]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(f"UPDATE shard_metadata SET value = {version} WHERE key = 'version'")
    conn.close()


# schema 6's dead letters, as it created them: no queue name, counted in one number
V6_DEAD_TALLY = [
    "CREATE TABLE dead_tally (one INTEGER PRIMARY KEY CHECK (one = 1), n INTEGER NOT NULL)",
    "INSERT INTO dead_tally(one, n) VALUES (1, (SELECT count(*) FROM dead_letter_queue))",
    "CREATE TRIGGER dead_tally_insert AFTER INSERT ON dead_letter_queue BEGIN UPDATE dead_tally SET n = n + 1; END",
    "CREATE TRIGGER dead_tally_delete AFTER DELETE ON dead_letter_queue BEGIN UPDATE dead_tally SET n = n - 1; END",
]


def downgrade_to_v6(path: Path) -> None:
    """Turn a shard file into the schema-6 layout: dead letters without a queue name, one count."""
    triggers = [f"DROP TRIGGER dead_tally_{event}" for event in ("insert", "delete", "queue")]
    _downgrade(path, 6, [*triggers, "DROP TABLE dead_tally", "DROP INDEX dead_letter_queue_name",
                         "ALTER TABLE dead_letter_queue DROP COLUMN queue_name", *V6_DEAD_TALLY])


def downgrade_to_v4(path: Path) -> None:
    """Turn a fresh shard file into the schema-4 layout: no tallies (counts were counted)."""
    downgrade_to_v6(path)
    drops = [f"DROP {words[1]} {words[2]}" for words in (statement.split() for statement in TALLIES_SCHEMA)
             if words[1] in ("TABLE", "TRIGGER")]
    dead = ["DROP TRIGGER dead_tally_insert", "DROP TRIGGER dead_tally_delete", "DROP TABLE dead_tally"]
    _downgrade(path, 4, [*drops, *dead, "ALTER TABLE fila DROP COLUMN tallied"])


def downgrade_to_v3(path: Path) -> None:
    """Turn a fresh shard file into the schema-3 layout: no progress, no cancel requests."""
    downgrade_to_v4(path)
    _downgrade(path, 3, [f"ALTER TABLE fila DROP COLUMN {column}"
                         for column in ("progress", "progress_message", "cancel_requested")])


def downgrade_to_v2(path: Path) -> None:
    """Turn a fresh shard file into the schema-2 layout that queue-max wrote before named queues."""
    downgrade_to_v3(path)
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in FLOW_SCHEMA:
        words = statement.split()
        if words[1] == "TABLE":  # its indexes go with it
            conn.execute(f"DROP TABLE {words[2]}")
    conn.execute("DROP INDEX fila_ready")
    conn.execute("CREATE INDEX fila_ready ON fila(priority DESC, run_at, id) WHERE ready = 1")
    conn.execute("ALTER TABLE fila DROP COLUMN queue_name")
    conn.execute("ALTER TABLE fila DROP COLUMN concurrency_key")
    conn.execute("PRAGMA user_version = 2")
    conn.execute("UPDATE shard_metadata SET value = 2 WHERE key = 'version'")
    conn.close()


def v2_directory(tmp_path: Path, shards: int, jobs: int) -> Path:
    data = tmp_path / "data"
    manager = ShardManager(data, shards)
    manager.enqueue_many([NewJob(json.dumps({"i": i}), shard_key=i) for i in range(jobs)], NOW)
    manager.close()
    for n in range(shards):
        downgrade_to_v2(data / f"shard_{n}.db")
    return data


def test_a_schema_2_directory_is_migrated_in_place_and_keeps_every_job(tmp_path):
    # Given a two-shard directory written before named queues, with six pending jobs
    data = v2_directory(tmp_path, 2, 6)
    # When it is opened
    manager = ShardManager(data)
    # Then every file is at the current schema, every job is in the default queue and claimable
    for n in range(2):
        conn = sqlite3.connect(data / f"shard_{n}.db")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.close()
    claimed = manager.claim("w", 10, 30.0, NOW, queue="default")
    assert sorted(job.payload["i"] for job in claimed) == list(range(6))
    assert manager.take_tokens("queue:default", 1, 1.0, 1.0, NOW) == 1
    manager.close()


def test_a_migration_that_fails_leaves_the_file_at_schema_2(tmp_path):
    # Given a schema-2 file where a stray table blocks the migration's CREATE TABLE
    data = v2_directory(tmp_path, 1, 2)
    conn = sqlite3.connect(data / "shard_0.db", isolation_level=None)
    conn.execute("CREATE TABLE flow_paused (x)")
    conn.close()
    # When it is opened, the migration fails as a whole
    with pytest.raises(StorageError):
        ShardManager(data)
    # Then nothing of it was applied
    conn = sqlite3.connect(data / "shard_0.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    columns = [row[1] for row in conn.execute("PRAGMA table_info(fila)")]
    assert "queue_name" not in columns and conn.execute("SELECT count(*) FROM fila").fetchone()[0] == 2
    conn.close()


def plan(conn: sqlite3.Connection, sql: str, params: dict[str, object] | list[object]) -> str:
    return " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))


def test_a_claim_on_one_queue_searches_only_that_queues_index_entries(tmp_path):
    # Given a shard with jobs in several queues
    manager = ShardManager(tmp_path / "data", 1)
    manager.enqueue_many([NewJob("{}", queue_name=f"q{i % 10}") for i in range(200)], NOW)
    manager.close()
    conn = sqlite3.connect(tmp_path / "data" / "shard_0.db")
    conn.execute("ANALYZE")
    params = {"worker": "w", "now": NOW, "until": NOW + 30, "limit": 8, "queue": "q3"}
    # When SQLite plans the one-queue claim
    text = plan(conn, Q.claim_queue, params)
    # Then it searches the run-order index by queue name, with no sort and no table scan
    assert "SEARCH fila USING INDEX fila_ready (queue_name=?)" in text
    assert "TEMP B-TREE" not in text and "SCAN fila" not in text
    # And the all-queues claim seeks each queue name, then each queue's head: no table scan
    every = plan(conn, Q.claim, params)
    assert "SEARCH fila USING INDEX fila_ready (queue_name>?)" in every
    assert "SEARCH fila USING INDEX fila_ready (queue_name=?)" in every and "SCAN fila" not in every
    conn.close()


def test_a_worker_on_every_queue_takes_the_best_jobs_across_queues(tmp_path):
    # Given one shard with jobs of three queues at different priorities and run times
    manager = ShardManager(tmp_path / "data", 1)
    manager.enqueue_many([NewJob('{"n": "a-low"}', priority=0, queue_name="a"),
                          NewJob('{"n": "b-high"}', priority=2, queue_name="b"),
                          NewJob('{"n": "c-mid-early"}', priority=1, run_at=NOW - 5, queue_name="c"),
                          NewJob('{"n": "a-mid-late"}', priority=1, queue_name="a")], NOW)
    # When a worker on every queue claims them one at a time
    order = [manager.claim("w", 1, 30.0, NOW)[0].payload["n"] for _ in range(4)]
    # Then priority, then run_at, then enqueue order decide across queues too
    assert order == ["b-high", "c-mid-early", "a-mid-late", "a-low"]
    manager.close()


def test_a_batch_claim_on_every_queue_takes_the_best_jobs_across_queue_heads(tmp_path):
    # Given one shard with jobs of three queues, and an early job of queue "a" already running
    manager = ShardManager(tmp_path / "data", 1)
    manager.enqueue_many([NewJob('{"n": "a-running"}', priority=3, run_at=NOW - 9, queue_name="a")], NOW)
    assert [job.payload["n"] for job in manager.claim("w", 1, 30.0, NOW)] == ["a-running"]
    manager.enqueue_many([NewJob(json.dumps({"n": f"{queue}{i}"}), priority=prio, run_at=NOW - i, queue_name=queue)
                          for queue, prio in (("a", 0), ("b", 1), ("c", 0)) for i in range(4)], NOW)
    # When a worker on every queue claims five at once, then the rest
    first = [job.payload["n"] for job in manager.claim("w", 5, 30.0, NOW)]
    rest = [job.payload["n"] for job in manager.claim("w", 20, 30.0, NOW)]
    # Then the first batch is the best five of the merged heads: queue b's four, then the earliest of a and c
    assert first == ["b3", "b2", "b1", "b0", "a3"]
    assert sorted(rest) == ["a0", "a1", "a2", "c0", "c1", "c2", "c3"]
    manager.close()


def test_a_batch_claim_on_every_queue_of_a_one_queue_shard_follows_the_run_order(tmp_path):
    # Given one shard whose waiting jobs are all of queue "solo", at mixed priorities
    manager = ShardManager(tmp_path / "data", 1)
    manager.enqueue_many([NewJob(json.dumps({"i": i}), priority=i % 3, queue_name="solo") for i in range(9)], NOW)
    # When a worker on every queue claims them four at a time
    batches = [[job.payload["i"] for job in manager.claim("w", 4, 30.0, NOW)] for _ in range(4)]
    # Then priority, then enqueue order decide, and every job is handed out once
    assert batches == [[2, 5, 8, 1], [4, 7, 0, 3], [6], []]
    manager.close()


def test_the_all_queues_claim_merges_queue_heads_only_when_the_run_order_holds_two_names(tmp_path):
    # Given the all-queues claim statement, planned on a shard with jobs of several queues
    manager = ShardManager(tmp_path / "data", 1)
    manager.enqueue_many([NewJob("{}", queue_name=f"q{i % 3}") for i in range(30)], NOW)
    manager.close()
    conn = sqlite3.connect(tmp_path / "data" / "shard_0.db")
    text = plan(conn, Q.claim_counted, {"worker": "w", "now": NOW, "until": NOW + 30, "limit": 8})
    # Then its one-name arm reads one queue's index range, and the merging walk is gated on min < max
    assert text.count("SEARCH fila USING INDEX fila_ready (queue_name=?)") == 2 and "SCAN fila" not in text
    assert "WHERE (SELECT min(queue_name) FROM fila WHERE ready = 1) < (SELECT max(queue_name)" in Q.claim_counted
    conn.close()


def test_the_grouped_ack_finds_each_leased_row_by_its_id(tmp_path):
    # Given the grouped ack statement, planned on a shard with jobs
    manager = ShardManager(tmp_path / "data", 1)
    manager.enqueue_many([NewJob("{}") for _ in range(30)], NOW)
    manager.close()
    conn = sqlite3.connect(tmp_path / "data" / "shard_0.db")
    text = plan(conn, complete_values(4), [NOW, NOW + 60, 1, 1, None, 2, 1, None, 3, 1, None, None, None, None])
    # Then it walks the group's VALUES list and seeks each row by its primary key: no table scan
    assert "SCAN 4 CONSTANT ROWS" in text and "SEARCH fila USING INTEGER PRIMARY KEY (rowid=?)" in text
    assert "SCAN fila" not in text
    conn.close()
