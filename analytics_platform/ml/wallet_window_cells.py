"""SAVINGS_GOAL's and INVESTMENT's carried state: ml.wallet_window_cells, the credits and
debits of ml.wallet_day_stats per user, currency and window (window w holds the local
days (day - WINDOW_DAYS x (w + 1), day - WINDOW_DAYS x w]) as of one day, for WINDOWS
windows (SAVINGS_GOAL's look-back; INVESTMENT reads its first spend windows' debits).

Moved from the previous day's by WINDOWS + 1 day-slices, as SPENDING_TREND's cells are
(`spending_trend_cells`: the same conditions, the same fallback to summing the 180 days
again), and, since both rules read them and the day runs them in two lanes, found
current by the second rule of the day (as of the day, nothing rebuilt since). A moved
zero may keep a scale (0.00) that a fresh sum would not (0, a day row without credits):
the rules use the values only (amounts.py quantizes every amount shown).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import psycopg

from analytics_platform.ml.spending_trend_cells import move_or_sum
from analytics_platform.resources.warehouse import run_sql_file

# The rules' defaults: SAVINGS_GOAL's six 30-day windows (INVESTMENT's 180 days).
WINDOW_DAYS = 30
WINDOWS = 6

Prepared = Literal["current", "moved", "summed"]


def prepare(conn: psycopg.Connection, day: date, tz: str) -> Prepared:
    """Make ml.wallet_window_cells the cells of `day` (the caller's transaction holds the
    state's lock to its end: read them in it): "current" already, "moved" from the
    previous day's, or "summed" again from the day rows (their due days must be built
    first: ledger_day_stats.prepared)."""
    params = {"day": day, "tz": tz, "window_days": WINDOW_DAYS, "windows": WINDOWS}
    run_sql_file(conn, "ml/wallet_window_cells_lock.sql", params)
    run_sql_file(conn, "ml/spending_trend_cells_lock_days.sql", params)
    row = run_sql_file(conn, "ml/wallet_window_cells_status.sql", params).fetchone()
    status = row[0] if row else None
    if status == "current":
        return "current"
    return move_or_sum(conn, "wallet_window_cells", params, movable=status == "movable")
