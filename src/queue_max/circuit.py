"""The circuit breaker: stops calls to a failing downstream service and lets one trial probe it."""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from queue_max._clock import SYSTEM_CLOCK, Clock
from queue_max._validate import check_callable, check_count, check_seconds
from queue_max.errors import CircuitBreakerOpenError

__all__ = ["CircuitBreaker", "CircuitState"]

log = logging.getLogger("queue_max.circuit")

P = ParamSpec("P")
R = TypeVar("R")


class CircuitState(enum.Enum):
    """Where the breaker stands: passing calls, refusing them, or probing with one trial."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; probes again after `recovery_timeout`.

    CLOSED lets everything through. OPEN refuses everything until `recovery_timeout` seconds
    (read from `clock.monotonic()`) have passed; the next read of the state then finds it
    HALF_OPEN. HALF_OPEN lets exactly one trial through: the first `allow_request()` takes the
    trial slot and every other caller is refused until that trial is resolved by
    `record_success()` (closes), `record_failure()` (opens again, restarting the timeout) or
    handed back with `release_trial()` (the caller had no work to try).

    `on_state_change(old_state, new_state)` (as in queue-max 0.1.1) is called after every
    transition, outside the breaker's lock; an exception from it is logged and ignored.

    A failure recorded while already OPEN (a call that started before the breaker opened) is
    counted but does not restart the recovery timeout. A success recorded in any state closes
    the breaker: the service evidently answered.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 60.0,
        on_state_change: Callable[[CircuitState, CircuitState], Any] | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        check_callable("on_state_change", on_state_change)
        self._on_state_change = on_state_change
        self._changes: list[tuple[CircuitState, CircuitState]] = []
        check_count("failure_threshold", failure_threshold, 1)
        check_seconds("recovery_timeout", recovery_timeout)
        self._failure_threshold = failure_threshold
        self._recovery_timeout = float(recovery_timeout)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._set_fresh()

    def _set_fresh(self) -> None:
        self._move(CircuitState.CLOSED)
        self._failures = 0
        self._trial_taken = False
        self._opened_mono: float | None = None
        self._opened_wall: float | None = None
        self._total_successes = 0
        self._total_failures = 0
        self._times_opened = 0

    # -- configuration and state ---------------------------------------------------------------

    @property
    def failure_threshold(self) -> int:
        """Consecutive failures that open the breaker."""
        return self._failure_threshold

    @property
    def recovery_timeout(self) -> float:
        """Seconds the breaker stays open before it lets a trial through."""
        return self._recovery_timeout

    @property
    def state(self) -> CircuitState:
        """The current state; reading it moves OPEN to HALF_OPEN once the timeout has passed."""
        with self._guard():
            return self._current_state()

    @property
    def failures(self) -> int:
        """Consecutive failures since the last success."""
        with self._guard():
            return self._failures

    # -- asking ---------------------------------------------------------------------------------

    def is_allowed(self) -> bool:
        """Whether a request would pass now, without taking the half-open trial slot."""
        with self._guard():
            state = self._current_state()
            return state is CircuitState.CLOSED or (
                state is CircuitState.HALF_OPEN and not self._trial_taken
            )

    def allow_request(self) -> bool:
        """Let a request through: always when CLOSED; when HALF_OPEN, only the trial taker.

        A caller that got True in HALF_OPEN must resolve the trial with `record_success()`,
        `record_failure()` or `release_trial()`; until then every other caller gets False.
        """
        return self.take_slot() is not None

    def take_slot(self) -> CircuitState | None:
        """Like `allow_request`, but say how: CLOSED (pass), HALF_OPEN (this caller holds the
        single trial) or None (refused). Lets a caller release only a trial it really took."""
        if self._state is CircuitState.CLOSED:
            return CircuitState.CLOSED  # no lock: a stale read lets at most one more call through
        with self._guard():
            state = self._current_state()
            if state is CircuitState.CLOSED:
                return state
            if state is CircuitState.HALF_OPEN and not self._trial_taken:
                self._trial_taken = True
                return state
            return None

    def release_trial(self) -> None:
        """Hand back the half-open trial slot unused, so the next caller may take it."""
        with self._guard():
            if self._state is CircuitState.HALF_OPEN:
                self._trial_taken = False

    def get_retry_after(self) -> float:
        """Seconds until OPEN turns HALF_OPEN; 0.0 when not OPEN (even while a trial runs)."""
        with self._guard():
            self._current_state()
            return self._retry_after()

    def call(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `func(*args, **kwargs)` if the breaker allows it and record how it went.

        Raises `CircuitBreakerOpenError` (with `retry_after`) without calling `func` when
        refused. An `Exception` from `func` is recorded as a failure and re-raised; a
        `BaseException` such as `KeyboardInterrupt` says nothing about the service, so it only
        hands back the trial slot.
        """
        if not self.allow_request():
            with self._guard():
                state = self._current_state()
                retry_after = self._retry_after()
            if state is CircuitState.HALF_OPEN:
                detail = "a half-open trial is in progress"
            else:
                detail = f"retry in {retry_after:.3f}s"
            raise CircuitBreakerOpenError(
                f"circuit breaker is {state.value}; {detail}", retry_after=retry_after
            )
        try:
            result = func(*args, **kwargs)
        except Exception:
            self.record_failure()
            raise
        except BaseException:
            self.release_trial()
            raise
        self.record_success()
        return result

    # -- recording -------------------------------------------------------------------------------

    def record_success(self) -> None:
        """A call succeeded: forget the failures and close the breaker."""
        if self._state is CircuitState.CLOSED and not self._failures:
            # the common case changes no state; only the statistics counter moves
            self._total_successes += 1
            return
        with self._guard():
            self._total_successes += 1
            self._failures = 0
            self._move(CircuitState.CLOSED)
            self._trial_taken = False
            self._opened_mono = self._opened_wall = None

    def record_failure(self) -> None:
        """A call failed: count it; open at the threshold, or at once if this was the trial."""
        with self._guard():
            self._total_failures += 1
            self._failures += 1
            state = self._current_state()
            if state is CircuitState.HALF_OPEN or (
                state is CircuitState.CLOSED and self._failures >= self._failure_threshold
            ):
                self._open()

    def reset(self) -> None:
        """Close the breaker and zero every counter, as if newly created."""
        with self._guard():
            self._set_fresh()

    def get_stats(self) -> dict[str, Any]:
        """A snapshot; `opened_at` is wall-clock epoch seconds of the last opening, or None."""
        with self._guard():
            state = self._current_state()
            return {
                "state": state.value,
                "failures": self._failures,
                "failure_count": self._failures,  # queue-max 0.1.1's name
                "failure_threshold": self._failure_threshold,
                "recovery_timeout": self._recovery_timeout,
                "opened_at": self._opened_wall,
                "retry_after": self._retry_after(),
                "recovery_remaining": self._retry_after(),  # queue-max 0.1.1's name
                "trial_in_progress": state is CircuitState.HALF_OPEN and self._trial_taken,
                "total_successes": self._total_successes,
                "total_failures": self._total_failures,
                "times_opened": self._times_opened,
            }

    # -- internals (call with the lock held) -----------------------------------------------------

    def _current_state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._retry_after() <= 0.0:
            self._move(CircuitState.HALF_OPEN)
            self._trial_taken = False
        return self._state

    def _retry_after(self) -> float:
        if self._state is not CircuitState.OPEN or self._opened_mono is None:
            return 0.0
        elapsed = self._clock.monotonic() - self._opened_mono
        return max(0.0, self._recovery_timeout - elapsed)

    def _move(self, new: CircuitState) -> None:
        if new is not self._state:
            if self._on_state_change is not None:
                self._changes.append((self._state, new))
            self._state = new

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """The lock; `on_state_change` is called after it is released, so it may use the breaker."""
        with self._lock:
            yield
            changes, self._changes = self._changes, []
        for old, new in changes:
            try:
                self._on_state_change(old, new)  # type: ignore[misc]
            except Exception:
                log.exception("circuit breaker on_state_change(%s, %s) failed (ignored)", old.value, new.value)

    def _open(self) -> None:
        self._move(CircuitState.OPEN)
        self._trial_taken = False
        self._opened_mono = self._clock.monotonic()
        self._opened_wall = self._clock.time()
        self._times_opened += 1

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(failure_threshold={self._failure_threshold}, "
            f"recovery_timeout={self._recovery_timeout})"
        )
