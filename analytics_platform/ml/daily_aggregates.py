"""The refresh rule shared by the per-day aggregate tables of the recommendations
(ml.user_day_stats, and ml.spend_day_stats with ml.wallet_day_stats): rebuild every day
its `*_due.sql` finds due (never built, cut in another time zone, or late rows recorded by
ingestion since), plus the days asked for explicitly."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

import psycopg

from analytics_platform.resources.warehouse import run_sql_file


def refresh_due(
    conn: psycopg.Connection,
    due_sql: str,
    build: Callable[[psycopg.Connection, date, str], object],
    days: Iterable[date],
    tz: str,
    rebuild: Iterable[date] = (),
) -> list[date]:
    """Build the due days among `days` and every day of `rebuild` with `build`; returns
    the days built, oldest first."""
    due = [
        row[0]
        for row in run_sql_file(
            conn, due_sql, {"days": sorted(set(days)), "tz": tz, "rebuild": sorted(set(rebuild))}
        )
    ]
    for day in due:
        build(conn, day, tz)
    return due
