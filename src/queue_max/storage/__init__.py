"""Storage: the `Backend` protocol (the seam) and its implementations."""

from .base import Backend, Completion

__all__ = ["Backend", "Completion"]
