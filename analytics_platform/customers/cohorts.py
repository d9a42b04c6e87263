"""customers/cohorts: registration cohorts by week and month against periods since.

A cell (cohort, period) only changes on the days of its period, so a day writes the
cells whose period holds it, one per cohort and grain (and currency), computed from raw
over the period so far: no state carried, any day can be re-run on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from analytics_platform.customers.days import (
    Day,
    DayCheck,
    Judgment,
    WindowStats,
    check_days,
    midnight,
    replace_days,
    run,
)

# The table, and its name in marts.rollup_buckets (the API's freshness).
TABLE = "customer_cohorts"
ASSET = "customers/cohorts"


def cohort_params(day: Day, tz: ZoneInfo) -> dict[str, Any]:
    week = day.day - timedelta(days=day.day.weekday())
    month = day.day.replace(day=1)
    week_start, month_start = midnight(week, tz), midnight(month, tz)
    return {
        **day.params,
        "tz": tz.key,
        "week_day": week,
        "week_start": week_start,
        "month_day": month,
        "month_start": month_start,
        "scan_start": min(week_start, month_start),
    }


def materialize_cohorts(
    conn: psycopg.Connection, start: datetime, end: datetime, tz: ZoneInfo
) -> WindowStats:
    """Write the cohort cells of the days of [start, end) in one transaction."""

    def write_day(conn: psycopg.Connection, day: Day) -> int:
        params = cohort_params(day, tz)
        run(conn, "cohorts_delete_day.sql", params)
        return run(conn, "cohorts_insert_day.sql", params)

    return replace_days(conn, ASSET, TABLE, start, end, tz, write_day)


def check_cohorts(
    conn: psycopg.Connection, start: datetime, end: datetime, tz: ZoneInfo
) -> list[DayCheck]:
    """The cohort checks over each day of [start, end) (see cohorts_check_day.sql): needs
    the day's user lifecycle rollup, which the automation waits for."""
    return check_days(
        conn,
        "cohorts_check_day.sql",
        start,
        end,
        tz,
        [
            Judgment(
                "sizes_match_registrations",
                "Each cohort's size equals the registrations marts.user_lifecycle_daily "
                "counted over its days, and no cell has more active or paying users than "
                "its size.",
                lambda f: f["cohorts_off"] == 0 and f["cells_over_size"] == 0,
            )
        ],
    )
