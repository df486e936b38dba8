"""The package version, importable by any module without importing the whole package."""

__all__ = ["__version__"]

__version__ = "0.3.0.dev0"
