"""ml.spend_day_stats and ml.wallet_day_stats: per user and local day, what the rule-based
recommendations need of that day's raw rows (net spend, purchases and their squares per
currency and category; credits, debits, lowest and closing balance per wallet).

The rules (spending_trend, surplus, idle_balance) then read up to 180 small daily rows
per user instead of re-reading 180 days of raw.transactions and raw.wallet_balances.
Their windows are whole local days (cut at local midnights, bucketed by local date), so
daily sums add up to exactly what the raw rows give, wherever each local day is the
instants between two midnights (`days_aligned`; a zone whose DST change skips midnight
is not, and the rules then read the raw rows). A day is rebuilt whole from its raw rows
when it is missing, was cut in another time zone, or ingestion recorded rows in its
hours since it was built (ingest.touched_hours: late events), as ml.user_day_stats.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import psycopg

from analytics_platform.ml import daily_aggregates
from analytics_platform.resources.warehouse import run_sql_file

# The longest look-back of the rules at their defaults: six 30-day windows
# (SPENDING_TREND's history, SAVINGS_GOAL's look-back) and INVESTMENT's 180 days.
LOOKBACK_DAYS = 180


def days_ending(day: date, count: int) -> list[date]:
    """The `count` local days ending with `day`, oldest first."""
    return [day - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


def days_aligned(conn: psycopg.Connection, first_day: date, last_day: date, tz: str) -> bool:
    """Whether every local day of [first_day, last_day] in `tz` runs from midnight to
    midnight, so that the daily rows give exactly what the raw rows give."""
    row = run_sql_file(
        conn,
        "ml/ledger_days_aligned.sql",
        {"first_day": first_day, "last_day": last_day, "tz": tz},
    ).fetchone()
    return bool(row and row[0])


def prepared(conn: psycopg.Connection, day: date, count: int, tz: str) -> bool:
    """Whether a rule of `day` looking back `count` local days may read the daily rows:
    if they are aligned, the due ones among them are (re)built first."""
    days = days_ending(day, count)
    if not days_aligned(conn, days[0], days[-1], tz):
        return False
    refresh(conn, days, tz)
    return True


# Spend and wallet stats are built together, from these raw tables' rows.
DAY_TABLE = daily_aggregates.DayTable(
    days_table="ml.ledger_day_stats_days",
    raw_tables=("raw.transactions", "raw.wallet_balances"),
    analyze=("ml.spend_day_stats", "ml.wallet_day_stats"),
)


def refresh(
    conn: psycopg.Connection, days: Iterable[date], tz: str, rebuild: Iterable[date] = ()
) -> list[date]:
    """(Re)build the stats of those of `days` that are due, and of every day in
    `rebuild` (a partition's own day: its raw rows may have changed without ingestion's
    bookkeeping); returns the days built, oldest first."""
    return daily_aggregates.refresh_due(conn, DAY_TABLE, build, days, tz, rebuild)


def build(conn: psycopg.Connection, day: date, tz: str) -> tuple[int, int]:
    """Replace both tables' rows of local day `day` from its raw rows; returns the
    (spend, wallet) rows written."""
    params = {"day": day, "tz": tz}
    with conn.transaction():
        run_sql_file(conn, "ml/ledger_day_stats_lock.sql", params)
        # Read before the raw rows: rows landing meanwhile make the day due again.
        source_rows = daily_aggregates.source_rows(conn, DAY_TABLE, day, tz)
        run_sql_file(conn, "ml/ledger_day_stats_delete_spend.sql", params)
        run_sql_file(conn, "ml/ledger_day_stats_delete_wallet.sql", params)
        spend_rows = run_sql_file(conn, "ml/ledger_day_stats_insert_spend.sql", params).rowcount
        wallet_rows = run_sql_file(conn, "ml/ledger_day_stats_insert_wallet.sql", params).rowcount
        run_sql_file(
            conn,
            "ml/ledger_day_stats_record.sql",
            {**params, "source_rows": source_rows, "spend_rows": spend_rows,
             "wallet_rows": wallet_rows},
        )  # fmt: skip
    return spend_rows, wallet_rows
