"""customers/cohorts: registration cohorts by week and month against periods since.

A cell (cohort, period) only changes on the days of its period, so a day writes the
cells whose period holds it, one per cohort and grain (and currency). A day whose
previous day was written with its carried state (customers.cohort_registrations and
customers.cohort_user_days, see sql/migrations/046_customer_cohorts_state.sql) is that
day's cells plus what the day changed (cohorts_insert_day_incremental.sql), at the cost of
the day's users; any other day is the full computation from raw over the period so far
and every registration (cohorts_insert_day.sql), which is also the reference the
incremental day must equal. Either way a day writes its own state (the full computation:
every registration and its periods' user days), so the next day can carry on from it, and
a re-run of a day reads no state of the days after it.
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
from analytics_platform.customers.profiles import HISTORY_START
from analytics_platform.resources.warehouse import read_sql

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
        "previous_day": day.day - timedelta(days=1),
    }


def write_cohorts_day(conn: psycopg.Connection, day: Day, tz: ZoneInfo) -> int:
    """Replace the cells (and the carried state) of one day; rows inserted."""
    params = {**cohort_params(day, tz), "asset": ASSET}
    run(conn, "cohorts_delete_day.sql", params)
    ready = conn.execute(read_sql("customers/cohorts_state_ready.sql"), params).fetchone()
    incremental = bool(ready and ready[0])
    state = {
        **params,
        "method": "incremental" if incremental else "full",
        # The full computation (re)writes every registration so far and the user days of
        # the day's periods so far; a day from the day before, only its own.
        "registrations_from": day.start if incremental else HISTORY_START,
        "registrations_from_day": day.day if incremental else HISTORY_START.date(),
        "user_days_from": day.start if incremental else params["scan_start"],
        "user_days_from_day": day.day
        if incremental
        else min(params["week_day"], params["month_day"]),
    }
    for statement in (
        "cohorts_registrations_delete.sql",
        "cohorts_registrations_insert.sql",
        "cohorts_user_days_delete.sql",
        "cohorts_user_days_insert.sql",
        "cohorts_state_record.sql",
    ):
        run(conn, statement, state)
    if incremental:
        run(conn, "cohorts_plan.sql", params)
        return run(conn, "cohorts_insert_day_incremental.sql", params)
    run(conn, "cohorts_state_analyze.sql", params)
    return run(conn, "cohorts_insert_day.sql", params)


def materialize_cohorts(
    conn: psycopg.Connection, start: datetime, end: datetime, tz: ZoneInfo
) -> WindowStats:
    """Write the cohort cells of the days of [start, end) in one transaction."""

    return replace_days(
        conn, ASSET, TABLE, start, end, tz, lambda c, day: write_cohorts_day(c, day, tz)
    )


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
