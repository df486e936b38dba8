"""Read-mostly views of one queue's host-wide breaker and bucket, shaped like 0.1.1's classes."""

from __future__ import annotations

from typing import Any

from .circuit import CircuitState
from ._flow_limits import breaker_scope
from .flow import FlowGate
from .models import BreakerView
from .storage.flowmath import refill

__all__ = ["SharedCircuitBreaker", "SharedRateLimiter"]


class SharedCircuitBreaker:
    """The circuit breaker of one named queue, as every process of the host sees it.

    It has the reading side of `CircuitBreaker` (`state`, `failures`, `get_stats()`,
    `get_retry_after()`) plus `record_success` / `record_failure` / `reset`, which write the
    shared state; claims consult the shared state, not this object."""

    def __init__(self, gate: FlowGate, queue_name: str = "default") -> None:
        self._gate = gate
        self.queue_name = queue_name
        self._scope = breaker_scope(queue_name)

    @property
    def failure_threshold(self) -> int:
        return self._gate.threshold

    @property
    def recovery_timeout(self) -> float:
        return self._gate.recovery_s

    def _view(self) -> BreakerView:
        found = self._gate.backend.flow_state(self._gate.clock.time()).breakers.get(self._scope)
        return found if found is not None else BreakerView("closed", 0, None, None)

    @property
    def state(self) -> CircuitState:
        view = self._view()
        if view.state == "open" and self._remaining(view) <= 0:
            return CircuitState.HALF_OPEN  # as 0.1.1 reads it: the next claim may be the trial
        return CircuitState(view.state)

    @property
    def failures(self) -> int:
        return self._view().failures

    def _remaining(self, view: BreakerView) -> float:
        if view.state != "open" or view.opened_at is None:
            return 0.0
        return max(0.0, view.opened_at + self._gate.recovery_s - self._gate.clock.time())

    def get_retry_after(self) -> float:
        return self._remaining(self._view())

    def record_success(self) -> None:
        self._gate.backend.breaker_record(self._scope, "success", self._gate.threshold, self._gate.clock.time())

    def record_failure(self) -> None:
        self._gate.backend.breaker_record(self._scope, "failure", self._gate.threshold, self._gate.clock.time())

    def reset(self) -> None:
        self.record_success()

    def get_stats(self) -> dict[str, Any]:
        view = self._view()
        return {"state": self.state.value, "failure_count": view.failures,
                "failure_threshold": self.failure_threshold, "recovery_timeout": self.recovery_timeout,
                "recovery_remaining": self._remaining(view), "queue_name": self.queue_name}

    def __repr__(self) -> str:
        return f"<SharedCircuitBreaker {self.queue_name!r}>"


class SharedRateLimiter:
    """The rate limit of one named queue, host-wide: tokens are taken by claims in storage."""

    def __init__(self, gate: FlowGate, queue_name: str = "default") -> None:
        self._gate = gate
        self.queue_name = queue_name

    @property
    def rate_limit(self) -> int:
        return self._gate.policy(self.queue_name).per_minute

    @property
    def burst_capacity(self) -> int:
        return self._gate.policy(self.queue_name).burst

    @property
    def capacity(self) -> float:
        """The bucket's size, as `RateLimiter.capacity`."""
        return float(self.burst_capacity)

    def get_remaining_tokens(self) -> float:
        policy = self._gate.policy(self.queue_name)
        now = self._gate.clock.time()
        found = self._gate.backend.flow_state(now).tokens.get(f"queue:{self.queue_name}")
        if found is None:
            return float(policy.burst)
        return refill(found[0], found[1], policy.per_minute / 60.0, policy.burst, now)

    def get_retry_after(self) -> float:
        missing = 1.0 - self.get_remaining_tokens()
        per_minute = self.rate_limit
        return 0.0 if missing <= 0 or not per_minute else missing * 60.0 / per_minute

    def get_stats(self) -> dict[str, Any]:
        return {"tokens_remaining": self.get_remaining_tokens(), "rate_limit": self.rate_limit,
                "burst_capacity": self.burst_capacity, "interval": 60.0, "unit": "per_minute",
                "queue_name": self.queue_name}

    def __repr__(self) -> str:
        return f"<SharedRateLimiter {self.queue_name!r} {self.rate_limit}/min>"
