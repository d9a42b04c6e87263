"""Time windows of the API, cut in the reporting time zone like the marts' buckets.

Every window is half-open, [start, end). Calendar periods (today, this week, this month)
and `days=N` windows are computed here from one clock reading, so a response never mixes
two notions of "now". Timestamps go to SQL as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from analytics_platform.api.errors import ApiError, echo, invalid
from analytics_platform.rollups.families import Grain

# The longest series a request may ask for, whatever its grain.
MAX_BUCKETS = 2_000

INTERVAL_GRAINS: dict[str, Grain] = {
    "hour": Grain.HOURLY,
    "day": Grain.DAILY,
    "week": Grain.WEEKLY,
    "month": Grain.MONTHLY,
}
_APPROX_BUCKET = {
    Grain.HOURLY: timedelta(hours=1),
    Grain.DAILY: timedelta(days=1),
    Grain.WEEKLY: timedelta(days=7),
    Grain.MONTHLY: timedelta(days=28),
}


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def utc(self) -> tuple[datetime, datetime]:
        return self.start.astimezone(UTC), self.end.astimezone(UTC)

    def key(self) -> tuple[str, str]:
        start, end = self.utc
        return start.isoformat(), end.isoformat()


def midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def hour_start(now: datetime, tz: ZoneInfo) -> datetime:
    """Start of the local hour holding `now` (`replace` keeps the DST fold)."""
    return now.astimezone(tz).replace(minute=0, second=0, microsecond=0)


def day_start(now: datetime, tz: ZoneInfo) -> datetime:
    return midnight(now.astimezone(tz).date(), tz)


def week_start(now: datetime, tz: ZoneInfo) -> datetime:
    today = now.astimezone(tz).date()
    return midnight(today - timedelta(days=today.weekday()), tz)


def month_start(now: datetime, tz: ZoneInfo) -> datetime:
    return midnight(now.astimezone(tz).date().replace(day=1), tz)


def add_months(day: date, months: int) -> date:
    """The 1st of the month `months` after (or before) the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def previous_period_start(start: datetime, period: str, tz: ZoneInfo) -> datetime:
    day = start.astimezone(tz).date()
    if period == "today":
        return midnight(day - timedelta(days=1), tz)
    if period == "this_week":
        return midnight(day - timedelta(days=7), tz)
    return midnight(add_months(day, -1), tz)


@dataclass(frozen=True)
class Comparison:
    """A period so far against the same elapsed time of the period before it."""

    name: str
    current: Window
    previous: Window


def period_comparisons(now: datetime, tz: ZoneInfo) -> list[Comparison]:
    """Today, this week and this month up to the current hour (closed hours only: the
    hourly marts hold nothing newer), each against the same elapsed span of the
    previous day, week or month (capped at that period's end)."""
    until = hour_start(now, tz)
    result = []
    for name, start in (
        ("today", day_start(now, tz)),
        ("this_week", week_start(now, tz)),
        ("this_month", month_start(now, tz)),
    ):
        prev_start = previous_period_start(start, name, tz)
        prev_end = min(prev_start + (until - start), start)
        result.append(Comparison(name, Window(start, until), Window(prev_start, prev_end)))
    return result


def last_days(now: datetime, tz: ZoneInfo, days: int) -> Window:
    """The `days` complete local days before today."""
    today = now.astimezone(tz).date()
    return Window(midnight(today - timedelta(days=days), tz), midnight(today, tz))


def default_window(now: datetime, tz: ZoneInfo, grain: Grain) -> Window:
    """What a series shows when no start/end is given: the complete buckets of the last
    30 days, 12 weeks or 12 months (today's hours for the hourly grain)."""
    today = now.astimezone(tz).date()
    end = midnight(today, tz)
    if grain is Grain.HOURLY:
        return Window(end, hour_start(now, tz))
    if grain is Grain.DAILY:
        return Window(midnight(today - timedelta(days=30), tz), end)
    if grain is Grain.WEEKLY:
        monday = week_start(now, tz)
        return Window(monday - timedelta(days=7 * 12), monday)
    first = month_start(now, tz)
    return Window(midnight(add_months(first.date(), -12), tz), first)


