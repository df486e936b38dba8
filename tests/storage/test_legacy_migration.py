"""Upgrading data directories written by queue-max 0.1.1 (schema "version 0") in place."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from queue_max import ForeignDatabase, JobStatus, StorageError
from queue_max.storage.sqlite import Shard, ShardOptions, _legacy
from queue_max.storage.sqlite._sql import APPLICATION_ID, SCHEMA_VERSION

# The tables, as queue-max 0.1.1 created them in every shard_N.db.
LEGACY_DDL = [
    """CREATE TABLE fila (
        id INTEGER PRIMARY KEY AUTOINCREMENT, pagina_id INTEGER NULL,
        payload TEXT NOT NULL, status TEXT DEFAULT 'pending',
        priority INTEGER DEFAULT 0, tentativas INTEGER DEFAULT 0,
        max_tentativas INTEGER DEFAULT 3, retry_delay INTEGER DEFAULT 60,
        last_error TEXT NULL, error_type TEXT NULL, error_stack TEXT NULL,
        worker_id TEXT NULL, heartbeat TEXT NULL,
        created_at TEXT DEFAULT (datetime('now')),
        started_at TEXT NULL, completed_at TEXT NULL, next_retry_at TEXT NULL)""",
    """CREATE TABLE shard_metadata (
        shard_id INTEGER PRIMARY KEY, version INTEGER DEFAULT 1,
        created_at TEXT DEFAULT (datetime('now')), last_vacuum TEXT NULL,
        total_jobs_processed INTEGER DEFAULT 0, total_jobs_failed INTEGER DEFAULT 0)""",
    """CREATE TABLE dead_letter_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT, original_job_id INTEGER,
        payload TEXT NOT NULL, error TEXT NOT NULL, error_type TEXT NOT NULL,
        failed_at TEXT DEFAULT (datetime('now')), shard_id INTEGER)""",
    "CREATE INDEX idx_status_priority ON fila(status, priority DESC)",
    "CREATE INDEX idx_next_retry ON fila(next_retry_at) WHERE status='pending'",
    "CREATE INDEX idx_heartbeat ON fila(heartbeat) WHERE status='processing'",
    "CREATE INDEX idx_created_at ON fila(created_at)",
    "CREATE INDEX idx_status_created ON fila(status, created_at)",
    "CREATE INDEX idx_dlq_failed_at ON dead_letter_queue(failed_at)",
]
PAST = "2020-01-01 00:00:00"
PAST_ISO = "2020-01-01T00:00:05.250Z"
FUTURE = "2999-01-01T00:00:00.000Z"
FUTURE_TS = datetime(2999, 1, 1, tzinfo=UTC).timestamp()


def legacy_job(rowid: int, payload: str, **columns: Any) -> dict[str, Any]:
    """A 0.1.1 `fila` row with 0.1.1's defaults (max_tentativas is max_retries + 1)."""
    return {"id": rowid, "payload": payload, "status": "pending", "priority": 0, "tentativas": 0,
            "max_tentativas": 4, "retry_delay": 60, "created_at": PAST, **columns}


