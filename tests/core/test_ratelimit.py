"""The token-bucket rate limiter: refill, bursts, batches, refunds, blocking and validation."""

from __future__ import annotations

import threading
import time

import pytest

import queue_max.ratelimit as ratelimit_module
from queue_max._clock import FakeClock
from queue_max.errors import ConfigError, RateLimitError
from queue_max.ratelimit import RateLimiter, RateLimitUnit
from _helpers import run_threads


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def drain(limiter: RateLimiter) -> int:
    return limiter.try_acquire_many(10**9)


def test_public_api_is_sorted_and_complete():
    assert ratelimit_module.__all__ == sorted(ratelimit_module.__all__)
    assert all(hasattr(ratelimit_module, name) for name in ratelimit_module.__all__)


def test_each_unit_is_worth_its_length_in_seconds():
    assert RateLimitUnit.PER_SECOND.value == 1
    assert RateLimitUnit.PER_MINUTE.value == 60
    assert RateLimitUnit.PER_HOUR.value == 3600


def test_a_new_bucket_is_full_and_then_refuses(clock):
    # Given a limiter of 10 per second
    limiter = RateLimiter(10, RateLimitUnit.PER_SECOND, clock=clock)
    # When 11 tokens are asked for at the same instant
    results = [limiter.try_acquire() for _ in range(11)]
    # Then the first 10 pass and the 11th is refused
    assert results == [True] * 10 + [False]


def test_the_default_unit_is_per_minute(clock):
    # Given a limiter of 60 with no unit, drained
    limiter = RateLimiter(60, clock=clock)
    drain(limiter)
    # When one second passes
    clock.advance(1.0)
    # Then exactly one token has come back
    assert limiter.get_remaining_tokens() == pytest.approx(1.0)
    assert limiter.get_stats()["unit"] == "per_minute"


def test_tokens_come_back_at_the_configured_rate(clock):
    # Given a drained limiter of 120 per minute (2 per second)
    limiter = RateLimiter(120, RateLimitUnit.PER_MINUTE, clock=clock)
    drain(limiter)
    assert not limiter.try_acquire()
    # When a quarter second passes, then another quarter
    clock.advance(0.25)
    half_token = limiter.get_remaining_tokens()
    clock.advance(0.25)
    # Then half a token, then a whole one is available
    assert half_token == pytest.approx(0.5)
    assert limiter.try_acquire()
    assert not limiter.try_acquire()


def test_the_bucket_never_fills_past_its_capacity(clock):
    # Given a drained limiter of 5 per second
    limiter = RateLimiter(5, RateLimitUnit.PER_SECOND, clock=clock)
    drain(limiter)
    # When an hour passes
    clock.advance(3600)
    # Then only 5 tokens are available
    assert limiter.get_remaining_tokens() == 5.0
    assert drain(limiter) == 5


def test_burst_sets_the_capacity_apart_from_the_rate(clock):
    # Given 100 per hour with a burst of 3
    limiter = RateLimiter(100, RateLimitUnit.PER_HOUR, burst=3, clock=clock)
    # When the bucket is drained right away
    granted = drain(limiter)
    # Then only the burst is granted, and the refill still runs at 100 per hour
    assert granted == 3
    assert limiter.get_retry_after() == pytest.approx(36.0)


def test_retry_after_is_zero_with_a_token_and_counts_down_without(clock):
    # Given a drained limiter of 1 per second
    limiter = RateLimiter(1, RateLimitUnit.PER_SECOND, clock=clock)
    assert limiter.get_retry_after() == 0.0
    drain(limiter)
    # When 0.4 s passes
    clock.advance(0.4)
    # Then the next token is 0.6 s away
    assert limiter.get_retry_after() == pytest.approx(0.6)


def test_try_acquire_many_grants_only_what_is_available(clock):
    # Given a full bucket of 10
    limiter = RateLimiter(10, RateLimitUnit.PER_SECOND, clock=clock)
    # When workers ask for 4, then 10, then 5 slots
    grants = [limiter.try_acquire_many(n) for n in (4, 10, 5)]
    # Then they get 4, the 6 left, then nothing; only the empty grant counts as a rejection
    assert grants == [4, 6, 0]
    stats = limiter.get_stats()
    assert (stats["acquired"], stats["rejected"]) == (10, 1)


def test_asking_for_zero_tokens_is_neither_granted_nor_rejected(clock):
    limiter = RateLimiter(1, RateLimitUnit.PER_SECOND, clock=clock)
    drain(limiter)
    assert limiter.try_acquire_many(0) == 0
    assert limiter.get_stats()["rejected"] == 0


