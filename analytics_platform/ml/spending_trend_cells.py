"""SPENDING_TREND's carried state: ml.spending_trend_cells, the sums of ml.spend_day_stats
per user, currency, category and window (window w holds the local days
(day - window_days x (w + 1), day - window_days x w]) as of one day.

The windows move by one day a day, so the next day's cells are the previous day's with,
per window, one day's rows added and one day's taken away: windows + 1 day-slices read
instead of window_days x windows days summed (about 40 % of the step at 20,000 users;
issue 14). Sums of numeric are exact, so the moved cells are the summed ones, as long as
the state is exactly the previous day's: the state is moved only when it is as of the
day before in the same zone and windows, no day row it summed was rebuilt since it was
written (late events rebuild their day, ml.ledger_day_stats_days.built_at; so does a
re-run of a day), and the rows moved have the scales of those summed (a subtraction
keeps a scale a fresh sum would drop). Otherwise (first day, a gap, a re-run of an older
day, another zone, a late event, a crash: the tables are UNLOGGED) the cells are summed
again from the day rows: the full computation, which is also the reference the tests
compare the moved cells with.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import psycopg

from analytics_platform.resources.warehouse import run_sql_file

Prepared = Literal["moved", "summed"]


def prepare(
    conn: psycopg.Connection, day: date, tz: str, window_days: int, windows: int
) -> Prepared:
    """Make ml.spending_trend_cells the cells of `day` (the caller's transaction holds
    the state's lock to its end: read them in it): "moved" from the previous day's, or
    "summed" again from the day rows (their due days must be built first:
    ledger_day_stats.prepared)."""
    params = {"day": day, "tz": tz, "window_days": window_days, "windows": windows}
    run_sql_file(conn, "ml/spending_trend_cells_lock.sql", params)
    run_sql_file(conn, "ml/spending_trend_cells_lock_days.sql", params)
    row = run_sql_file(conn, "ml/spending_trend_cells_movable.sql", params).fetchone()
    return move_or_sum(conn, "spending_trend_cells", params, movable=bool(row and row[0]))


def move_or_sum(
    conn: psycopg.Connection, family: str, params: dict[str, object], movable: bool
) -> Prepared:
    """Move a family of carried cells (`sql/ml/<family>_*.sql`: these cells and
    ml.wallet_window_cells) from the previous day's, or clear and sum them again from
    the day rows, and record the state: "moved" or "summed"."""
    if movable:
        run_sql_file(conn, f"ml/{family}_move.sql", params)
        run_sql_file(conn, f"ml/{family}_drop_empty.sql", params)
        run_sql_file(conn, f"ml/{family}_record_move.sql", params)
        return "moved"
    run_sql_file(conn, f"ml/{family}_clear.sql", params)
    run_sql_file(conn, f"ml/{family}_build.sql", params)
    run_sql_file(conn, f"ml/{family}_record.sql", params)
    return "summed"