def write_legacy_shard(path: Path, shard_id: int, jobs: Sequence[dict[str, Any]] = (),
                       dead_letters: Sequence[tuple[Any, ...]] = (), deleted: Sequence[int] = ()) -> None:
    """A shard file as 0.1.1 leaves it: WAL, 4 KiB pages, application_id 0, user_version 0."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in LEGACY_DDL:
        conn.execute(statement)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO shard_metadata VALUES (?, 1, ?, NULL, 7, 1)", (shard_id, PAST))
    for job in jobs:
        names = ", ".join(job)
        conn.execute(f"INSERT INTO fila({names}) VALUES ({', '.join('?' * len(job))})", tuple(job.values()))
    conn.executemany("INSERT INTO dead_letter_queue VALUES (?, ?, ?, ?, ?, ?, ?)", dead_letters)
    conn.executemany("DELETE FROM fila WHERE id = ?", [(rowid,) for rowid in deleted])
    conn.execute("COMMIT")
    conn.close()


def failed_job(rowid: int) -> dict[str, Any]:
    return legacy_job(rowid, '{"b": 2}', status="failed", tentativas=1, last_error="boom",
                      error_type="ValueError", error_stack="ValueError: boom\n",
                      started_at=PAST_ISO, completed_at=PAST_ISO)


@pytest.fixture
def legacy_dir(tmp_path: Path) -> Path:
    """Two 0.1.1 shards: ready jobs of several priorities, a retry due in the far future,
    a job whose worker died, and a permanently failed job with its dead letter."""
    data = tmp_path / "data"
    data.mkdir()
    write_legacy_shard(data / "shard_0.db", 0, jobs=[
        legacy_job(1, '{"n": 1}', priority=1),
        legacy_job(2, '{"n": 2}', priority=10, created_at=PAST_ISO),
        legacy_job(3, '{"n": 3}', tentativas=1, last_error="flaky", error_type="IOError",
                   next_retry_at=FUTURE, worker_id="w1"),
        legacy_job(4, '{"n": 4}', status="processing", tentativas=1, worker_id="w1",
                   started_at=PAST_ISO, heartbeat=PAST_ISO),
    ])
    write_legacy_shard(data / "shard_1.db", 1, jobs=[
        failed_job(1),
        legacy_job(2, '{"n": 5}', priority=5, pagina_id=7),
        legacy_job(3, '{"n": 6}', status="completed", tentativas=1, completed_at=PAST_ISO),
        legacy_job(9, '{"n": 7}', status="cancelled", completed_at=PAST),
    ], dead_letters=[(1, 1, '{"b": 2}', "boom", "ValueError", PAST, 1)])
    return data


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows_of(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    rows = {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in tables}
    rows["header"] = [conn.execute("SELECT * FROM pragma_application_id, pragma_user_version").fetchone()]
    conn.close()
    return rows


def gid(rowid: int, shard_id: int) -> int:
    return rowid * 1024 + shard_id


def test_every_legacy_job_keeps_its_payload_priority_attempts_and_status(legacy_dir, make_queue):
    # Given a 0.1.1 directory with jobs in every state
    # When our queue opens it
    queue = make_queue(data_dir=legacy_dir)
    # Then every job is there under its global id, with what 0.1.1 recorded
    jobs = {job.id: job for job in queue.list_jobs(limit=100)}
    seen = {i: (j.payload, j.priority_int, j.tentativas, j.max_tentativas, j.status) for i, j in jobs.items()}
    assert seen == {
        gid(1, 0): ({"n": 1}, 1, 0, 4, JobStatus.PENDING),
        gid(2, 0): ({"n": 2}, 10, 0, 4, JobStatus.PENDING),
        gid(3, 0): ({"n": 3}, 0, 1, 4, JobStatus.PENDING),
        gid(4, 0): ({"n": 4}, 0, 1, 4, JobStatus.PROCESSING),
        gid(1, 1): ({"b": 2}, 0, 1, 4, JobStatus.FAILED),
        gid(2, 1): ({"n": 5}, 5, 0, 4, JobStatus.PENDING),
        gid(3, 1): ({"n": 6}, 0, 1, 4, JobStatus.COMPLETED),
        gid(9, 1): ({"n": 7}, 0, 0, 4, JobStatus.CANCELLED),
    }
    # and their times, errors and shard keys, read as UTC
    failed = queue.get_job(gid(1, 1))
    assert failed.created_ts == datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    assert failed.completed_ts == datetime(2020, 1, 1, 0, 0, 5, 250000, tzinfo=UTC).timestamp()
    assert (failed.last_error, failed.error_type, failed.error_stack) == ("boom", "ValueError", "ValueError: boom\n")
    assert [(e.type, e.message) for e in failed.errors] == [("ValueError", "boom")]
    assert jobs[gid(2, 1)].pagina_id == 7
    assert jobs[gid(3, 0)].run_ts == FUTURE_TS
    assert queue.get_stats()["dead_letter"] == 1


def test_the_shard_metadata_carries_over_in_our_key_value_form(legacy_dir, make_queue):
    # Given a 0.1.1 shard that counted 7 processed and 1 failed job
    # When it is upgraded
    queue = make_queue(data_dir=legacy_dir)
    # Then the counters and creation time are kept under our keys
    meta = queue.shard_manager.shards[1].metadata()
    assert meta == {
        "version": SCHEMA_VERSION, "shard_id": 1, "num_shards": 2, "id_floor": 9,
        "created_at": datetime(2020, 1, 1, tzinfo=UTC).timestamp(), "last_vacuum": None,
        "total_jobs_processed": 7, "total_jobs_failed": 1,
    }


def test_pending_legacy_jobs_are_claimed_in_priority_order_and_can_be_completed(legacy_dir, make_queue):
    # Given an upgraded 0.1.1 directory
    queue = make_queue(data_dir=legacy_dir)
    # When a worker claims everything that is ready
    jobs = queue.claim_jobs("w2", 100)
    # Then it gets the ready jobs, highest priority first, and can complete them
    assert [job.payload["n"] for job in jobs] == [2, 5, 1]
    for job in jobs:
        assert queue.complete_job(job)
    assert queue.get_job(gid(2, 0)).status is JobStatus.COMPLETED
    assert queue.get_job(gid(2, 0)).tentativas == 1


def test_a_job_waiting_for_a_legacy_retry_is_not_claimed_before_it_is_due(legacy_dir, make_queue, clock):
    # Given an upgraded directory whose job 3 was to be retried in the far future
    queue = make_queue(data_dir=legacy_dir, clock=clock)
    assert gid(3, 0) not in {job.id for job in queue.claim_jobs("w2", 100)}
    # When its retry time comes
    clock.set_wall(FUTURE_TS + 1)
    # Then it is claimed, as its second attempt
    [job] = queue.claim_jobs("w2", 100)
    assert (job.id, job.tentativas) == (gid(3, 0), 2)


def test_a_job_whose_legacy_worker_died_is_recovered_with_the_attempt_counted(tmp_path, make_queue, clock):
    # Given a 0.1.1 shard with two jobs in processing: one on its first attempt, one on its last
    data = tmp_path / "data"
    data.mkdir()
    write_legacy_shard(data / "shard_0.db", 0, jobs=[
        legacy_job(1, '{"n": 1}', status="processing", tentativas=1, worker_id="old",
                   started_at=PAST_ISO, heartbeat=PAST_ISO),
        legacy_job(2, '{"n": 2}', status="processing", tentativas=4, worker_id="old", started_at=PAST),
    ])
    queue = make_queue(data_dir=data, clock=clock)
    # When lease recovery runs (their 0.1.1 workers are long gone)
    recovered = queue.recover_orphans()
    # Then the first is requeued with its attempt counted, and the exhausted one is dead-lettered
    assert recovered == 2
    again = queue.get_job(gid(1, 0))
    assert (again.status, again.tentativas) == (JobStatus.PENDING, 1)
    assert [e.type for e in again.errors] == ["LeaseExpired"]
    assert queue.get_job(gid(2, 0)).status is JobStatus.FAILED
    assert [entry.original_job_id for entry in queue.dlq_list()] == [gid(2, 0)]
    [job] = queue.claim_jobs("w2", 10)
    assert (job.id, job.tentativas) == (gid(1, 0), 2)


def test_legacy_dead_letters_keep_global_ids_and_can_be_requeued(legacy_dir, make_queue):
    # Given an upgraded directory with 0.1.1's dead letter of job 1 in shard 1
    queue = make_queue(data_dir=legacy_dir)
    [entry] = queue.dlq_list()
    assert (entry.id, entry.original_job_id, entry.shard_id) == (1, gid(1, 1), 1)
    assert (entry.payload, entry.error, entry.error_type, entry.attempts) == ({"b": 2}, "boom", "ValueError", 1)
    assert entry.error_stack == "ValueError: boom\n"
    # When it is requeued
    assert queue.dlq_requeue([gid(1, 1)]) == 1
    # Then the job runs again with fresh retries, and the entry is gone
    assert queue.dlq_list() == []
    job = queue.get_job(gid(1, 1))
    assert (job.status, job.tentativas, job.payload) == (JobStatus.PENDING, 0, {"b": 2})


def test_a_dead_letter_whose_job_row_is_gone_is_kept_with_no_attempts(tmp_path, make_queue):
    # Given a 0.1.1 shard whose failed job was purged but whose dead letter remained
    data = tmp_path / "data"
    data.mkdir()
    write_legacy_shard(data / "shard_0.db", 0, dead_letters=[(4, 6, '{"x": 1}', "e", "KeyError", PAST_ISO, 0)])
    # When it is upgraded
    queue = make_queue(data_dir=data)
    # Then the entry is listed with its global id
    [entry] = queue.dlq_list()
    assert (entry.id, entry.original_job_id, entry.attempts, entry.error_stack) == (4, gid(6, 0), 0, None)
    # And it belongs to the default queue, the only one 0.1.1 had, as listed and as filtered
    assert entry.queue_name == "default"
    assert queue.dlq_list(queue_name="default") == [entry] and queue.dlq_list(queue_name="mail") == []


def test_new_jobs_get_ids_above_every_legacy_row_id(tmp_path, make_queue):
    # Given a 0.1.1 shard that handed out row ids up to 7 and dead letter ids up to 3,
    # though only rows 1-2 and dead letter 1 remain
    data = tmp_path / "data"
    data.mkdir()
    write_legacy_shard(data / "shard_0.db", 0,
                       jobs=[legacy_job(n, f'{{"n": {n}}}') for n in range(1, 8)],
                       dead_letters=[(n, 1, "{}", "e", "E", PAST, 0) for n in (1, 2, 3)],
                       deleted=[3, 4, 5, 6, 7])
    conn = sqlite3.connect(data / "shard_0.db")
    conn.execute("DELETE FROM dead_letter_queue WHERE id > 1")
    conn.commit()
    conn.close()
    queue = make_queue(data_dir=data)
    # When new jobs arrive and one fails permanently
    new = queue.enqueue({"n": 8})["id"]
    batch = queue.enqueue_batch([{"payload": {"n": 9}}, {"payload": {"n": 10}}])["ids"]
    # Then no id of 0.1.1 is reused
    assert [new, *batch] == [gid(8, 0), gid(9, 0), gid(10, 0)]
    for job in queue.claim_jobs("w", 100):
        if job.id == new:
            queue.fail_job(job, error=ValueError("x"), permanent=True)
    assert max(entry.id for entry in queue.dlq_list()) == 4


def test_reopening_an_upgraded_directory_changes_nothing(legacy_dir, make_queue):
    # Given a directory upgraded once
    make_queue(data_dir=legacy_dir).close()
    before = {n: rows_of(legacy_dir / f"shard_{n}.db") for n in range(2)}
    # When it is opened again
    make_queue(data_dir=legacy_dir).close()
    # Then it is one of ours, and nothing was rewritten
    for n in range(2):
        assert rows_of(legacy_dir / f"shard_{n}.db") == before[n]
        assert before[n]["header"] == [(APPLICATION_ID, SCHEMA_VERSION)]
        assert not any(table.startswith("legacy_") for table in before[n])


def test_upgrading_a_file_another_process_already_upgraded_does_nothing(legacy_dir, make_queue):
    # Given a shard upgraded by one opener
    make_queue(data_dir=legacy_dir).close()
    path = legacy_dir / "shard_0.db"
    before = rows_of(path)
    # When a second opener that had seen the 0.1.1 layout upgrades it too
    shard = Shard(path, 0, ShardOptions())
    _legacy.migrate(shard)
    shard.close()
    # Then the second upgrade notices under the write lock and leaves the file alone
    assert rows_of(path) == before


def test_a_failure_at_the_last_step_leaves_the_legacy_file_untouched(legacy_dir, make_queue, monkeypatch):
    # Given the very last statement of the upgrade fails (after every row was copied)
    path = legacy_dir / "shard_0.db"
    before, rows_before = digest(path), rows_of(path)
    monkeypatch.setattr(_legacy._L, "drop", "DROP TABLE no_such_{0}")
    # When the directory is opened
    with pytest.raises(_legacy.LegacyMigrationError, match=r"shard 0 .* rolled back and left untouched"):
        make_queue(data_dir=legacy_dir)
    # Then it raised a storage error and the 0.1.1 file is exactly as it was
    assert issubclass(_legacy.LegacyMigrationError, StorageError)
    assert digest(path) == before
    assert rows_of(path) == rows_before
    # and once the cause is gone, the upgrade succeeds
    monkeypatch.undo()
    assert len(make_queue(data_dir=legacy_dir).list_jobs(limit=100)) == 8


def test_an_unknown_legacy_status_refuses_the_upgrade_and_leaves_the_file_untouched(tmp_path, make_queue):
    # Given a 0.1.1 shard holding a status 0.1.1 never wrote
    data = tmp_path / "data"
    data.mkdir()
    write_legacy_shard(data / "shard_0.db", 0, jobs=[legacy_job(1, "{}"), legacy_job(2, "{}", status="weird")])
    before = digest(data / "shard_0.db")
    # When it is opened, the upgrade stops with a storage error naming the job
    with pytest.raises(StorageError, match=r"job 2 has status 'weird'"):
        make_queue(data_dir=data)
    # Then the file is untouched
    assert digest(data / "shard_0.db") == before


def test_a_payload_that_is_not_a_json_object_is_kept_wrapped(tmp_path, make_queue, caplog):
    # Given 0.1.1 rows whose payload text is not a JSON object
    data = tmp_path / "data"
    data.mkdir()
    write_legacy_shard(data / "shard_0.db", 0, jobs=[
        legacy_job(1, "not json"), legacy_job(2, "[1, 2]"), legacy_job(3, '{"ok": true}')])
    # When it is upgraded
    with caplog.at_level(logging.INFO, logger="queue_max.storage"):
        queue = make_queue(data_dir=data)
    # Then no job is dropped: the odd payloads are wrapped, and a warning says which
    payloads = [job.payload for job in queue.list_jobs(limit=10)]
    assert payloads == [{"legacy_payload": "not json"}, {"legacy_payload": "[1, 2]"}, {"ok": True}]
    assert "2 payloads were not JSON objects" in caplog.text
    assert "job 1, job 2" in caplog.text
    assert "3 jobs (3 pending), 0 dead letters" in caplog.text


def test_legacy_timestamps_in_any_iso_form_are_read_as_utc(tmp_path, make_queue, caplog):
    # Given 0.1.1 rows created at the same instant written several ways, and one unreadable
    data = tmp_path / "data"
    data.mkdir()
    forms = ["2021-06-01 12:00:00", "2021-06-01T12:00:00Z", "2021-06-01T12:00:00.000Z",
             "2021-06-01T14:00:00+02:00", "2021-06-01T12:00:00"]
    jobs = [legacy_job(n, "{}", created_at=text) for n, text in enumerate(forms, 1)]
    write_legacy_shard(data / "shard_0.db", 0, jobs=[*jobs, legacy_job(9, "{}", created_at="yesterday")])
    with caplog.at_level(logging.WARNING, logger="queue_max.storage"):
        queue = make_queue(data_dir=data)
    # Then they all read as that UTC instant, and the unreadable one is dated at the upgrade
    created = {job.id // 1024: job.created_ts for job in queue.list_jobs(limit=10)}
    assert {created[n] for n in range(1, 6)} == {datetime(2021, 6, 1, 12, tzinfo=UTC).timestamp()}
    assert created[9] > datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    assert "unreadable timestamp" in caplog.text and "job 9" in caplog.text


@pytest.mark.parametrize("change", [
    "CREATE TABLE fila (id INTEGER PRIMARY KEY, payload TEXT, status TEXT)",
    "ALTER TABLE fila ADD COLUMN owner TEXT",
    "CREATE TABLE invoices (id INTEGER PRIMARY KEY)",
    "CREATE VIEW pending AS SELECT * FROM fila",
])
def test_a_file_that_only_resembles_0_1_1_is_refused_and_left_untouched(tmp_path, make_queue, change):
    # Given an SQLite file of another application with a `fila` table
    data = tmp_path / "data"
    data.mkdir()
    path = data / "shard_0.db"
    conn = sqlite3.connect(path)
    if change.startswith("CREATE TABLE fila"):
        conn.execute(change)
    else:
        for statement in LEGACY_DDL:
            conn.execute(statement)
        conn.execute(change)
    conn.execute("INSERT INTO fila(id, payload, status) VALUES (1, '{}', 'pending')")
    conn.commit()
    conn.close()
    before = digest(path)
    # When queue-max opens the directory, it refuses it
    with pytest.raises(ForeignDatabase):
        make_queue(data_dir=data)
    # Then the file is byte-for-byte untouched
    assert digest(path) == before


def test_a_legacy_shard_recording_another_shard_id_is_refused(tmp_path, make_queue):
    # Given 0.1.1's shard 1 copied in as shard_0.db
    data = tmp_path / "data"
    data.mkdir()
    write_legacy_shard(data / "shard_0.db", 1, jobs=[legacy_job(1, "{}")])
    before = digest(data / "shard_0.db")
    with pytest.raises(StorageError, match=r"shard 0 .*records shard id\(s\) \[1\], not 0; .* left untouched"):
        make_queue(data_dir=data)
    assert digest(data / "shard_0.db") == before
