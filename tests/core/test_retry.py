"""The retry policy: backoff with jitter, classification by exception type, and decisions."""

from __future__ import annotations

import dataclasses
import os
import random
import socket
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest

import queue_max.retry as retry_module
from queue_max.errors import ConfigError
from queue_max.retry import (
    Permanent,
    Retry,
    RetryDecision,
    RetryPolicy,
    decide,
    error_info,
    is_retryable_error,
)

SRC = Path(__file__).resolve().parents[2] / "src"


def requests_http_error(status: int, message: str = "") -> Exception:
    requests = pytest.importorskip("requests")
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(message or f"{status} error", response=response)


def urllib_http_error(status: int) -> urllib.error.HTTPError:
    url = "http://example.invalid/"
    return urllib.error.HTTPError(url, status, "error", None, None)  # type: ignore[arg-type]


class ExtremeRng:
    """Always draws the low (or high) end of the jitter range."""

    def __init__(self, high: bool) -> None:
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


NO_JITTER = RetryPolicy(jitter=0)


def test_public_api_is_sorted_and_complete():
    assert retry_module.__all__ == sorted(retry_module.__all__)
    assert all(hasattr(retry_module, name) for name in retry_module.__all__)


# -- backoff ------------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_and_stops_at_the_cap():
    # Given the default base of 120 s and cap of 3600 s, without jitter
    # When the delays of the first seven retries are computed
    delays = [NO_JITTER.delay_for(n) for n in range(1, 8)]
    # Then they double from 120 s until the cap holds them at 3600 s
    assert delays == [120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0]


def test_a_huge_retry_number_gives_the_cap_without_overflowing():
    assert NO_JITTER.delay_for(10_000) == 3600.0


def test_jitter_spreads_delays_within_the_fraction_around_the_backoff():
    # Given the default 20% jitter and a seeded random source
    policy = RetryPolicy(rng=random.Random(7))
    # When the first retry's delay is drawn many times
    delays = [policy.delay_for(1) for _ in range(500)]
    # Then every one lies within 120 s +/- 20%, and they are spread out
    assert all(96.0 <= d <= 144.0 for d in delays)
    assert max(delays) - min(delays) > 30.0


@pytest.mark.parametrize(("high", "expected"), [(False, 2880.0), (True, 4320.0)])
def test_jitter_applies_after_the_cap_so_capped_delays_still_spread(high, expected):
    # Given a random source stuck at one end of the range
    policy = RetryPolicy(rng=ExtremeRng(high))  # type: ignore[arg-type]
    # When a retry far past the cap is delayed
    # Then the delay is the cap moved by the whole jitter fraction
    assert policy.delay_for(20) == pytest.approx(expected)


def test_a_full_jitter_never_gives_a_negative_delay():
    policy = RetryPolicy(jitter=1.0, rng=ExtremeRng(high=False))  # type: ignore[arg-type]
    assert policy.delay_for(1) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backoff_base": -1}, "backoff_base must be a finite number of seconds >= 0, got -1"),
        ({"backoff_base": float("nan")}, "backoff_base .* got nan"),
        ({"backoff_max": 10.0}, r"backoff_max must be >= backoff_base \(120.0\), got 10.0"),
        ({"jitter": 1.5}, "jitter must be a fraction between 0 and 1, got 1.5"),
        ({"jitter": True}, "jitter .* got True"),
    ],
)
def test_policy_settings_are_validated(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize("bad", [0, -1, True, 1.0])
def test_retry_numbers_start_at_one(bad):
    with pytest.raises(ConfigError, match="retry_number must be an integer >= 1, got"):
        NO_JITTER.delay_for(bad)


# -- classification -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_requests_client_errors_are_permanent(status):
    assert not is_retryable_error(requests_http_error(status))


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_requests_too_many_requests_and_server_errors_are_retryable(status):
    assert is_retryable_error(requests_http_error(status))


def test_a_requests_http_error_is_classified_by_status_not_by_message():
    # Given a 404 whose message looks like a server error
    exc = requests_http_error(404, message="503 Service Unavailable, timeout")
    # Then the status decides: it is permanent
    assert not is_retryable_error(exc)


def test_requests_timeouts_and_connection_errors_are_retryable():
    requests = pytest.importorskip("requests")
    for exc in [
        requests.Timeout(),
        requests.ReadTimeout(),
        requests.ConnectTimeout(),
        requests.ConnectionError(),
    ]:
        assert is_retryable_error(exc), exc


def test_a_requests_http_error_without_a_response_is_retryable():
    requests = pytest.importorskip("requests")
    assert is_retryable_error(requests.HTTPError("no response attached"))


@pytest.mark.parametrize(
    ("status", "retryable"), [(404, False), (410, False), (429, True), (503, True)]
)
def test_urllib_http_errors_follow_the_same_status_rule(status, retryable):
    assert is_retryable_error(urllib_http_error(status)) is retryable


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError(),
        socket.timeout(),
        ConnectionError(),
        ConnectionRefusedError(),
        ConnectionResetError(),
        BrokenPipeError(),
        socket.gaierror(),
        urllib.error.URLError("unreachable"),
    ],
    ids=type,
)
def test_builtin_timeouts_and_network_errors_are_retryable(exc):
    assert is_retryable_error(exc)


@pytest.mark.parametrize("exc", [ValueError("404 Not Found"), KeyError("x"), RuntimeError()])
def test_unknown_errors_are_retryable_by_default_whatever_their_message(exc):
    assert is_retryable_error(exc)


def test_permanent_and_its_subclasses_are_never_retryable():
    class BadInput(Permanent):
        pass

    assert not is_retryable_error(Permanent("bad input"))
    assert not is_retryable_error(BadInput())


