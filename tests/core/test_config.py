"""Settings come from the environment only through queue_max.config."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from queue_max import ConfigError, Queue
from queue_max.config import ENV_VARS, load_settings

SRC = Path(__file__).resolve().parents[2] / "src" / "queue_max"


def test_defaults_match_the_reference_table():
    s = load_settings({})
    assert (s.num_shards, s.rate_limit, s.max_retries) == (6, 0, 3)
    assert (s.circuit_failure_threshold, s.circuit_timeout, s.busy_timeout) == (5, 60.0, 30.0)
    assert (s.heartbeat_interval, s.lease_timeout, s.recovery_interval) == (5.0, 30.0, 10.0)
    assert (s.cleanup_days, s.alert_threshold, s.log_level) == (7.0, 1000, "WARNING")
    assert str(s.data_dir) == "data" and s.shards_explicit is False


def test_environment_values_are_parsed_into_units():
    s = load_settings({"NUM_SHARDS": "3", "STUCK_TIMEOUT": "1500", "QUEUE_MAX_DURABLE": "yes",
                       "QUEUE_MAX_RETRIES": "0", "RATE_LIMIT_MAX": "0"})
    assert s.num_shards == 3 and s.shards_explicit and s.lease_timeout == 1.5
    assert s.durable is True and s.max_retries == 0 and s.rate_limit == 0


@pytest.mark.parametrize("name, value, message", [
    ("NUM_SHARDS", "zero", "NUM_SHARDS must be an integer"),
    ("NUM_SHARDS", "0", "between 1 and 1024"),
    ("QUEUE_MAX_DURABLE", "maybe", "true/false"),
    ("QUEUE_MAX_LOG_LEVEL", "LOUD", "DEBUG, INFO"),
    ("CIRCUIT_TIMEOUT", "-1", "between 0"),
])
def test_bad_environment_values_name_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({name: value})


def test_queue_reads_its_defaults_from_settings_and_zero_is_kept(tmp_path):
    settings = load_settings({"QUEUE_MAX_RETRIES": "0", "RATE_LIMIT_MAX": "50", "NUM_SHARDS": "2"})
    with Queue(data_dir=tmp_path / "d", settings=settings) as queue:
        assert queue.max_retries == 0 and queue.rate_limit == 50 and queue.num_shards == 2
    with Queue(data_dir=tmp_path / "d", settings=settings, max_retries=5, rate_limit=0) as queue:
        assert queue.max_retries == 5 and queue.rate_limiter is None


def test_only_the_config_module_reads_environment_variables():
    readers = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                readers.append(path.relative_to(SRC).as_posix())
    assert set(readers) <= {"config.py"}


def test_every_variable_has_a_default_and_a_meaning():
    for name, (field, _parse, default, meaning) in ENV_VARS.items():
        assert field and meaning and isinstance(default, str), name


def test_the_library_never_sets_a_logger_level_and_the_commands_add_one_handler(make_queue):
    import logging

    from queue_max.logs import log_to_stderr

    # Given the queue_max logger as an application left it
    logger = logging.getLogger("queue_max")
    before_level, before_handlers = logger.level, list(logger.handlers)
    try:
        logger.setLevel(logging.NOTSET)
        # When a Queue is opened, nothing about logging changes
        make_queue()
        assert logger.level == logging.NOTSET and logger.handlers == before_handlers
        # And the commands' one set-up adds one handler, however often it is called
        log_to_stderr("INFO")
        log_to_stderr("DEBUG", with_pid=True)
        ours = [h for h in logger.handlers if type(h).__module__ == "queue_max.logs"]
        assert len(ours) == 1 and logger.level == logging.DEBUG
    finally:
        for handler in [h for h in logger.handlers if h not in before_handlers]:
            logger.removeHandler(handler)
        logger.setLevel(before_level)


def test_a_bad_log_level_is_refused_by_name():
    from queue_max.logs import log_to_stderr

    with pytest.raises(ValueError, match="log level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'"):
        log_to_stderr("LOUD")


def test_queue_options_build_settings_and_queues_with_the_queues_own_checks(tmp_path):
    from queue_max import Settings
    from queue_max.queue_options import QUEUE_OPTIONS, build_queue, check_option, check_options, settings_from_options

    # Given options as an integration reads them from its own configuration
    options = {"shards": 3, "data_dir": str(tmp_path / "q"), "rate_limiter_timeout": 2.0}
    # Then they become Settings (shards explicit, the path a Path) and a queue with them
    settings = settings_from_options(options, Settings())
    assert (settings.num_shards, settings.shards_explicit, settings.data_dir) == (3, True, tmp_path / "q")
    with build_queue(options, Settings()) as queue:
        assert queue.num_shards == 3 and queue.options.rate_limiter_timeout == 2.0
    assert "heartbeat_interval" in QUEUE_OPTIONS and "settings" not in QUEUE_OPTIONS
    # And bad values, unknown names and options that do not fit together are refused by name
    with pytest.raises(ValueError, match="unknown queue option 'shard'"):
        check_option("shard", 2)
    with pytest.raises(ValueError, match="shards"):
        check_option("shards", 0)
    with pytest.raises(ValueError, match=r"HB \(30.0s\) must be shorter than lease_timeout"):
        check_options({"heartbeat_interval": 30, "lease_timeout": 10}, {"heartbeat_interval": "HB"})
