"""Schema migration to the metrics rollup: a shard written before it gains the table in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from queue_max import Queue
from queue_max.config import Settings
from queue_max.storage.sqlite._sql import SCHEMA_VERSION
from test_named_queue_storage import downgrade_to_v2


def test_a_shard_of_the_previous_schema_is_migrated_in_place_keeping_its_jobs(tmp_path: Path):
    data = tmp_path / "data"
    with Queue(data_dir=data, shards=1, rate_limit=0, settings=Settings()) as queue:
        job_id = queue.enqueue({"kept": True})["id"]
    # Given a shard as the schema before the rollup (schema 1) left it
    downgrade_to_v2(data / "shard_0.db")  # the later schema 3 undone first
    conn = sqlite3.connect(data / "shard_0.db")
    conn.execute("DROP TABLE metrics")
    conn.execute("DROP TABLE job_traces")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    # When it is opened again
    with Queue(data_dir=data, rate_limit=0, settings=Settings()) as queue:
        # Then its jobs are there and the rollup works
        assert queue.get_job(job_id).payload == {"kept": True}
        queue.enqueue({"__task__": "t", "args": [], "kwargs": {}})
        assert [row.task for row in queue.event_metrics() if row.name == "enqueued"] == ["t"]
    conn = sqlite3.connect(data / "shard_0.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
