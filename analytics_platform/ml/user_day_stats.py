"""ml.user_day_stats: per user and local day, what the features need of that day's raw
rows (transactions, successes, failures, extreme times, merchants, sessions).

A feature day then reads 90 small daily rows per user instead of re-reading 90 days of
raw.transactions and raw.user_activity (features.build_day), and a backfill of many
feature days reads each raw day once. A day is rebuilt whole from its raw rows when it
is missing, was cut in another time zone, or ingestion recorded rows in its hours since
it was built (ingest.touched_hours: late events), the same test the customer tables use.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import psycopg

from analytics_platform.ml import daily_aggregates
from analytics_platform.resources.warehouse import run_sql_file

DAY_TABLE = daily_aggregates.DayTable(
    days_table="ml.user_day_stats_days",
    raw_tables=("raw.transactions", "raw.user_activity"),
    analyze=("ml.user_day_stats",),
)


def refresh(
    conn: psycopg.Connection, days: Iterable[date], tz: str, rebuild: Iterable[date] = ()
) -> list[date]:
    """(Re)build the stats of those of `days` that are due, and of every day in
    `rebuild` (a partition's own day: its raw rows may have changed without ingestion's
    bookkeeping); returns the days built, oldest first."""
    return daily_aggregates.refresh_due(conn, DAY_TABLE, build, days, tz, rebuild)


def build(conn: psycopg.Connection, day: date, tz: str) -> int:
    """Replace the stats of local day `day` from its raw rows; returns the users written."""
    with conn.transaction():
        run_sql_file(conn, "ml/features_day_stats_lock.sql", {"day": day})
        # Read before the raw rows: rows landing meanwhile make the day due again.
        source_rows = daily_aggregates.source_rows(conn, DAY_TABLE, day, tz)
        run_sql_file(conn, "ml/features_day_stats_delete.sql", {"day": day})
        users = run_sql_file(
            conn, "ml/features_day_stats_insert.sql", {"day": day, "tz": tz}
        ).rowcount
        run_sql_file(
            conn,
            "ml/features_day_stats_record.sql",
            {"day": day, "tz": tz, "source_rows": source_rows, "users": users},
        )
    return users
