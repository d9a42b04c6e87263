"""customers/user_profiles: every user's profile as of the end of a day, kept as versions.

A day writes a new version only for the users with an event that day (any raw table
the profile reads): the version valid the day before, merged with the day's events
(earliest/latest times, counts and sums add, the latest KYC event wins). Account age is
not stored (it would change every user every day): readers compute it from the as-of
day and the registration. `reference_profiles` in the tests recomputes everything from
raw and must equal the versions valid on any day.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg

from analytics_platform.customers.days import (
    Day,
    DayCheck,
    Judgment,
    WindowStats,
    check_days,
    create_temp,
    replace_days,
    run,
)

# The table, and its name in marts.rollup_buckets (the API's freshness).
TABLE = "customer_profiles"
ASSET = "customers/user_profiles"


def write_profiles_day(conn: psycopg.Connection, day: Day) -> int:
    """Replace the versions of one day (see the module docstring); rows inserted."""
    params = day.params
    # Undo a previous run of the day first: reopen what it closed, then delete it.
    for statement in (
        "profiles_reopen.sql",
        "profiles_delete_day.sql",
        "profiles_currencies_reopen.sql",
        "profiles_currencies_delete_day.sql",
    ):
        run(conn, statement, params)
    create_temp(conn, "profile_day", "profiles_day_changes.sql", params)
    create_temp(conn, "profile_day_currencies", "profiles_day_currency_changes.sql", params)
    rows = run(conn, "profiles_insert_day.sql", params)
    run(conn, "profiles_close_previous.sql", params)
    rows += run(conn, "profiles_currencies_insert_day.sql", params)
    run(conn, "profiles_currencies_close_previous.sql", params)
    run(conn, "profiles_main_currency.sql", params)
    return rows


def materialize_user_profiles(
    conn: psycopg.Connection, start: datetime, end: datetime, tz: ZoneInfo
) -> WindowStats:
    """Write the days of [start, end) (a partition window), oldest first, in one
    transaction. Each day needs the day before it materialized."""
    return replace_days(conn, ASSET, TABLE, start, end, tz, write_profiles_day, carries_state=True)


def check_user_profiles(
    conn: psycopg.Connection, start: datetime, end: datetime, tz: ZoneInfo
) -> list[DayCheck]:
    """The profile checks over each day of [start, end) (see profiles_check_day.sql)."""
    return check_days(
        conn,
        "profiles_check_day.sql",
        start,
        end,
        tz,
        [
            Judgment(
                "one_version_per_user",
                "Every user with an event in the day has exactly one version valid on it, "
                "and the day wrote no other versions.",
                lambda f: (
                    f["users_seen"] == f["versions"] and f["users_with_overlapping_versions"] == 0
                ),
            ),
            Judgment(
                "totals_match_currencies",
                "A changed user's success count equals the sum of their per-currency counts.",
                lambda f: f["users_with_mismatched_totals"] == 0,
            ),
        ],
    )
