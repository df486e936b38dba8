"""The cron parser: fields, ranges, steps, lists, names, aliases, day OR semantics, DST."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from queue_max import ConfigError
from queue_max.tasks import CronExpression

UTC = timezone.utc


def nxt(expr: str, after: str, tz=None) -> str:
    """The next run after an ISO time, as an ISO time in the expression's zone."""
    start = datetime.fromisoformat(after)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return CronExpression(expr, tz).next_datetime(start).isoformat()


@pytest.mark.parametrize(("expr", "after", "expected"), [
    ("*/5 * * * *", "2024-05-01T12:03:00", "2024-05-01T12:05:00+00:00"),
    ("*/5 * * * *", "2024-05-01T12:05:00", "2024-05-01T12:10:00+00:00"),  # strictly after
    ("*/5 * * * *", "2024-05-01T12:04:59.999", "2024-05-01T12:05:00+00:00"),
    ("* * * * *", "2024-05-01T23:59:30", "2024-05-02T00:00:00+00:00"),
    ("1,15,30 * * * *", "2024-05-01T12:16:00", "2024-05-01T12:30:00+00:00"),
    ("10-30/10 * * * *", "2024-05-01T12:30:00", "2024-05-01T13:10:00+00:00"),
    ("5/15 * * * *", "2024-05-01T12:36:00", "2024-05-01T12:50:00+00:00"),
    ("0 9-17/4 * * *", "2024-05-01T13:00:00", "2024-05-01T17:00:00+00:00"),
    ("0 0 1 * *", "2024-01-31T10:00:00", "2024-02-01T00:00:00+00:00"),
    ("59 23 31 12 *", "2024-12-31T23:59:00", "2025-12-31T23:59:00+00:00"),
    ("0 0 31 * *", "2024-04-01T00:00:00", "2024-05-31T00:00:00+00:00"),  # April has no 31st
    ("0 0 29 2 *", "2025-03-01T00:00:00", "2028-02-29T00:00:00+00:00"),
    ("0 0 29 2 *", "2096-03-01T00:00:00", "2104-02-29T00:00:00+00:00"),  # 2100 is not a leap year
    ("0 12 * * MON-FRI", "2024-05-03T12:00:00", "2024-05-06T12:00:00+00:00"),  # Fri -> Mon
    ("0 0 * * 5-7", "2024-05-05T00:00:00", "2024-05-10T00:00:00+00:00"),  # Sun -> Fri
    ("0 0 * JAN-MAR,dec *", "2024-04-15T00:00:00", "2024-12-01T00:00:00+00:00"),
])
def test_next_run(expr, after, expected):
    assert nxt(expr, after) == expected


@pytest.mark.parametrize(("alias", "fields"), [
    ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"), ("@HOURLY", "0 * * * *"),
])
def test_aliases_mean_their_five_fields(alias, fields):
    assert CronExpression(alias) == CronExpression(fields)


def test_sunday_is_0_or_7_or_sun_and_names_ignore_case():
    assert CronExpression("0 0 * * 0") == CronExpression("0 0 * * 7") == CronExpression("0 0 * * sun")
    assert CronExpression("0 0 * jan mon") == CronExpression("0 0 * 1 1")


def test_day_of_month_or_day_of_week_when_both_are_restricted():
    # the 13th of any month, and every Friday
    days = []
    t = datetime(2024, 9, 1, tzinfo=UTC)
    for _ in range(8):
        t = CronExpression("0 0 13 * 5").next_datetime(t)
        days.append(t.day)
    assert days == [6, 13, 20, 27, 4, 11, 13, 18]  # Sep Fridays + 13th, Oct 4, 11, Sun 13th, 18


def test_a_star_prefixed_day_field_means_and():
    # odd days of the month that are also Fridays (Vixie: '*/2' counts as '*' for OR)
    t = datetime(2024, 5, 1, tzinfo=UTC)
    hits = []
    for _ in range(4):
        t = CronExpression("0 0 */2 * FRI").next_datetime(t)
        hits.append((t.day, t.weekday()))
    assert all(day % 2 == 1 and weekday == 4 for day, weekday in hits)


def test_a_restricted_day_of_week_with_a_day_of_month_that_never_occurs_still_runs():
    # Feb 30 never happens, but with OR semantics every Monday in February matches
    assert nxt("0 0 30 2 MON", "2024-01-01T00:00:00") == "2024-02-05T00:00:00+00:00"


