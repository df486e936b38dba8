"""The SQLite backend: sharded WAL-mode files (the default storage)."""

from .manager import MAX_SHARDS, ShardManager
from .shard import Shard, ShardOptions

__all__ = ["MAX_SHARDS", "Shard", "ShardManager", "ShardOptions"]
