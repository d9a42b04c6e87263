"""The refresh rule shared by the per-day aggregate tables of the recommendations
(ml.user_day_stats, and ml.spend_day_stats with ml.wallet_day_stats): rebuild every day
its `*_due.sql` finds due (never built, cut in another time zone, or late rows recorded by
ingestion since), plus the days asked for explicitly."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date

import psycopg
from psycopg import sql

from analytics_platform.resources.warehouse import run_sql_file

# Days built at once from which the tables are analyzed: a backfill (a first
# deployment, a new look-back) changes the tables more than autovacuum has seen, and
# the rules' and features' plans over a never-analyzed table were nested loops over
# row estimates a hundred times too small (issue 14's benchmark); one day's rebuild
# is autovacuum's business.
ANALYZE_AFTER_DAYS = 7


def refresh_due(
    conn: psycopg.Connection,
    due_sql: str,
    build: Callable[[psycopg.Connection, date, str], object],
    days: Iterable[date],
    tz: str,
    rebuild: Iterable[date] = (),
    tables: Sequence[str] = (),
) -> list[date]:
    """Build the due days among `days` and every day of `rebuild` with `build`; returns
    the days built, oldest first. `tables` ("schema.table") are analyzed after
    ANALYZE_AFTER_DAYS days or more."""
    due = [
        row[0]
        for row in run_sql_file(
            conn, due_sql, {"days": sorted(set(days)), "tz": tz, "rebuild": sorted(set(rebuild))}
        )
    ]
    for day in due:
        build(conn, day, tz)
    if len(due) >= ANALYZE_AFTER_DAYS:
        for table in tables:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(*table.split("."))))
    return due
