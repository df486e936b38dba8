"""Cron expressions: a small parser and "next run after" for the five standard fields.

Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of week
(0-7 or SUN-SAT; 0 and 7 are Sunday). Each field is `*`, a value, a range `a-b`, a step
`*/n`, `a-b/n` or `a/n` (from a to the end), or a comma list of those. Aliases: @yearly,
@annually, @monthly, @weekly, @daily, @midnight, @hourly.

Day of month and day of week combine as in Vixie cron: when both are restricted (neither
starts with `*`), a day matches if EITHER matches; otherwise both must.

Times are evaluated in `tz` (UTC by default). Across a DST change, a wall time that does not
exist that day is skipped, and one that happens twice runs once (the first time).
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone, tzinfo

from ..errors import ConfigError

__all__ = ["ALIASES", "CronExpression"]

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_Spec = tuple[str, int, int, dict[str, int]]  # name, low, high, names
_FIELDS: tuple[_Spec, ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # the most each month can have
_SEARCH_YEARS = 9  # Feb 29 can be 8 years away (2096 -> 2104)
_MINUTE = timedelta(minutes=1)


class _FieldError(ConfigError):
    pass


def _value(text: str, field: _Spec) -> int:
    name, low, high, names = field
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        hint = f" or a name ({', '.join(n.upper() for n in names)})" if names else ""
        extra = " (L, W, # and ? are not supported)" if any(c in text for c in "LW#?") else ""
        raise _FieldError(f"{name} value {text!r} is not a number from {low} to {high}{hint}{extra}")
    value = int(text)
    if not low <= value <= high:
        raise _FieldError(f"{name} value {value} is out of range {low}-{high}")
    return value


def _part(text: str, field: _Spec) -> set[int]:
    name, low, high, _names = field
    base, slash, step_text = text.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or not 1 <= int(step_text) <= high:
            raise _FieldError(f"{name} step {step_text!r} must be a number from 1 to {high}")
        step = int(step_text)
    if base == "*":
        first, last = low, high
    elif "-" in base:
        a, _, b = base.partition("-")
        first, last = _value(a, field), _value(b, field)
        if first > last:
            raise _FieldError(f"{name} range {base!r} runs backwards; write it as a list instead")
    else:
        first = _value(base, field)
        last = high if slash else first
    return set(range(first, last + 1, step))


def _field(text: str, field: _Spec) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise _FieldError(f"{field[0]} field {text!r} has an empty list item")
        values |= _part(part, field)
    return frozenset(values)


class CronExpression:
    """A parsed 5-field cron expression; `next_after(epoch)` gives the next matching minute."""

    def __init__(self, expression: str, tz: tzinfo | None = None) -> None:
        if not isinstance(expression, str):
            raise ConfigError(f"cron expression must be a str like '*/5 * * * *', got {expression!r}")
        if tz is not None and not isinstance(tz, tzinfo):
            raise ConfigError(f"tz must be a datetime.tzinfo (e.g. zoneinfo.ZoneInfo('Europe/Paris')), got {tz!r}")
        self.expression = expression
        self.tz: tzinfo = tz or timezone.utc
        fields = self._split(expression)
        try:
            parsed = [_field(text, spec) for text, spec in zip(fields, _FIELDS)]
        except _FieldError as exc:
            raise ConfigError(f"cron expression {expression!r}: {exc}") from None
        self.minutes, self.hours, self.days, self.months, weekdays = parsed
        self.weekdays = frozenset(d % 7 for d in weekdays)
        self.dom_star, self.dow_star = fields[2].startswith("*"), fields[4].startswith("*")
        self._minute_list = sorted(self.minutes)
        self._check_possible()

    @staticmethod
    def _split(expression: str) -> list[str]:
        text = expression.strip()
        if text.startswith("@"):
            alias = ALIASES.get(text.lower())
            if alias is None:
                raise ConfigError(f"cron expression {expression!r}: unknown alias; allowed: "
                                  f"{', '.join(ALIASES)} (@reboot is not a schedule)")
            text = alias
        fields = text.split()
        if len(fields) != 5:
            hint = " (a seconds or year field is not supported)" if len(fields) in (6, 7) else ""
            raise ConfigError(f"cron expression {expression!r} must have 5 fields (minute hour "
                              f"day-of-month month day-of-week), got {len(fields)}{hint}")
        return fields

    def _check_possible(self) -> None:
        if self.dom_star or not self.dow_star:
            return  # every month has the days, or day-of-week (OR) supplies matches
        if not any(day <= _MONTH_DAYS[month - 1] for month in self.months for day in self.days):
            raise ConfigError(f"cron expression {self.expression!r} never matches: "
                              "no chosen month has the chosen day of month")

    def _day_ok(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.weekday() + 1) % 7 in self.weekdays
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def matches(self, when: datetime) -> bool:
        """Whether the minute of `when` (aware; a naive one is read in `tz`) matches."""
        t = when.astimezone(self.tz) if when.tzinfo is not None else when
        return (t.minute in self.minutes and t.hour in self.hours and t.month in self.months
                and self._day_ok(t))

    def _next_naive(self, t: datetime) -> datetime:
        """The first naive wall time >= `t` (whole minutes) whose fields match."""
        end = t.replace(year=t.year + _SEARCH_YEARS, month=1, day=1)
        while t < end:
            if t.month not in self.months:
                t = (t.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0)
            elif not self._day_ok(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            else:
                i = bisect.bisect_left(self._minute_list, t.minute)
                if i < len(self._minute_list):
                    return t.replace(minute=self._minute_list[i])
                t = t.replace(minute=0) + timedelta(hours=1)
        raise ConfigError(f"cron expression {self.expression!r} never matches within {_SEARCH_YEARS} years")

    def next_after(self, epoch: float) -> float:
        """The first matching minute strictly after `epoch`, as an epoch float."""
        start = datetime.fromtimestamp(epoch, self.tz).replace(tzinfo=None, second=0, microsecond=0)
        t = start + _MINUTE
        while True:
            t = self._next_naive(t)
            aware = t.replace(tzinfo=self.tz, fold=0)
            exists = aware.astimezone(timezone.utc).astimezone(self.tz).replace(tzinfo=None) == t
            stamp = aware.timestamp()
            if exists and stamp > epoch:
                return stamp
            t += _MINUTE  # a wall time skipped by DST, or the second pass of a repeated hour

    def next_datetime(self, after: datetime) -> datetime:
        """The first matching minute strictly after the aware datetime `after`, in `tz`."""
        if not isinstance(after, datetime) or after.tzinfo is None:
            raise ConfigError(f"after must be a timezone-aware datetime, got {after!r}")
        return datetime.fromtimestamp(self.next_after(after.timestamp()), self.tz)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronExpression):
            return NotImplemented
        key = ("minutes", "hours", "days", "months", "weekdays", "dom_star", "dow_star", "tz")
        return all(getattr(self, k) == getattr(other, k) for k in key)

    def __hash__(self) -> int:
        return hash((self.minutes, self.hours, self.days, self.months, self.weekdays))

    def __repr__(self) -> str:
        return f"CronExpression({self.expression!r}, tz={self.tz!r})"
