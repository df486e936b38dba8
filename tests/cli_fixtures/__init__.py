"""Modules that `queue-max worker --function/--tasks` imports in the CLI tests (also in child processes)."""
