"""Management commands of queue-max: queue_worker, queue_stats, queue_purge."""

__all__: list[str] = []