def bucket_end(start: datetime, grain: Grain, tz: ZoneInfo) -> datetime:
    """End of the bucket starting at `start` (local calendar steps for days and up)."""
    if grain is Grain.HOURLY:
        return start + timedelta(hours=1)
    day = start.astimezone(tz).date()
    if grain is Grain.DAILY:
        return midnight(day + timedelta(days=1), tz)
    if grain is Grain.WEEKLY:
        return midnight(day + timedelta(days=7), tz)
    return midnight(add_months(day, 1), tz)


def parse_instant(text: str, tz: ZoneInfo, parameter: str) -> datetime:
    """ISO 8601: a date (local midnight), a local time, or a time with an offset."""
    try:
        if len(text) == 10:
            value = midnight(date.fromisoformat(text), tz)
        else:
            value = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(
            parameter,
            f"{echo(text)} is not an ISO 8601 date or time "
            "(e.g. 2024-05-01 or 2024-05-01T10:00:00Z)",
            "ANA_VAL_003",
        ) from None
    if not _EARLIEST <= value.replace(tzinfo=None) <= _LATEST:
        raise invalid(parameter, f"{echo(text)} is outside the years 1970-2200", "ANA_VAL_003")
    return value if value.tzinfo else value.replace(tzinfo=tz)


# Far enough for any data; keeps zone arithmetic away from datetime's own limits.
_EARLIEST = datetime(1970, 1, 2)
_LATEST = datetime(2200, 1, 1)


def explicit_window(
    start: str | None,
    end: str | None,
    tz: ZoneInfo,
    grain: Grain,
    now: datetime,
    fallback: Window | None = None,
) -> Window:
    """[start, end) from the parameters (missing ones from `fallback`, by default the
    grain's default window); ANA_VAL_003 when it is empty or holds more than MAX_BUCKETS
    buckets."""
    fallback = fallback or default_window(now, tz, grain)
    first = parse_instant(start, tz, "start") if start else fallback.start
    last = parse_instant(end, tz, "end") if end else fallback.end
    if start and not end and last <= first:
        last = first + _APPROX_BUCKET[grain] * 30
    if last <= first:
        raise ApiError(
            "ANA_VAL_003",
            f"end ({last.isoformat()}) must be after start ({first.isoformat()}); "
            "ranges are half-open [start, end)",
            params=[("end", "must be after start")],
        )
    if (last - first) / _APPROX_BUCKET[grain] > MAX_BUCKETS:
        raise ApiError(
            "ANA_VAL_003",
            f"[{first.isoformat()}, {last.isoformat()}) holds more than {MAX_BUCKETS} "
            f"{grain} buckets; narrow it or pick a coarser interval",
            params=[("start", f"range longer than {MAX_BUCKETS} {grain} buckets")],
        )
    return Window(first, last)


# The longest range the `days` endpoints take, as days or as start/end.
MAX_RANGE_DAYS = 366


def days_or_range(
    days: int | None,
    start: str | None,
    end: str | None,
    default_days: int,
    now: datetime,
    reporting_tz: ZoneInfo,
    tz: ZoneInfo,
) -> tuple[int, Window]:
    """The window of an endpoint that takes `days` (complete days before today, in the
    reporting zone) or `start`/`end` (read in `tz`; start alone runs to today, end alone
    goes back `default_days`), and the days it spans (rounded up). ANA_VAL_003 for both
    forms at once, an empty range or one longer than MAX_RANGE_DAYS."""
    if days is not None and (start or end):
        raise ApiError(
            "ANA_VAL_003",
            "give either days (the last N complete days) or start/end, not both",
            params=[("days", "not with start/end")],
        )
    if not start and not end:
        count = days or default_days
        return count, last_days(now, reporting_tz, count)
    last = parse_instant(end, tz, "end") if end else last_days(now, reporting_tz, 1).end
    first = parse_instant(start, tz, "start") if start else last - timedelta(days=default_days)
    if last <= first:
        raise ApiError(
            "ANA_VAL_003",
            f"end ({last.isoformat()}) must be after start ({first.isoformat()}); "
            "ranges are half-open [start, end)",
            params=[("end", "must be after start")],
        )
    span = last - first
    if span > timedelta(days=MAX_RANGE_DAYS):
        raise ApiError(
            "ANA_VAL_003",
            f"[{first.isoformat()}, {last.isoformat()}) is longer than {MAX_RANGE_DAYS} "
            "days; ask for it in parts",
            params=[("start", f"range longer than {MAX_RANGE_DAYS} days")],
        )
    return -(-span // timedelta(days=1)), Window(first, last)