def test_matches_reads_the_minute_in_the_zone():
    cron = CronExpression("30 9 * * *")
    assert cron.matches(datetime(2024, 5, 1, 9, 30, 59, tzinfo=UTC))
    assert not cron.matches(datetime(2024, 5, 1, 11, 30, tzinfo=timezone(timedelta(hours=1))))


@pytest.mark.parametrize("expr", ["*/7 * * * *", "0 */3 * * *", "15 10 * * 1-5", "0 0 1,15 * *",
                                  "0 12 13 * 5", "*/20 8-9 * * sat,sun", "0 0 * * *"])
def test_next_after_agrees_with_checking_every_minute(expr):
    cron, rng = CronExpression(expr), random.Random(expr)
    for _ in range(5):
        start = 1_700_000_000 + rng.uniform(0, 365 * 86400)
        t = (int(start) // 60 + 1) * 60
        while not cron.matches(datetime.fromtimestamp(t, UTC)):
            t += 60
        assert cron.next_after(start) == t


@pytest.mark.parametrize(("expr", "message"), [
    ("*/5 * * *", r"must have 5 fields \(minute hour day-of-month month day-of-week\), got 4"),
    ("0 */5 * * * *", r"got 6 \(a seconds or year field is not supported\)"),
    ("", "got 0"),
    ("60 * * * *", "minute value 60 is out of range 0-59"),
    ("* 24 * * *", "hour value 24 is out of range 0-23"),
    ("* * 0 * *", "day of month value 0 is out of range 1-31"),
    ("* * * 13 *", "month value 13 is out of range 1-12"),
    ("* * * * 8", "day of week value 8 is out of range 0-7"),
    ("5-1 * * * *", r"minute range '5-1' runs backwards"),
    ("*/0 * * * *", "minute step '0' must be a number from 1 to 59"),
    ("*/ * * * *", "minute step '' must be"),
    ("1,,2 * * * *", "minute field '1,,2' has an empty list item"),
    ("* * * FOO *", r"month value 'FOO' is not a number from 1 to 12 or a name \(JAN, FEB"),
    ("* * L * *", r"\(L, W, # and \? are not supported\)"),
    ("* * ? * *", "are not supported"),
    ("* * * * 5#2", "are not supported"),
    ("-1 * * * *", "minute value '' is not a number"),
    ("@reboot", r"unknown alias; allowed: @yearly.*\(@reboot is not a schedule\)"),
    ("@every 5m", "unknown alias"),
    ("0 0 30 2 *", "never matches: no chosen month has the chosen day of month"),
    ("0 0 31 4,6,9,11 *", "never matches"),
])
def test_syntax_errors_name_the_field_and_what_is_allowed(expr, message):
    with pytest.raises(ConfigError, match=message):
        CronExpression(expr)


def test_a_non_string_expression_or_zone_is_refused():
    with pytest.raises(ConfigError, match="must be a str"):
        CronExpression(5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tz must be a datetime.tzinfo"):
        CronExpression("* * * * *", "Europe/Paris")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="after must be a timezone-aware datetime"):
        CronExpression("* * * * *").next_datetime(datetime(2024, 1, 1))


class TestTimeZones:
    zoneinfo = pytest.importorskip("zoneinfo")

    def tz(self):
        try:
            return self.zoneinfo.ZoneInfo("America/New_York")
        except self.zoneinfo.ZoneInfoNotFoundError:
            pytest.skip("no time zone database")

    def test_times_are_local_to_the_zone(self):
        assert nxt("0 9 * * *", "2024-05-01T12:00:00+00:00", self.tz()) == "2024-05-01T09:00:00-04:00"

    def test_a_wall_time_skipped_by_dst_does_not_run_that_day(self):
        # 2024-03-10 02:30 does not exist in New York (clocks jump from 02:00 to 03:00)
        got = nxt("30 2 * * *", "2024-03-09T12:00:00-05:00", self.tz())
        assert got == "2024-03-11T02:30:00-04:00"

    def test_a_wall_time_repeated_by_dst_runs_once(self):
        # 2024-11-03 01:30 happens twice in New York; only the first one fires
        tz = self.tz()
        first = nxt("30 1 * * *", "2024-11-02T12:00:00-04:00", tz)
        assert first == "2024-11-03T01:30:00-04:00"
        assert nxt("30 1 * * *", first, tz) == "2024-11-04T01:30:00-05:00"
