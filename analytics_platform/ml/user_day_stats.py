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


def refresh(
    conn: psycopg.Connection, days: Iterable[date], tz: str, rebuild: Iterable[date] = ()
) -> list[date]:
    """(Re)build the stats of those of `days` that are due, and of every day in
    `rebuild` (a partition's own day: its raw rows may have changed without ingestion's
    bookkeeping); returns the days built, oldest first."""
    return daily_aggregates.refresh_due(
        conn,
        "ml/features_day_stats_due.sql",
        build,
        days,
        tz,
        rebuild,
        tables=("ml.user_day_stats",),
    )


def build(conn: psycopg.Connection, day: date, tz: str) -> int:
    """Replace the stats of local day `day` from its raw rows; returns the users written."""
    with conn.transaction():
        run_sql_file(conn, "ml/features_day_stats_lock.sql", {"day": day})
        # Read before the raw rows: rows landing meanwhile make the day due again.
        row = run_sql_file(
            conn, "ml/features_day_stats_source_rows.sql", {"day": day, "tz": tz}
        ).fetchone()
        source_rows = int(row[0]) if row else 0
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
