"""The SQLite backend: sharded WAL-mode files (the default storage)."""

from ._ids import MAX_SHARDS
from .manager import ShardManager
from .shard import Shard, ShardOptions

__all__ = ["MAX_SHARDS", "Shard", "ShardManager", "ShardOptions"]
