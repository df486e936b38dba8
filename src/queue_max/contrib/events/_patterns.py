"""Event patterns: what `QueueEventBus.on`/`expect` accept, and which queue events to bridge."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

from bubus import BaseEvent

from ...errors import ConfigError
from .models import EVENT_TYPES, QueueEvent, snake_name

__all__ = ["CAMEL_NAMES", "Matcher", "Pattern", "check_count", "resolve_pattern", "subscriptions"]

Pattern = type[BaseEvent[Any]] | str
Matcher = Callable[[BaseEvent[Any]], bool]
CAMEL_NAMES = {cls.__name__: name for name, cls in EVENT_TYPES.items()}


def resolve_pattern(pattern: object) -> tuple[str, Matcher | None]:
    """(the key bubus registers under, an extra filter or None) for an `on`/`expect` pattern.

    A pattern is an event class, an event name (`"JobCompleted"` or `"job_completed"`), `"*"`,
    or a glob (`"job_*"`, `"Job*"`) matched against both names of each event.
    """
    if isinstance(pattern, type) and issubclass(pattern, BaseEvent):
        return pattern.__name__, None
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"an event pattern is an event class or a name like 'job_completed' or "
                          f"'job_*', got {pattern!r:.80}")
    if pattern == "*":
        return "*", None
    if any(c in pattern for c in "*?["):
        def matches(event: BaseEvent[Any], glob: str = pattern) -> bool:
            kind = event.event_type
            return fnmatch.fnmatchcase(kind, glob) or fnmatch.fnmatchcase(snake_name(kind), glob)
        return "*", matches
    if pattern in EVENT_TYPES:
        return EVENT_TYPES[pattern].__name__, None
    if pattern.islower() or not pattern.isidentifier():
        raise ConfigError(f"unknown event {pattern!r}; the queue's events are {', '.join(EVENT_TYPES)} "
                          f"(or their class names: {', '.join(CAMEL_NAMES)}), '*', or a glob like 'job_*'")
    return pattern, None  # a class name: ours, or an event of your own dispatched on `bus`


def subscriptions(events: Iterable[str | type[QueueEvent]] | None) -> list[str]:
    """The queue event names to listen to: all of them for None, else the given names or classes."""
    if events is None:
        return list(EVENT_TYPES)
    if isinstance(events, (str, type)) or not isinstance(events, Iterable):
        raise ConfigError(f"events must be a list of event names or classes, got {events!r:.80}")
    by_class = {cls: name for name, cls in EVENT_TYPES.items()}
    names = []
    for item in events:
        name = by_class.get(item) if isinstance(item, type) else CAMEL_NAMES.get(item, item)
        if name not in EVENT_TYPES:
            raise ConfigError(f"events: {item!r:.60} is not one of the queue's events "
                              f"({', '.join(EVENT_TYPES)}, or their classes)")
        names.append(name)
    return list(dict.fromkeys(names))


def check_count(name: str, value: object, low: int) -> int:
    """`value` if it is an int >= `low`; else `ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an int >= {low}, got {value!r}")
    return value
