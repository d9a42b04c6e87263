"""The refresh rule shared by the per-day aggregate tables of the recommendations
(ml.user_day_stats; ml.spend_day_stats with ml.wallet_day_stats; ml.budget_day_spend):
rebuild every day sql/ml/day_table_due.sql finds due (never built, cut in another time
zone, or late rows recorded by ingestion since), plus the days asked for explicitly. A
day records, when built, the rows ingestion had counted in its hours of the raw tables
it reads (`source_rows`); a different count later means late events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

import psycopg
from psycopg import sql

from analytics_platform.resources.warehouse import read_sql, run_sql_file

# Days built at once from which the tables are analyzed: a backfill (a first
# deployment, a new look-back) changes the tables more than autovacuum has seen, and
# the rules' and features' plans over a never-analyzed table were nested loops over
# row estimates a hundred times too small (issue 14's benchmark); one day's rebuild
# is autovacuum's business.
ANALYZE_AFTER_DAYS = 7


@dataclass(frozen=True)
class DayTable:
    """A per-day aggregate table (or tables built together): its bookkeeping table of
    built days (day, tz, source_rows), the raw tables its days are built from, and the
    tables to analyze after a backfill ("schema.table" each)."""

    days_table: str
    raw_tables: tuple[str, ...]
    analyze: tuple[str, ...]


def refresh_due(
    conn: psycopg.Connection,
    table: DayTable,
    build: Callable[[psycopg.Connection, date, str], object],
    days: Iterable[date],
    tz: str,
    rebuild: Iterable[date] = (),
) -> list[date]:
    """Build the due days among `days` and every day of `rebuild` with `build`; returns
    the days built, oldest first. `table.analyze` is analyzed after ANALYZE_AFTER_DAYS
    days or more."""
    due_sql = sql.SQL(read_sql("ml/day_table_due.sql")).format(  # type: ignore[arg-type]
        days_table=sql.Identifier(*table.days_table.split("."))
    )
    params = {
        "days": sorted(set(days)),
        "tz": tz,
        "rebuild": sorted(set(rebuild)),
        "raw_tables": list(table.raw_tables),
    }
    due = [row[0] for row in conn.execute(due_sql, params)]
    for day in due:
        build(conn, day, tz)
    if len(due) >= ANALYZE_AFTER_DAYS:
        for name in table.analyze:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(*name.split("."))))
    return due


def source_rows(conn: psycopg.Connection, table: DayTable, day: date, tz: str) -> int:
    """The rows ingestion has recorded in local day `day`'s hours of the raw tables
    `table` reads: read before the day's raw rows, and recorded with the day."""
    params = {"day": day, "tz": tz, "raw_tables": list(table.raw_tables)}
    row = run_sql_file(conn, "ml/day_table_source_rows.sql", params).fetchone()
    return int(row[0]) if row else 0