def test_the_module_imports_and_classifies_without_requests_installed():
    # Given an interpreter where `import requests` fails
    code = (
        "import sys; sys.modules['requests'] = None\n"
        "from queue_max.retry import is_retryable_error\n"
        "assert is_retryable_error(TimeoutError())\n"
        "assert 'requests.exceptions' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    # When the retry module is imported and used there
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    # Then it works
    assert done.returncode == 0, done.stderr


# -- Retry and Permanent ------------------------------------------------------------------------


def test_retry_carries_its_delay_and_message():
    exc = Retry(delay=30, message="rate limited upstream")
    assert (exc.delay, exc.message) == (30.0, "rate limited upstream")
    assert str(exc) == "rate limited upstream"
    assert Retry().delay is None


@pytest.mark.parametrize("bad", [-1, float("inf"), "10", True])
def test_retry_delay_must_be_finite_non_negative_seconds(bad):
    with pytest.raises(ConfigError, match="Retry delay must be .* got"):
        Retry(delay=bad)


# -- decide -------------------------------------------------------------------------------------


def test_a_retryable_failure_is_retried_with_the_backoff_for_that_attempt():
    # Given attempt 2 of 4 failed with a timeout
    decision = decide(TimeoutError(), attempts=2, max_attempts=4, policy=NO_JITTER)
    # Then it is retried after the second backoff step
    assert decision.retry
    assert decision.delay == 240.0
    assert "TimeoutError" in decision.reason


def test_the_first_failure_waits_the_base_backoff():
    assert decide(ValueError(), 1, 3, NO_JITTER).delay == 120.0


def test_no_retry_once_the_attempts_are_used_up():
    decision = decide(TimeoutError(), attempts=3, max_attempts=3, policy=NO_JITTER)
    assert decision == RetryDecision(False, 0.0, "attempts exhausted (3 of 3)")


def test_max_retries_zero_means_a_single_attempt():
    assert not decide(TimeoutError(), attempts=1, max_attempts=1, policy=NO_JITTER).retry


def test_a_permanent_error_is_not_retried_even_on_the_first_attempt():
    decision = decide(Permanent("invalid order"), attempts=1, max_attempts=5, policy=NO_JITTER)
    assert not decision.retry
    assert "Permanent" in decision.reason


def test_an_http_client_error_is_not_retried():
    decision = decide(requests_http_error(404), 1, 5, NO_JITTER)
    assert not decision.retry
    assert "HTTP 404" in decision.reason


def test_retry_on_restricts_retries_to_the_listed_types():
    # Given a task that retries only on timeouts
    retry_on = (TimeoutError,)
    # When it fails with a timeout, then with a ValueError
    on_timeout = decide(socket.timeout(), 1, 5, NO_JITTER, retry_on=retry_on)
    on_value_error = decide(ValueError(), 1, 5, NO_JITTER, retry_on=retry_on)
    # Then only the timeout is retried
    assert on_timeout.retry
    assert not on_value_error.retry
    assert "not in retry_on" in on_value_error.reason


def test_retry_on_does_not_make_a_permanent_http_error_retryable():
    requests = pytest.importorskip("requests")
    decision = decide(requests_http_error(403), 1, 5, NO_JITTER, retry_on=[requests.HTTPError])
    assert not decision.retry


def test_retry_on_accepts_a_single_type_or_a_list():
    assert decide(KeyError(), 1, 2, NO_JITTER, retry_on=KeyError).retry
    assert decide(KeyError(), 1, 2, NO_JITTER, retry_on=[LookupError]).retry


def test_retry_with_a_delay_is_honoured_even_outside_retry_on():
    decision = decide(Retry(delay=5.0), 1, 3, NO_JITTER, retry_on=(TimeoutError,))
    assert (decision.retry, decision.delay) == (True, 5.0)


def test_retry_without_a_delay_uses_the_backoff():
    assert decide(Retry(), 3, 5, NO_JITTER).delay == 480.0


def test_retry_is_still_bounded_by_the_attempt_limit():
    assert not decide(Retry(delay=1.0), 4, 4, NO_JITTER).retry


def test_decisions_are_frozen_values():
    decision = decide(TimeoutError(), 1, 2, NO_JITTER)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.retry = False  # type: ignore[misc]


@pytest.mark.parametrize(("attempts", "max_attempts"), [(0, 3), (1, 0), (True, 3), (1, 2.0)])
def test_decide_validates_the_attempt_counts(attempts, max_attempts):
    with pytest.raises(ConfigError, match="attempts must be an integer >= 1, got"):
        decide(ValueError(), attempts, max_attempts, NO_JITTER)


def test_decide_rejects_retry_on_entries_that_are_not_exception_types():
    with pytest.raises(ConfigError, match="retry_on must hold exception types, got 'TimeoutError'"):
        decide(ValueError(), 1, 3, NO_JITTER, retry_on=("TimeoutError",))  # type: ignore[arg-type]


# -- error_info ---------------------------------------------------------------------------------


def failing_step() -> None:
    raise ValueError("bad total: -3")


def test_error_info_gives_the_type_message_and_traceback():
    # Given an error raised by a task
    try:
        failing_step()
    except ValueError as exc:
        info = error_info(exc)
    # Then storage gets its type, its message and where it came from
    name, message, tb = info
    assert (name, message) == ("ValueError", "bad total: -3")
    assert "failing_step" in tb
    assert tb.rstrip().endswith("ValueError: bad total: -3")


def test_error_info_names_non_builtin_types_with_their_module():
    assert error_info(Permanent("no"))[0] == "queue_max.retry.Permanent"
