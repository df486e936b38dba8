"""Schema 3 -> 4 (progress and cancel requests): a shard written before it is upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from test_named_queue_storage import downgrade_to_v3

from queue_max import Queue
from queue_max.config import Settings
from queue_max.storage.sqlite._sql import SCHEMA_VERSION


def test_a_schema_3_shard_gains_the_progress_columns_and_keeps_its_jobs(tmp_path: Path):
    # Given a shard as schema 3 left it, holding a job
    data = tmp_path / "data"
    with Queue(data_dir=data, shards=1, rate_limit=0, settings=Settings()) as queue:
        job_id = queue.enqueue({"kept": True})["id"]
    downgrade_to_v3(data / "shard_0.db")
    # When it is opened again and the job reports progress
    with Queue(data_dir=data, rate_limit=0, settings=Settings()) as queue:
        job = queue.pop_job("w")
        assert job is not None and job.id == job_id and job.payload == {"kept": True}
        queue.set_progress(job, 0.5, "half")
        # Then the progress is stored, and the file is at the current schema
        assert (queue.job_progress(job_id).fraction, queue.job_progress(job_id).message) == (0.5, "half")
    conn = sqlite3.connect(data / "shard_0.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
    conn.close()
