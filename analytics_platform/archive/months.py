"""UTC months: the archive's unit (see store.py for why UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


class NotAMonthError(ValueError):
    """A month given as something other than the first day of a month."""


def month_start(month: date) -> datetime:
    if month.day != 1:
        raise NotAMonthError(f"{month.isoformat()} is not the first day of a month")
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def month_end(month: date) -> datetime:
    start = month_start(month)
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def month_of(moment: datetime) -> date:
    """The UTC month an instant falls in."""
    utc = moment.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def parse_month(text: str) -> date:
    """`YYYY-MM` or `YYYY-MM-01` (a monthly partition key) as a month."""
    try:
        parsed = date.fromisoformat(text if len(text) > 7 else f"{text}-01")
    except ValueError:
        raise NotAMonthError(f"{text!r} is not a month; expected YYYY-MM") from None
    month_start(parsed)
    return parsed


def days(month: date) -> list[tuple[datetime, datetime]]:
    """The month's UTC days as [start, end) pairs."""
    start, end = month_start(month), month_end(month)
    count = (end - start).days
    return [(start + timedelta(days=i), start + timedelta(days=i + 1)) for i in range(count)]


def months_between(first: date, last: date) -> list[date]:
    """Every month from `first` to `last`, both included."""
    months, current = [], first
    while current <= last:
        months.append(current)
        current = month_end(current).date()
    return months
