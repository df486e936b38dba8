"""The circuit breaker: opening, recovery, the single half-open trial and validation."""

from __future__ import annotations

import threading

import pytest

import queue_max.circuit as circuit_module
from queue_max._clock import FakeClock
from queue_max.circuit import CircuitBreaker, CircuitState
from queue_max.errors import CircuitBreakerOpenError, ConfigError
from _helpers import run_threads


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def open_breaker(clock: FakeClock, threshold: int = 3, timeout: float = 60.0) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=threshold, recovery_timeout=timeout, clock=clock)
    for _ in range(threshold):
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    return breaker


def half_open_breaker(clock: FakeClock) -> CircuitBreaker:
    breaker = open_breaker(clock, timeout=60.0)
    clock.advance(60.0)
    return breaker


def test_public_api_is_sorted_and_complete():
    assert circuit_module.__all__ == sorted(circuit_module.__all__)
    assert all(hasattr(circuit_module, name) for name in circuit_module.__all__)


def test_state_values_are_the_reference_strings():
    assert [s.value for s in CircuitState] == ["closed", "open", "half_open"]


def test_a_new_breaker_is_closed_and_lets_requests_through(clock):
    breaker = CircuitBreaker(clock=clock)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.is_allowed()
    assert breaker.allow_request()
    assert breaker.allow_request()


def test_it_opens_at_the_threshold_of_consecutive_failures_and_not_before(clock):
    # Given a breaker with a threshold of 3
    breaker = CircuitBreaker(failure_threshold=3, clock=clock)
    # When 2 failures are recorded, then a third
    breaker.record_failure()
    breaker.record_failure()
    state_after_two = breaker.state
    breaker.record_failure()
    # Then it was still closed after 2 and is open after 3
    assert state_after_two is CircuitState.CLOSED
    assert breaker.state is CircuitState.OPEN
    assert not breaker.is_allowed()
    assert not breaker.allow_request()


def test_a_success_resets_the_consecutive_failure_count(clock):
    # Given 2 failures, a success, then 2 more failures, with a threshold of 3
    breaker = CircuitBreaker(failure_threshold=3, clock=clock)
    for outcome in ["fail", "fail", "ok", "fail", "fail"]:
        breaker.record_failure() if outcome == "fail" else breaker.record_success()
    # Then the failures were never 3 in a row, so it is closed
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failures == 2


def test_an_open_breaker_refuses_calls_without_running_them(clock):
    # Given a breaker that opened 15 s ago with a 60 s recovery timeout
    breaker = open_breaker(clock, timeout=60.0)
    clock.advance(15.0)
    calls = []
    # When a call is attempted
    with pytest.raises(CircuitBreakerOpenError) as caught:
        breaker.call(calls.append, "ran")
    # Then the function did not run, and the error says to come back in 45 s
    assert calls == []
    assert caught.value.retry_after == pytest.approx(45.0)
    assert breaker.get_retry_after() == pytest.approx(45.0)


def test_it_becomes_half_open_once_the_recovery_timeout_has_passed(clock):
    # Given an open breaker with a 60 s timeout
    breaker = open_breaker(clock, timeout=60.0)
    # When 59.9 s pass, then 0.1 s more
    clock.advance(59.9)
    before = breaker.state
    clock.advance(0.1)
    # Then it is open until the timeout, then half-open
    assert before is CircuitState.OPEN
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.get_retry_after() == 0.0


def test_half_open_lets_only_the_first_request_through(clock):
    # Given a half-open breaker
    breaker = half_open_breaker(clock)
    # When three requests arrive in turn
    answers = [breaker.allow_request() for _ in range(3)]
    # Then only the first one took the trial
    assert answers == [True, False, False]
    assert not breaker.is_allowed()


def test_is_allowed_does_not_take_the_trial_slot(clock):
    # Given a half-open breaker that has been asked twice with is_allowed
    breaker = half_open_breaker(clock)
    asked = [breaker.is_allowed(), breaker.is_allowed()]
    # When a request then asks for the trial
    taken = breaker.allow_request()
    # Then is_allowed said yes both times and the trial was still free
    assert asked == [True, True]
    assert taken


def test_exactly_one_of_many_concurrent_requests_gets_the_trial(clock):
    # Given a half-open breaker and 16 threads released at the same instant
    breaker = half_open_breaker(clock)
    start, answers, lock = threading.Barrier(16), [], threading.Lock()

    def ask() -> None:
        start.wait()
        answer = breaker.allow_request()
        with lock:
            answers.append(answer)

    # When they all ask for the trial together
    run_threads(16, ask)
    # Then exactly one of them got it
    assert sorted(answers) == [False] * 15 + [True]


def test_a_successful_trial_closes_the_breaker(clock):
    # Given a half-open breaker whose trial was taken
    breaker = half_open_breaker(clock)
    assert breaker.allow_request()
    # When the trial succeeds
    breaker.record_success()
    # Then it is closed and lets everyone through
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failures == 0
    assert [breaker.allow_request() for _ in range(3)] == [True, True, True]


def test_a_failed_trial_reopens_the_breaker_for_a_full_timeout(clock):
    # Given a half-open breaker whose trial was taken
    breaker = half_open_breaker(clock)
    assert breaker.allow_request()
    # When the trial fails
    breaker.record_failure()
    # Then it is open again for the whole recovery timeout
    assert breaker.state is CircuitState.OPEN
    assert breaker.get_retry_after() == pytest.approx(60.0)
    assert breaker.get_stats()["times_opened"] == 2
    clock.advance(60.0)
    assert breaker.allow_request()


