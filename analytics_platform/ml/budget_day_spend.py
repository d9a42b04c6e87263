"""ml.budget_day_spend: per user, category, currency and local day, the successful
PAYMENT and BILL_PAYMENT amounts and their count; and BUDGET_ALERT's feature rows of a
day read from it.

A day's BUDGET_ALERT scoring needs its month so far and the `history_months` complete
months before it: re-aggregating those four months of raw.transactions every day cost
137 CPU us per user at 20,000 users (issue 14's benchmark); the narrow daily rows give
the same features in one hash aggregate (docs/recommendations.md has the figures). The
windows are whole local days, so the daily sums add up to exactly what the raw rows give
wherever each local day runs from midnight to midnight (`ledger_day_stats.days_aligned`);
in a zone whose DST change skips or repeats midnight, and for more history months than
the bitmap of habit months holds, the features are read from the raw rows
(`budget.read_features`). A day is rebuilt whole from its raw rows when it is missing,
was cut in another time zone, or ingestion recorded rows in its hours since it was built
(ingest.touched_hours: late events); the cut day itself is always rebuilt (its raw rows
may have changed without ingestion's bookkeeping), as the rules' day aggregates are.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, timedelta

import numpy as np
import psycopg

from analytics_platform.ml import budget, daily_aggregates, ledger_day_stats
from analytics_platform.resources.warehouse import read_sql, run_sql_file

# Bits of the bigint whose set bits are the history months with spending
# (budget_features_from_days.sql); longer histories read the raw rows.
MAX_HISTORY_MONTHS = 63


def refresh(
    conn: psycopg.Connection, days: Iterable[date], tz: str, rebuild: Iterable[date] = ()
) -> list[date]:
    """(Re)build the due days among `days` and every day of `rebuild`; returns the days
    built, oldest first."""
    return daily_aggregates.refresh_due(
        conn,
        "ml/budget_day_spend_due.sql",
        build,
        days,
        tz,
        rebuild,
        tables=("ml.budget_day_spend",),
    )


def build(conn: psycopg.Connection, day: date, tz: str) -> int:
    """Replace local day `day`'s rows from its raw rows; returns the rows written."""
    params = {"day": day, "tz": tz}
    with conn.transaction():
        run_sql_file(conn, "ml/budget_day_spend_lock.sql", params)
        # Read before the raw rows: rows landing meanwhile make the day due again.
        row = run_sql_file(conn, "ml/budget_day_spend_source_rows.sql", params).fetchone()
        source_rows = int(row[0]) if row else 0
        run_sql_file(conn, "ml/budget_day_spend_delete.sql", params)
        spend_rows = run_sql_file(conn, "ml/budget_day_spend_insert.sql", params).rowcount
        run_sql_file(
            conn,
            "ml/budget_day_spend_record.sql",
            {**params, "source_rows": source_rows, "spend_rows": spend_rows},
        )
    return spend_rows


def read_features(
    conn: psycopg.Connection,
    day: date,
    tz: str,
    history_months: int = budget.HISTORY_MONTHS,
    min_habit_months: int = budget.MIN_HABIT_MONTHS,
) -> budget.BudgetFrame:
    """The feature rows of cut day `day` (`budget.read_features(conn, [day], ...)`, the
    same rows and values), from the daily rows (built first where due) when they give
    exactly the raw rows' figures, else from the raw rows."""
    if not 1 <= min_habit_months <= history_months:
        # The same check as the raw path's: "usual" must be positive.
        raise ValueError(
            f"min_habit_months={min_habit_months}, history_months={history_months}: "
            "need 1 <= min_habit_months <= history_months"
        )
    month_start = day.replace(day=1)
    history_start = budget.add_months(month_start, -history_months)
    if history_months > MAX_HISTORY_MONTHS or not ledger_day_stats.days_aligned(
        conn, history_start, day, tz
    ):
        return budget.read_features(conn, [day], tz, history_months, min_habit_months)
    days = [history_start + timedelta(days=n) for n in range((day - history_start).days + 1)]
    refresh(conn, days, tz, rebuild=[day])
    # Binary: float8 columns decode in about half the CPU of their text.
    with conn.cursor(binary=True) as cursor:
        rows = cursor.execute(
            read_sql("ml/budget_features_from_days.sql"),
            {
                "day": day,
                "month_start": month_start,
                "history_start": history_start,
                "last_month_start": budget.add_months(month_start, -1),
                "days_elapsed": day.day,
                "days_in_month": calendar.monthrange(day.year, day.month)[1],
                "history_months": history_months,
                "min_habit_months": min_habit_months,
            },
        ).fetchall()
    values = np.array([row[3:] for row in rows], dtype=np.float64).reshape(
        len(rows), len(budget.FEATURE_NAMES)
    )
    return budget.BudgetFrame(
        [day] * len(rows),
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        values,
    )
