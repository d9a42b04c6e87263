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
from datetime import date
from itertools import pairwise

import numpy as np
import psycopg

from analytics_platform.ml import budget, daily_aggregates, ledger_day_stats
from analytics_platform.resources.warehouse import read_sql, run_sql_file

# Bits of the bigint whose set bits are the history months with spending
# (budget_features_from_days.sql); longer histories read the raw rows.
MAX_HISTORY_MONTHS = 63


DAY_TABLE = daily_aggregates.DayTable(
    days_table="ml.budget_day_spend_days",
    raw_tables=("raw.transactions",),
    analyze=("ml.budget_day_spend",),
)


def refresh(
    conn: psycopg.Connection, days: Iterable[date], tz: str, rebuild: Iterable[date] = ()
) -> list[date]:
    """(Re)build the due days among `days` and every day of `rebuild`; returns the days
    built, oldest first."""
    return daily_aggregates.refresh_due(conn, DAY_TABLE, build, days, tz, rebuild)


def build(conn: psycopg.Connection, day: date, tz: str) -> int:
    """Replace local day `day`'s rows from its raw rows; returns the rows written."""
    params = {"day": day, "tz": tz}
    with conn.transaction():
        run_sql_file(conn, "ml/budget_day_spend_lock.sql", params)
        # Read before the raw rows: rows landing meanwhile make the day due again.
        source_rows = daily_aggregates.source_rows(conn, DAY_TABLE, day, tz)
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
    _check_months(history_months, min_habit_months)
    if not _exact(conn, day, tz, history_months):
        return budget.read_features(conn, [day], tz, history_months, min_habit_months)
    refresh(conn, _window(day, history_months), tz, rebuild=[day])
    return _read_day(conn, day, history_months, min_habit_months)


def read_features_at_cuts(
    conn: psycopg.Connection,
    cuts: list[date],
    tz: str,
    history_months: int = budget.HISTORY_MONTHS,
    min_habit_months: int = budget.MIN_HABIT_MONTHS,
) -> budget.BudgetFrame:
    """The feature rows of every cut day of `cuts` (distinct days: `budget.read_features(
    conn, cuts, ...)`'s rows, values and order), the training's: each cut from the daily
    rows where `read_features` would read them for that day, the others from the raw rows
    in one query. The due days the daily rows' cuts read are built first: on a first
    training every day from the first cut's history to the last cut, later only the days
    late events reached (the cuts are past days, trusted to ingestion's bookkeeping as
    scoring trusts its history days)."""
    _check_months(history_months, min_habit_months)
    ordered = sorted(set(cuts))
    exact = [cut for cut in ordered if _exact(conn, cut, tz, history_months)]
    raw_cuts = sorted(set(ordered) - set(exact))
    # The days the exact cuts read (never the unaligned days between them).
    refresh(conn, {day for cut in exact for day in _window(cut, history_months)}, tz)
    # Serial plans, as the day's scoring has (daily.serial_plans): parallel workers hand
    # numeric partial sums to the leader, which spent more CPU combining them than one
    # pass took (about 9.5 -> 7.5 backend CPU s for the benchmark's 11 cuts at 20,000
    # users). One query per cut: a query of all cuts that read each month's daily rows
    # once took more (the users pay on few days, so each cut still needed its own rows).
    with conn.transaction():
        conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        frames = [_read_day(conn, cut, history_months, min_habit_months) for cut in exact]
    if raw_cuts:
        frames.append(budget.read_features(conn, raw_cuts, tz, history_months, min_habit_months))
    return _by_cut_day(frames)


def _check_months(history_months: int, min_habit_months: int) -> None:
    if not 1 <= min_habit_months <= history_months:
        # The same check as the raw path's: "usual" must be positive.
        raise ValueError(
            f"min_habit_months={min_habit_months}, history_months={history_months}: "
            "need 1 <= min_habit_months <= history_months"
        )


def _history_start(day: date, history_months: int) -> date:
    return budget.add_months(day.replace(day=1), -history_months)


def _exact(conn: psycopg.Connection, day: date, tz: str, history_months: int) -> bool:
    """Whether cut day `day`'s features may be read from the daily rows."""
    return history_months <= MAX_HISTORY_MONTHS and ledger_day_stats.days_aligned(
        conn, _history_start(day, history_months), day, tz
    )


def _window(cut: date, history_months: int) -> list[date]:
    """Every day cut day `cut` reads."""
    start = _history_start(cut, history_months)
    return ledger_day_stats.days_ending(cut, (cut - start).days + 1)


def _read_day(
    conn: psycopg.Connection, day: date, history_months: int, min_habit_months: int
) -> budget.BudgetFrame:
    """Cut day `day`'s feature rows from the daily rows (built and aligned)."""
    month_start = day.replace(day=1)
    # Binary: float8 columns decode in about half the CPU of their text.
    with conn.cursor(binary=True) as cursor:
        rows = cursor.execute(
            read_sql("ml/budget_features_from_days.sql"),
            {
                "day": day,
                "month_start": month_start,
                "history_start": _history_start(day, history_months),
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


def _by_cut_day(frames: list[budget.BudgetFrame]) -> budget.BudgetFrame:
    """The frames' rows in one frame ordered by cut day, each cut day's rows in their
    frame's order (user, category, currency). Each frame is ordered by cut day, and no
    cut day is in two frames."""
    cut_days = [d for f in frames for d in f.cut_days]
    user_ids = [u for f in frames for u in f.user_ids]
    categories = [c for f in frames for c in f.categories]
    currencies = [c for f in frames for c in f.currencies]
    values = np.concatenate(
        [f.values for f in frames] or [np.zeros((0, len(budget.FEATURE_NAMES)))]
    )
    spans = [(f.cut_days[0], f.cut_days[-1]) for f in frames if len(f)]
    if all(last < first for (_, last), (first, _) in pairwise(spans)):
        return budget.BudgetFrame(cut_days, user_ids, categories, currencies, values)
    # The raw rows serve cuts between others (a DST change in the window): a stable sort.
    order = sorted(range(len(cut_days)), key=cut_days.__getitem__)
    return budget.BudgetFrame(
        [cut_days[i] for i in order],
        [user_ids[i] for i in order],
        [categories[i] for i in order],
        [currencies[i] for i in order],
        values[order],
    )
