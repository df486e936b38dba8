"""The clock a Queue reads time from: `Queue(clock=FakeClock())` lets tests move time by hand."""

from ._clock import SYSTEM_CLOCK, Clock, FakeClock, SystemClock

__all__ = ["SYSTEM_CLOCK", "Clock", "FakeClock", "SystemClock"]
