"""A module whose import fails, for the error test of `--function cli_fixtures.broken:f`."""

raise RuntimeError("this module refuses to be imported")
