"""The rule-based recommendation types of a day, each replacing its own rows.

SPENDING_TREND (`spending_trend`), SAVINGS_GOAL (`surplus`) and INVESTMENT
(`idle_balance`): statistics of the user's own history, no model (docs/recommendations.md
says why). Each runs in its own transaction, so one type's re-run leaves the others alone.
"""

from __future__ import annotations

from datetime import date

import psycopg

from analytics_platform.ml import idle_balance, ledger_day_stats, spending_trend, surplus
from analytics_platform.ml.scoring import ScoringReport

RULE_TYPES = (spending_trend.TYPE, surplus.TYPE, idle_balance.TYPE)


def refresh_day(conn: psycopg.Connection, day: date, tz: str) -> None:
    """Rebuild the day's ledger aggregates, which the three rules read."""
    if ledger_day_stats.days_aligned(conn, day, day, tz):
        # The partition's own day is rebuilt: its raw rows may have changed without
        # ingestion's bookkeeping. Earlier days are rebuilt only when due (each rule).
        ledger_day_stats.refresh(conn, [day], tz, rebuild=[day])


def score_rules(conn: psycopg.Connection, day: date, tz: str) -> dict[str, ScoringReport]:
    """Each rule type's report of the day, by type."""
    refresh_day(conn, day, tz)
    return {
        spending_trend.TYPE: spending_trend.score_spending_trend(conn, day, tz),
        surplus.TYPE: surplus.score_savings_goal(conn, day, tz),
        idle_balance.TYPE: idle_balance.score_investment(conn, day, tz),
    }