def test_refund_gives_tokens_back_but_never_above_capacity(clock):
    # Given a bucket of 10 from which 3 tokens were taken for jobs that never came
    limiter = RateLimiter(10, RateLimitUnit.PER_SECOND, clock=clock)
    limiter.try_acquire_many(3)
    # When 3 are refunded, then 5 more
    limiter.refund(3)
    full_after_refund = limiter.get_remaining_tokens()
    limiter.refund(5)
    # Then the bucket is full, and stays at its capacity
    assert full_after_refund == 10.0
    assert limiter.get_remaining_tokens() == 10.0
    assert limiter.get_stats()["refunded"] == 8


def test_update_rate_limit_changes_the_refill_speed_from_now_on(clock):
    # Given a drained limiter of 60 per minute and half a second of refill earned
    limiter = RateLimiter(60, RateLimitUnit.PER_MINUTE, burst=100, clock=clock)
    drain(limiter)
    clock.advance(0.5)
    # When the rate becomes 600 per minute and another 0.5 s passes
    limiter.update_rate_limit(600)
    clock.advance(0.5)
    # Then the old half token is kept and 5 more were earned at the new rate
    assert limiter.get_remaining_tokens() == pytest.approx(5.5)
    assert limiter.rate_limit == 600
    assert limiter.capacity == 100.0


def test_without_burst_the_capacity_follows_an_updated_rate(clock):
    # Given a full limiter of 10 per second with no explicit burst
    limiter = RateLimiter(10, RateLimitUnit.PER_SECOND, clock=clock)
    # When the rate drops to 4
    limiter.update_rate_limit(4)
    # Then the capacity is 4 and the surplus tokens are gone
    assert limiter.capacity == 4.0
    assert limiter.get_remaining_tokens() == 4.0


def test_reset_refills_the_bucket_and_zeroes_the_counters(clock):
    # Given a limiter that has granted, refused and been refunded tokens
    limiter = RateLimiter(2, RateLimitUnit.PER_SECOND, clock=clock)
    drain(limiter)
    limiter.try_acquire()
    limiter.refund(1)
    # When it is reset
    limiter.reset()
    # Then it is full and its counters read zero
    stats = limiter.get_stats()
    assert stats["tokens_available"] == 2.0
    assert (stats["acquired"], stats["rejected"], stats["refunded"]) == (0, 0, 0)


def test_stats_describe_configuration_and_state(clock):
    limiter = RateLimiter(30, RateLimitUnit.PER_SECOND, burst=5, clock=clock)
    limiter.try_acquire_many(2)
    assert limiter.get_stats() == {
        "rate_limit": 30,
        "unit": "per_second",
        "interval": 1.0,
        "capacity": 5.0,
        "burst_capacity": 5,
        "tokens_remaining": 3.0,
        "refill_per_second": 30.0,
        "tokens_available": 3.0,
        "retry_after": 0.0,
        "acquired": 2,
        "rejected": 0,
        "refunded": 0,
    }


def test_acquire_takes_a_token_at_once_when_one_is_available(clock):
    limiter = RateLimiter(1, RateLimitUnit.PER_HOUR, clock=clock)
    assert limiter.acquire(timeout=0) is True
    assert limiter.get_remaining_tokens() == 0.0


def test_acquire_with_zero_timeout_raises_with_the_retry_after(clock):
    # Given a drained limiter of 6 per minute (one token every 10 s), 4 s into the wait
    limiter = RateLimiter(6, RateLimitUnit.PER_MINUTE, clock=clock)
    drain(limiter)
    clock.advance(4.0)
    # When a token is demanded without waiting
    with pytest.raises(RateLimitError) as caught:
        limiter.acquire(timeout=0)
    # Then the error says when to come back, and the refusal is counted
    assert caught.value.retry_after == pytest.approx(6.0)
    assert limiter.get_stats()["rejected"] == 1


def test_acquire_on_a_fake_clock_gives_up_after_its_real_timeout(clock):
    # Given a drained limiter on a clock that never moves
    limiter = RateLimiter(1, RateLimitUnit.PER_HOUR, clock=clock)
    drain(limiter)
    started = time.monotonic()
    # When a token is awaited for 0.05 s
    with pytest.raises(RateLimitError):
        limiter.acquire(timeout=0.05)
    # Then it did not hang waiting for fake time to pass
    assert time.monotonic() - started < 2.0


