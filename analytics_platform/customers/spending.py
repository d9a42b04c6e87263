"""customers/spending: each user's spending per month, currency and category, as of a day.

A day writes versions only for the rows that changed: the (currency, category) cells
paid that day, those whose comparison figure moved (paid on the previous month's day the
comparison takes in that day), and the all-categories rows of their users and
currencies. The month's share is computed on read (spending_as_of.sql), so the other
categories of a changed user keep their version. The previous month is compared over the same
days while the month is partial (days 1..d, d the day of the month, clamped to the
previous month's length) and whole once the month is complete, so a partial month is
never set against a full one. Each version is computed from raw over the month so far
and the compared days (no state carried), but the month as of a day is the day's
versions over those of the month's earlier days: a mid-month day whose day before was
never materialized would leave out the categories only earlier days wrote, so it is
refused (`SpendingMonthIncompleteError`) and a month is backfilled from its 1st, as one
range or day by day. A day already materialized can be re-run on its own; the later days
of its month then hold versions computed before it, which the customer automation
re-runs ('after_earlier').
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from analytics_platform.customers.days import (
    Day,
    DayCheck,
    Judgment,
    PreviousDayMissingError,
    WindowStats,
    check_days,
    create_temp,
    midnight,
    previous_day_ready,
    replace_days,
    run,
)

# The table, and its name in marts.rollup_buckets (the API's freshness).
TABLE = "customer_spending"
ASSET = "customers/spending"
TOP_MERCHANTS = 5


def add_months(day: date, months: int) -> date:
    """The first of the month `months` after the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def compared_end(day: date) -> date:
    """The first day of the previous month NOT compared with the month of `day` as of
    `day`: days 1..d of the previous month while the month is partial, all of it once
    `day` is the month's last day."""
    month = day.replace(day=1)
    previous = add_months(month, -1)
    if (day + timedelta(days=1)).month != day.month:
        return month
    length = calendar.monthrange(previous.year, previous.month)[1]
    return previous + timedelta(days=min(day.day, length))


@dataclass(frozen=True)
class Comparison:
    """The months a day's spending rows cover, as local dates."""

    month: date
    previous: date
    compared_end: date
    # The previous month's days the comparison takes in on this day: [newly_from, compared_end)
    newly_from: date

    @classmethod
    def of(cls, day: date) -> Comparison:
        month = day.replace(day=1)
        previous = add_months(month, -1)
        yesterday = day - timedelta(days=1)
        newly_from = compared_end(yesterday) if yesterday.month == day.month else previous
        return cls(month, previous, compared_end(day), newly_from)

    @property
    def compared_through(self) -> date:
        return self.compared_end - timedelta(days=1)


def spending_params(day: Day, tz: ZoneInfo) -> dict[str, Any]:
    c = Comparison.of(day.day)
    return {
        **day.params,
        "month": c.month,
        "month_start": midnight(c.month, tz),
        "previous_start": midnight(c.previous, tz),
        "previous_end": midnight(c.compared_end, tz),
        "compared_from": midnight(c.newly_from, tz),
        "compared_to": midnight(c.compared_end, tz),
        "top_merchants": TOP_MERCHANTS,
    }


class SpendingMonthIncompleteError(PreviousDayMissingError):
    """A spending day after its month's 1st whose day before was never materialized: its
    versions hold only what changed that day, so the month read as of it would miss the
    categories the month's earlier days wrote."""


def refuse_incomplete_month(conn: psycopg.Connection, day: Day) -> None:
    """SpendingMonthIncompleteError unless `day` is its month's 1st or the day before was
    materialized (or ingestion wrote nothing before it: no earlier versions to miss)."""
    if day.day.day == 1 or previous_day_ready(conn, ASSET, day):
        return
    first = day.day.replace(day=1)
    raise SpendingMonthIncompleteError(
        f"{ASSET}: {day.day} writes only the categories that changed that day, over the "
        f"month's earlier days, but {day.day - timedelta(days=1)} was never materialized, "
        f"so the month as of {day.day} would be incomplete; materialize spending from "
        f"{first} first, or run the range {first}..{day.day} in one run"
    )


def materialize_spending(
    conn: psycopg.Connection, start: datetime, end: datetime, tz: ZoneInfo
) -> WindowStats:
    """Write the spending versions of the days of [start, end) in one transaction;
    SpendingMonthIncompleteError, before writing anything, when the first day is not a
    month's 1st and its day before was never materialized."""

    def write_day(conn: psycopg.Connection, day: Day) -> int:
        params = spending_params(day, tz)
        run(conn, "spending_delete_day.sql", params)
        create_temp(conn, "spending_cells", "spending_day_cells.sql", params)
        # The insert joins CTEs whose sizes the planner can only guess (it guesses far
        # too few rows): a nested loop over them ran for minutes on 4,000 users.
        run(conn, "spending_plan.sql", params)
        return run(conn, "spending_insert_day.sql", params)

    return replace_days(
        conn, ASSET, TABLE, start, end, tz, write_day, refuse_first_day=refuse_incomplete_month
    )


def check_spending(
    conn: psycopg.Connection, start: datetime, end: datetime, tz: ZoneInfo
) -> list[DayCheck]:
    """The spending checks over each day of [start, end) (see spending_check_day.sql)."""
    return check_days(
        conn,
        "spending_check_day.sql",
        start,
        end,
        tz,
        [
            Judgment(
                "categories_add_up",
                "Per user, month and currency the day wrote, the categories' spend as of "
                "the day adds up to the all-categories row, and month shares lie in [0, 1].",
                lambda f: (
                    f["users_whose_categories_do_not_add_up"] == 0 and f["shares_out_of_range"] == 0
                ),
            )
        ],
    )