def test_a_released_trial_can_be_taken_by_the_next_caller(clock):
    # Given a half-open breaker whose trial taker found no work to do
    breaker = half_open_breaker(clock)
    assert breaker.allow_request()
    assert not breaker.allow_request()
    # When the trial is released
    breaker.release_trial()
    # Then the next caller gets the trial, and only that one
    assert [breaker.allow_request(), breaker.allow_request()] == [True, False]
    assert breaker.state is CircuitState.HALF_OPEN


def test_release_trial_outside_half_open_changes_nothing(clock):
    breaker = open_breaker(clock)
    breaker.release_trial()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow_request()


def test_a_failure_while_open_does_not_postpone_recovery(clock):
    # Given a breaker that opened 50 s ago with a 60 s timeout
    breaker = open_breaker(clock, timeout=60.0)
    clock.advance(50.0)
    # When a call that started earlier reports a failure now
    breaker.record_failure()
    # Then the breaker still recovers 60 s after it opened
    clock.advance(10.0)
    assert breaker.state is CircuitState.HALF_OPEN


def test_call_returns_the_result_and_records_success(clock):
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    breaker.record_failure()
    # A keyword named `func` reaches the wrapped function, not `call`
    result = breaker.call(lambda a, *, func: (a, func), 1, func="f")
    assert result == (1, "f")
    assert breaker.failures == 0
    assert breaker.get_stats()["total_successes"] == 1


def test_call_records_a_failure_and_reraises_the_error(clock):
    # Given a breaker with a threshold of 2
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)

    def boom() -> None:
        raise TimeoutError("downstream timed out")

    # When the wrapped function fails twice
    for _ in range(2):
        with pytest.raises(TimeoutError):
            breaker.call(boom)
    # Then the errors reached the caller and the breaker opened
    assert breaker.state is CircuitState.OPEN


def test_an_interrupted_trial_is_released_rather_than_counted_as_a_failure(clock):
    # Given a half-open breaker
    breaker = half_open_breaker(clock)
    failures_before = breaker.get_stats()["total_failures"]

    def interrupted() -> None:
        raise KeyboardInterrupt

    # When the trial call is interrupted
    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)
    # Then the breaker stays half-open with the trial free again
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.get_stats()["total_failures"] == failures_before
    assert breaker.allow_request()


def test_call_is_refused_while_another_trial_is_in_progress(clock):
    breaker = half_open_breaker(clock)
    assert breaker.allow_request()
    with pytest.raises(CircuitBreakerOpenError, match="half_open; a half-open trial"):
        breaker.call(lambda: None)


def test_stats_report_state_counters_and_when_it_opened(clock):
    # Given a breaker that opened 20 s ago after 3 failures and one earlier success
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=60.0, clock=clock)
    breaker.record_success()
    opened_at = clock.time()
    for _ in range(3):
        breaker.record_failure()
    clock.advance(20.0)
    # Then the stats say so
    assert breaker.get_stats() == {
        "state": "open",
        "failures": 3,
        "failure_count": 3,
        "failure_threshold": 3,
        "recovery_timeout": 60.0,
        "opened_at": opened_at,
        "retry_after": pytest.approx(40.0),
        "recovery_remaining": pytest.approx(40.0),
        "trial_in_progress": False,
        "total_successes": 1,
        "total_failures": 3,
        "times_opened": 1,
    }


def test_reset_closes_the_breaker_and_zeroes_its_counters(clock):
    breaker = open_breaker(clock)
    breaker.reset()
    stats = breaker.get_stats()
    assert stats["state"] == "closed"
    assert (stats["failures"], stats["total_failures"], stats["times_opened"]) == (0, 0, 0)
    assert stats["opened_at"] is None
    assert breaker.allow_request()


def test_a_zero_recovery_timeout_lets_a_trial_through_right_after_opening(clock):
    # Given a breaker with no recovery timeout
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=0, clock=clock)
    # When it opens
    breaker.record_failure()
    # Then it is already half-open, and has opened once
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.get_stats()["times_opened"] == 1


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "5", None])
def test_failure_threshold_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match="failure_threshold must be an integer >= 1, got"):
        CircuitBreaker(failure_threshold=bad)


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf"), True, "60", None])
def test_recovery_timeout_must_be_finite_seconds(bad):
    with pytest.raises(ConfigError, match=r"recovery_timeout must be a finite number .* got"):
        CircuitBreaker(recovery_timeout=bad)


def test_state_changes_are_reported_to_on_state_change_as_in_0_1_1(clock):
    from queue_max import CircuitState

    # Given a breaker built with the 0.1.1 positional arguments and a state-change callback
    seen = []
    breaker = CircuitBreaker(2, 30.0, lambda old, new: seen.append((old, new)), clock=clock)
    # When it opens, turns half-open, and closes after a good trial
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(30.0)
    assert breaker.allow_request()
    breaker.record_success()
    # Then every transition was reported once, in order
    assert seen == [(CircuitState.CLOSED, CircuitState.OPEN), (CircuitState.OPEN, CircuitState.HALF_OPEN),
                    (CircuitState.HALF_OPEN, CircuitState.CLOSED)]


def test_a_state_change_callback_that_is_not_callable_is_refused():
    with pytest.raises(ValueError, match="on_state_change must be a callable or None, got int 3"):
        CircuitBreaker(5, 60.0, 3)  # type: ignore[arg-type]
