"""A module that registers no task."""

__all__: list[str] = []
