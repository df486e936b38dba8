"""The rate limiter: a thread-safe token bucket that paces calls to a downstream service."""

from __future__ import annotations

import enum
import math
import random
import threading
import time
from typing import Any

from queue_max._clock import SYSTEM_CLOCK, Clock
from queue_max._validate import check_count
from queue_max.errors import ConfigError, RateLimitError

__all__ = ["RateLimitUnit", "RateLimiter"]

# Refill arithmetic in floats can leave 0.9999999999 where 1 token is due.
_EPSILON = 1e-9


class RateLimitUnit(enum.Enum):
    """The period a rate limit is counted over; the value is its length in seconds."""

    PER_SECOND = 1
    PER_MINUTE = 60
    PER_HOUR = 3600


class RateLimiter:
    """A token bucket holding up to `burst` tokens, refilled at `rate_limit` tokens per `unit`.

    The bucket starts full. Every time is read through `clock.monotonic()`, so a `FakeClock`
    drives refills in tests. Blocking `acquire` *waits* in real time (a `Condition` wait of the
    computed retry-after, bounded by the real-time `timeout`), so with a `FakeClock` it cannot
    hang: it gives up when `timeout` real seconds pass, and it wakes early when `refund`,
    `update_rate_limit` or `reset` adds tokens. Waiters are not served in FIFO order.

    The 0.1.1 signature works too: `RateLimiter(rate_limit=160, unit=RateLimitUnit.PER_MINUTE,
    burst_capacity=None, enable_jitter=True)`; `burst_capacity` is `burst`, and `enable_jitter`
    stretches each wait for a token by up to 10 % so that waiting threads do not wake together.
    """

    def __init__(
        self,
        rate_limit: int = 160,
        unit: RateLimitUnit = RateLimitUnit.PER_MINUTE,
        burst_capacity: int | None = None,
        enable_jitter: bool = True,
        *,
        burst: int | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        check_count("rate_limit", rate_limit, 1)
        if burst_capacity is not None:  # queue-max 0.1.1's name for `burst`
            if burst is not None and burst != burst_capacity:
                raise ConfigError(f"burst_capacity ({burst_capacity!r}) and burst ({burst!r}) name the "
                                  "same setting; give one")
            burst = burst_capacity
        if not isinstance(enable_jitter, bool):
            raise ConfigError(f"enable_jitter must be True or False, got {enable_jitter!r}")
        self._jitter = enable_jitter
        if not isinstance(unit, RateLimitUnit):
            allowed = ", ".join(f"RateLimitUnit.{u.name}" for u in RateLimitUnit)
            raise ConfigError(f"unit must be one of {allowed}, got {unit!r}")
        if burst is not None:
            check_count("burst", burst, 1)
        self._clock = clock
        self._unit = unit
        self._burst = burst
        self._rate_limit = rate_limit
        self._capacity = float(burst if burst is not None else rate_limit)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._tokens = self._capacity
        self._last_refill = clock.monotonic()
        self._acquired = 0
        self._rejected = 0
        self._refunded = 0

    # -- read-only configuration ---------------------------------------------------------------

    @property
    def rate_limit(self) -> int:
        """Tokens added per `unit`."""
        with self._cond:
            return self._rate_limit

    @property
    def unit(self) -> RateLimitUnit:
        """The period `rate_limit` is counted over."""
        return self._unit

    @property
    def capacity(self) -> float:
        """The most tokens the bucket holds (the burst size)."""
        with self._cond:
            return self._capacity

    # -- taking tokens -------------------------------------------------------------------------

    def acquire(self, timeout: float | None = 5.0) -> bool:
        """Take one token, waiting up to `timeout` real seconds for it; always returns True.

        `timeout=0` tries once; `None` waits without limit. Raises `RateLimitError` (with
        `retry_after`) when no token came in time.
        """
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
                timeout >= 0 and math.isfinite(timeout)
            ):
                raise ConfigError(
                    f"timeout must be a finite number of seconds >= 0 or None, got {timeout!r}"
                )
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._refill()
                if self._tokens >= 1.0 - _EPSILON:
                    self._take(1)
                    return True
                wait = self._retry_after()
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._rejected += 1
                        raise RateLimitError(
                            f"no rate-limit token within {timeout!r}s "
                            f"(limit {self._rate_limit} {self._unit.name.lower()}); "
                            f"next token in {wait:.3f}s",
                            retry_after=wait,
                        )
                    wait = min(wait, remaining)
                # a little jitter keeps waiting threads from waking in one herd
                self._cond.wait(wait * (1.0 + 0.1 * random.random()) if self._jitter else wait)

    def try_acquire(self) -> bool:
        """Take one token if one is available now; never waits."""
        return self.try_acquire_many(1) == 1

    def try_acquire_many(self, n: int) -> int:
        """Take up to `n` tokens that are available now and return how many were taken (0..n)."""
        if type(n) is not int or n < 0:
            check_count("n", n, 0)
        with self._lock:
            self._refill()
            granted = min(n, int(self._tokens + _EPSILON))
            if granted:
                self._take(granted)
            elif n:
                self._rejected += 1
            return granted

    def refund(self, n: int = 1) -> None:
        """Give back `n` tokens taken for work that did not happen; the bucket never overfills."""
        check_count("n", n, 0)
        if n == 0:
            return
        with self._cond:
            self._refill()
            self._tokens = min(self._capacity, self._tokens + n)
            self._refunded += n
            self._cond.notify_all()

    # -- inspection ----------------------------------------------------------------------------

    def get_remaining_tokens(self) -> float:
        """Tokens in the bucket now (fractional while refilling)."""
        with self._cond:
            self._refill()
            return self._tokens

    def get_retry_after(self) -> float:
        """Seconds until a whole token is available; 0.0 when one is available now."""
        with self._cond:
            self._refill()
            return self._retry_after()

    def get_stats(self) -> dict[str, Any]:
        """A snapshot: configuration, tokens now and counters since creation or `reset()`.

        `acquired` counts tokens handed out, `refunded` tokens given back, and `rejected` the
        calls that got no token at all (a partial `try_acquire_many` grant is not a rejection).
        """
        with self._cond:
            self._refill()
            return {
                "rate_limit": self._rate_limit,
                "unit": self._unit.name.lower(),
                "interval": float(self._unit.value),  # seconds the rate is counted over
                "capacity": self._capacity,
                "burst_capacity": int(self._capacity),  # queue-max 0.1.1's name
                "tokens_remaining": self._tokens,  # queue-max 0.1.1's name
                "refill_per_second": self._rate_per_second(),
                "tokens_available": self._tokens,
                "retry_after": self._retry_after(),
                "acquired": self._acquired,
                "rejected": self._rejected,
                "refunded": self._refunded,
            }

    # -- changing ------------------------------------------------------------------------------

    def update_rate_limit(self, rate_limit: int) -> None:
        """Refill at `rate_limit` per unit from now on.

        Tokens already earned at the old rate are kept. When no `burst` was given the capacity
        follows the new rate, and a smaller capacity trims the tokens held.
        """
        check_count("rate_limit", rate_limit, 1)
        with self._cond:
            self._refill()
            self._rate_limit = rate_limit
            if self._burst is None:
                self._capacity = float(rate_limit)
                self._tokens = min(self._tokens, self._capacity)
            self._cond.notify_all()

    def reset(self) -> None:
        """Refill the bucket to capacity and zero the counters."""
        with self._cond:
            self._tokens = self._capacity
            self._last_refill = self._clock.monotonic()
            self._acquired = self._rejected = self._refunded = 0
            self._cond.notify_all()

    # -- internals (call with the lock held) ---------------------------------------------------

    def _rate_per_second(self) -> float:
        return self._rate_limit / self._unit.value

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._last_refill)
        self._last_refill = now
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate_per_second())

    def _retry_after(self) -> float:
        missing = 1.0 - self._tokens
        if missing <= _EPSILON:
            return 0.0
        return missing / self._rate_per_second()

    def _take(self, n: int) -> None:
        self._tokens = max(0.0, self._tokens - n)
        self._acquired += n

    def __repr__(self) -> str:
        return (
            f"RateLimiter(rate_limit={self._rate_limit}, unit=RateLimitUnit.{self._unit.name}, "
            f"burst={self._burst!r})"
        )
