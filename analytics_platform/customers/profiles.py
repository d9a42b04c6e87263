"""customers/user_profiles: every user's profile as of the end of a day, kept as versions.

A day writes a new version only for the users with an event that day (any raw table
the profile reads): the version valid the day before, merged with the day's events
(earliest/latest times, counts and sums add, the latest KYC event wins). Account age is
not stored (it would change every user every day): readers compute it from the as-of
day and the registration. `reference_profiles` in the tests recomputes everything from
raw and must equal the versions valid on any day.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from analytics_platform.customers.days import (
    CUSTOMERS_WORK_MEM,
    Day,
    DayCheck,
    DayStats,
    Judgment,
    WindowStats,
    check_days,
    create_temp,
    day_of,
    replace_days,
    run,
)
from analytics_platform.resources.warehouse import read_sql

# The table, and its name in marts.rollup_buckets (the API's freshness).
TABLE = "customer_profiles"
ASSET = "customers/user_profiles"
# Where a bulk first load starts reading raw: before any event the platform can hold.
HISTORY_START = datetime(1970, 1, 1, tzinfo=UTC)


class ProfilesExistError(RuntimeError):
    """A bulk first load asked for while profile versions already exist."""


def write_profiles_day(conn: psycopg.Connection, day: Day) -> int:
    """Replace the versions of one day (see the module docstring); rows inserted."""
    return _write_versions(conn, day.params)


def _write_versions(conn: psycopg.Connection, params: dict[str, Any], bulk: bool = False) -> int:
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
    if bulk:
        # A day's temporary tables are small; the bulk load's hold every user.
        run(conn, "profiles_analyze_bulk.sql", {})
    run(conn, "profiles_main_currency.sql", params)
    return rows


def materialize_user_profiles(
    conn: psycopg.Connection, start: datetime, end: datetime, tz: ZoneInfo
) -> WindowStats:
    """Write the days of [start, end) (a partition window), oldest first, in one
    transaction. Each day needs the day before it materialized."""
    return replace_days(conn, ASSET, TABLE, start, end, tz, write_profiles_day, carries_state=True)


def seed_user_profiles(conn: psycopg.Connection, day: date, tz: ZoneInfo) -> WindowStats:
    """The bulk first load: every user's profile as of the end of `day`, from ALL raw
    history up to it in one pass (the same statements as a day, over a window that
    starts at HISTORY_START), written as one version per user valid from `day`.

    A year of history costs one aggregation instead of 365 day runs. Days before `day`
    get no versions: they stay unmaterialized (as-of reads of them find nothing) and
    `day` is recorded with its own source rows, so the automation treats it like any
    materialized day and carries on from it. Only into empty profile tables
    (ProfilesExistError otherwise: re-running history goes day by day from its start).
    """
    began = time.perf_counter()
    window = day_of(day, tz)
    params = {**window.params, "asset": ASSET, "window_start": HISTORY_START}
    with conn.transaction():
        conn.execute("SELECT set_config('work_mem', %s, true)", (CUSTOMERS_WORK_MEM,))
        run(conn, "profiles_lock.sql", {"asset": ASSET})
        existing = conn.execute(read_sql("customers/profiles_any.sql")).fetchone()
        if existing and existing[0]:
            raise ProfilesExistError(
                f"{ASSET}: a bulk first load of {day} needs empty profile tables; "
                "materialize the days after the last one instead (a range is one run)"
            )
        own = {**window.params, "asset": ASSET}
        source = conn.execute(read_sql("customers/profiles_day_source_rows.sql"), own).fetchone()
        rows = _write_versions(conn, params, bulk=True)
        record = {**own, "rows": rows, "source_rows": source[0] if source else 0}
        run(conn, "profiles_record_day.sql", record)
        run(conn, "profiles_record_bucket.sql", {**record, "mart": TABLE})
    seconds = time.perf_counter() - began
    return WindowStats(ASSET, window.start, window.end, (DayStats(day, rows, seconds),), seconds)


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