def test_acquire_waits_for_the_next_token_on_the_system_clock():
    # Given a drained limiter of 50 per second (a token every 20 ms) on the real clock
    limiter = RateLimiter(50, RateLimitUnit.PER_SECOND, burst=1)
    drain(limiter)
    started = time.monotonic()
    # When a token is awaited
    limiter.acquire(timeout=2.0)
    # Then it came once the refill produced it
    assert time.monotonic() - started >= 0.015


def run_blocked_acquire(limiter: RateLimiter, timeout: float) -> tuple[threading.Thread, list]:
    outcome: list = []

    def target() -> None:
        try:
            outcome.append(limiter.acquire(timeout=timeout))
        except RateLimitError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    time.sleep(0.05)  # only lets the thread reach its wait; the assertions do not depend on it
    return thread, outcome


@pytest.mark.parametrize("give_back", ["refund", "reset"])
def test_a_waiting_acquire_wakes_as_soon_as_tokens_are_given_back(clock, give_back):
    # Given a thread waiting for a token that would take an hour to refill
    limiter = RateLimiter(1, RateLimitUnit.PER_HOUR, clock=clock)
    drain(limiter)
    started = time.monotonic()
    thread, outcome = run_blocked_acquire(limiter, timeout=30.0)
    # When a token is given back
    getattr(limiter, give_back)()
    thread.join(timeout=5.0)
    # Then the waiter got it at once, long before its timeout
    assert outcome == [True]
    assert time.monotonic() - started < 5.0


def test_a_waiting_acquire_wakes_when_the_rate_is_raised():
    # Given a thread waiting on the real clock for a token due in an hour
    limiter = RateLimiter(1, RateLimitUnit.PER_HOUR)
    drain(limiter)
    started = time.monotonic()
    thread, outcome = run_blocked_acquire(limiter, timeout=30.0)
    # When the rate is raised to 100 per second
    limiter.update_rate_limit(360_000)
    thread.join(timeout=5.0)
    # Then the waiter recomputes its wait and gets the token almost at once
    assert outcome == [True]
    assert time.monotonic() - started < 5.0


def test_concurrent_takers_never_get_more_tokens_than_the_bucket_holds(clock):
    # Given a bucket of 100 on a still clock and 8 threads released at once
    limiter = RateLimiter(100, RateLimitUnit.PER_SECOND, clock=clock)
    start, granted, lock = threading.Barrier(8), [], threading.Lock()

    def take() -> None:
        start.wait()
        mine = sum(limiter.try_acquire() for _ in range(50))
        with lock:
            granted.append(mine)

    # When each tries to take 50 tokens
    run_threads(8, take)
    # Then exactly 100 were handed out in total
    assert sum(granted) == 100


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10", None])
def test_rate_limit_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match="rate_limit must be an integer >= 1, got " + repr(bad)):
        RateLimiter(bad)


@pytest.mark.parametrize("bad", [0, -3, False, 2.0])
def test_burst_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match="burst must be an integer >= 1"):
        RateLimiter(10, burst=bad)


def test_unit_must_be_a_rate_limit_unit():
    with pytest.raises(ConfigError, match="unit must be one of .*PER_SECOND.*got 'minute'"):
        RateLimiter(10, "minute")  # type: ignore[arg-type]


def test_bad_call_arguments_are_refused_with_the_value_named(clock):
    limiter = RateLimiter(10, clock=clock)
    with pytest.raises(ConfigError, match="got -1"):
        limiter.try_acquire_many(-1)
    with pytest.raises(ConfigError, match="got -2"):
        limiter.refund(-2)
    with pytest.raises(ConfigError, match="timeout .* got -0.5"):
        limiter.acquire(timeout=-0.5)
    with pytest.raises(ConfigError, match="rate_limit .* got 0"):
        limiter.update_rate_limit(0)
    assert limiter.rate_limit == 10


def test_the_0_1_1_constructor_and_stats_keys_work(clock):
    # Given a limiter built as in queue-max 0.1.1, positionally, with every default
    assert RateLimiter().rate_limit == 160
    limiter = RateLimiter(60, RateLimitUnit.PER_MINUTE, 10, False, clock=clock)
    limiter.try_acquire_many(4)
    # Then its stats carry the 0.1.1 keys beside ours
    stats = limiter.get_stats()
    assert (stats["burst_capacity"], stats["tokens_remaining"], stats["rate_limit"]) == (10, 6.0, 60)
    assert stats["interval"] == 60.0 and stats["unit"] == "per_minute"


def test_burst_capacity_and_burst_cannot_disagree():
    with pytest.raises(ValueError, match=r"burst_capacity \(5\) and burst \(6\) name the same setting"):
        RateLimiter(10, RateLimitUnit.PER_SECOND, 5, burst=6)
