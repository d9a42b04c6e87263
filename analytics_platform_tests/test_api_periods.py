"""The API's time windows, cursors and exports as plain functions (no server needed)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from analytics_platform.api.errors import ApiError
from analytics_platform.api.export import negotiate, to_csv
from analytics_platform.api.pagination import decode_cursor, encode_cursor, page
from analytics_platform.api.periods import (
    MAX_BUCKETS,
    bucket_end,
    explicit_window,
    last_days,
    parse_instant,
    period_comparisons,
)
from analytics_platform.rollups.families import Grain

NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")


@pytest.mark.parametrize(
    ("start", "grain", "hours"),
    [
        (datetime(2026, 3, 8, tzinfo=NEW_YORK), Grain.DAILY, 23),  # spring forward
        (datetime(2026, 11, 1, tzinfo=NEW_YORK), Grain.DAILY, 25),  # fall back
        (datetime(2026, 3, 2, tzinfo=NEW_YORK), Grain.WEEKLY, 7 * 24 - 1),
        (datetime(2026, 2, 1, tzinfo=NEW_YORK), Grain.MONTHLY, 28 * 24),
        (datetime(2026, 3, 8, 1, tzinfo=NEW_YORK), Grain.HOURLY, 1),
    ],
)
def test_buckets_end_on_the_local_calendar(start, grain, hours):
    end = bucket_end(start.astimezone(UTC), grain, NEW_YORK)
    # In UTC: Python subtracts datetimes of one zone by their wall clocks.
    assert (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() == hours * 3600


def test_periods_compare_the_same_elapsed_closed_hours():
    now = datetime(2026, 3, 18, 14, 25, tzinfo=UTC)  # a Wednesday, 19:55 in Kolkata
    today, week, month = period_comparisons(now, KOLKATA)
    until = datetime(2026, 3, 18, 19, tzinfo=KOLKATA)  # local hours start on the hour
    assert today.current.start == datetime(2026, 3, 18, tzinfo=KOLKATA)
    assert today.current.end == until
    assert today.previous.start == datetime(2026, 3, 17, tzinfo=KOLKATA)
    assert today.previous.end == datetime(2026, 3, 17, 19, tzinfo=KOLKATA)
    assert week.current.start == datetime(2026, 3, 16, tzinfo=KOLKATA)
    assert week.previous.end - week.previous.start == until - week.current.start
    assert month.previous.start == datetime(2026, 2, 1, tzinfo=KOLKATA)


def test_previous_month_is_capped_at_its_end():
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    *_, month = period_comparisons(now, ZoneInfo("UTC"))
    assert month.previous.end == datetime(2026, 3, 1, tzinfo=UTC)  # February has 28 days


def test_last_days_are_complete_local_days():
    window = last_days(datetime(2026, 3, 18, 2, tzinfo=UTC), NEW_YORK, 7)
    assert window.start == datetime(2026, 3, 10, tzinfo=NEW_YORK)
    assert window.end == datetime(2026, 3, 17, tzinfo=NEW_YORK)


def test_start_and_end_are_read_in_the_given_zone():
    assert parse_instant("2026-03-10", KOLKATA, "start") == datetime(2026, 3, 10, tzinfo=KOLKATA)
    assert parse_instant("2026-03-10T08:00", KOLKATA, "start").utcoffset() == timedelta(hours=5.5)
    assert parse_instant("2026-03-10T08:00Z", KOLKATA, "start").utcoffset() == timedelta(0)
    with pytest.raises(ApiError) as error:
        parse_instant("0001-01-01", KOLKATA, "end")
    assert error.value.kind.code == "ANA_VAL_003" and error.value.params[0][0] == "end"


def test_windows_must_be_ordered_and_bounded():
    now = datetime(2026, 3, 18, tzinfo=UTC)
    with pytest.raises(ApiError) as error:
        explicit_window("2026-03-10", "2026-03-10", UTC_ZONE, Grain.DAILY, now)
    assert error.value.params[0][0] == "end"
    days = MAX_BUCKETS + 1
    with pytest.raises(ApiError):
        explicit_window(
            "2020-01-01", f"{(2020 + days // 365) + 1}-01-01", UTC_ZONE, Grain.DAILY, now
        )
    window = explicit_window(None, None, UTC_ZONE, Grain.DAILY, now)
    assert (window.start, window.end) == (now - timedelta(days=30), now)


UTC_ZONE = ZoneInfo("UTC")


def test_cursors_resume_after_the_last_item_and_only_for_their_query():
    items = [(f"2026-03-{d:02d}", c) for d in range(1, 6) for c in ("IDR", "USD")]
    first, cursor = page(items, lambda i: i, None, 4, ("q", 1))
    second, cursor2 = page(items, lambda i: i, decode_cursor(cursor, ("q", 1)), 4, ("q", 1))
    third, end = page(items, lambda i: i, decode_cursor(cursor2, ("q", 1)), 4, ("q", 1))
    assert first + second + third == items and end is None
    with pytest.raises(ApiError) as error:
        decode_cursor(cursor, ("q", 2))
    assert error.value.kind.code == "ANA_VAL_005"
    assert decode_cursor(encode_cursor(("a", "b"), "x"), "x") == ("a", "b")


@pytest.mark.parametrize(
    ("format_param", "accept", "expected"),
    [
        (None, None, "json"),
        (None, "*/*", "json"),
        (None, "text/csv", "csv"),
        (None, "text/csv;q=0.5, application/json", "json"),
        (None, "application/xml, text/*;q=0.1", "csv"),
        ("csv", "application/json", "csv"),
    ],
)
def test_format_comes_from_the_parameter_or_accept(format_param, accept, expected):
    assert negotiate(format_param, accept) == expected


def test_csv_flattens_nested_figures_into_columns():
    rows = [{"day": "d1", "revenue": {"IDR": "10.00"}}, {"day": "d2", "revenue": {"USD": "1.50"}}]
    lines = list(csv.DictReader(io.StringIO(to_csv(rows).decode())))
    assert lines == [
        {"day": "d1", "revenue.IDR": "10.00", "revenue.USD": ""},
        {"day": "d2", "revenue.IDR": "", "revenue.USD": "1.50"},
    ]
