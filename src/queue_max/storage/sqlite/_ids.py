"""Job ids: one int per job that names its row and its shard, `rowid * MAX_SHARDS + shard_id`.

Every conversion between a job id and a shard's row id goes through this module, in Python
and in SQL (`SQL_JOB_ID`), so the encoding lives in one place.
"""

from __future__ import annotations

__all__ = ["MAX_SHARDS", "SQL_JOB_ID", "id_range", "job_id_of", "rowid_of", "shard_of_id"]

# The most shards a queue can have, and the multiplier of the id encoding: changing it
# would renumber every stored job.
MAX_SHARDS = 1024

# The id of the row `id` of shard `:shard`, inside a statement.
SQL_JOB_ID = f"id * {MAX_SHARDS} + :shard"


def job_id_of(rowid: int, shard_id: int) -> int:
    """The global id of row `rowid` of shard `shard_id`."""
    return rowid * MAX_SHARDS + shard_id


def rowid_of(job_id: int) -> int:
    """The row id, inside its shard, of a job id."""
    return job_id // MAX_SHARDS


def shard_of_id(job_id: int) -> int:
    """The shard a job id names (not checked against the queue's shard count)."""
    return job_id % MAX_SHARDS


def id_range(first_rowid: int, count: int, shard_id: int) -> range:
    """The ids of `count` consecutive rows of one shard, starting at `first_rowid`."""
    first = first_rowid * MAX_SHARDS + shard_id
    return range(first, first + count * MAX_SHARDS, MAX_SHARDS)
