"""SPENDING_TREND: a category whose last 30 days stand out against the user's own months.

A rule, not a model: the question is "is this month unusual for this user", which the
user's own history answers directly, and a product manager can check every row by hand.
Per user, currency and category (never summed across currencies), in SQL
(`sql/ml/spending_trend.sql`, which does the arithmetic so that only the rows found
leave the database):
- current: the net spend (payments and bills less refunds) of the last WINDOW_DAYS
  local days ending with the day;
- history: the same figure for each earlier WINDOW_DAYS-day window (up to
  HISTORY_WINDOWS of them) in which the user made any successful transaction in that
  currency (an active window where the category saw nothing counts as 0); a category
  needs a usual (median) MIN_USUAL_PURCHASES purchases a month;
- usual = median(history); spread = the largest of MAD_TO_SIGMA x median(|history -
  usual|), SPREAD_FLOOR x usual, and sqrt(usual purchases x mean squared purchase
  amount): the standard deviation of a month of that many purchases of the user's own
  sizes arriving at random (compound Poisson), i.e. the swing chance alone produces;
  robust z = (current - usual) / spread.
A row when |z| >= Z_THRESHOLD and the change is at least MIN_BUDGET_SHARE of the user's
usual total monthly spend in that currency. One row per user and day (the row's id is
(day, user, type)): the category with the largest |z|; the others are in the reason.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

import psycopg

from analytics_platform.ml import ledger_day_stats, recommendation_writes, spending_trend_cells
from analytics_platform.ml.amounts import format_money, money_text
from analytics_platform.ml.scoring import ScoringReport
from analytics_platform.resources.warehouse import run_sql_file

TYPE = "SPENDING_TREND"
MODEL_NAME = "rule:spending_trend"
# A month is what users budget in and what "usual" means to them.
WINDOW_DAYS = 30
# Up to half a year of earlier months: long enough for a stable median, short enough
# that a change of habit a year ago is not "unusual" today.
HISTORY_WINDOWS = 5
# Fewer than two earlier active months give no "usual" to compare against.
MIN_HISTORY_WINDOWS = 2
# A category bought fewer than three times in a usual month has no stable monthly
# figure: one large purchase (a doctor's bill, a flight) is an event, not a trend.
MIN_USUAL_PURCHASES = 3
# 1.4826 x MAD estimates the standard deviation of normal data: z reads like a z-score.
MAD_TO_SIGMA = 1.4826
# With two to five months the MAD is often 0 (equal months) or tiny; a month within
# 25 % of the usual is never called unusual, whatever the MAD says.
SPREAD_FLOOR = 0.25
# Three robust standard deviations: the usual outlier cut. With the floors it means at
# least 1.75x the usual spend, and more for categories bought a few times a month or in
# very uneven amounts (a month of n purchases swings by about 1/sqrt(n) of itself, more
# when sizes vary, by chance alone).
Z_THRESHOLD = 3.0
# A change smaller than a tenth of the user's usual monthly spend does not matter to
# their budget (3x on coffee is not news).
MIN_BUDGET_SHARE = Decimal("0.10")
# A fall in spending is good news: it never outranks a warning.
DECREASE_MAX_PRIORITY = 2
SPEND_TYPES_NOTE = "PAYMENT + BILL_PAYMENT - REFUND"


@dataclass(frozen=True)
class TrendParams:
    window_days: int = WINDOW_DAYS
    history_windows: int = HISTORY_WINDOWS
    min_history_windows: int = MIN_HISTORY_WINDOWS
    min_usual_purchases: float = MIN_USUAL_PURCHASES
    z_threshold: float = Z_THRESHOLD
    spread_floor: float = SPREAD_FLOOR
    min_budget_share: Decimal = MIN_BUDGET_SHARE


@dataclass(frozen=True)
class Trend:
    """A significant change of one user's spend in one currency and category."""

    user_id: str
    currency: str
    category: str
    current: Decimal
    usual: Decimal
    history: tuple[Decimal, ...]  # by window, most recent first (window 1, 2, ...)
    usual_purchases: float
    usual_total: Decimal  # the user's usual monthly spend in the currency, all categories
    spread: float
    z: float

    @property
    def ratio(self) -> float:
        return float(self.current / self.usual)


def detect(
    conn: psycopg.Connection,
    day: date,
    tz: str,
    params: TrendParams = TrendParams(),
    from_stats: bool = True,
) -> tuple[int, dict[str, list[Trend]]]:
    """(user-currency pairs with enough history, each user's trends, strongest first).

    From ml.spend_day_stats where its local days are whole (the same rows), through the
    carried per-window sums of `spending_trend_cells` (moved from the previous day's when
    they are exactly its, else summed again), else, or without `from_stats`, from the raw
    transactions (the reference)."""
    windows = params.history_windows + 1
    stats = from_stats and ledger_day_stats.prepared(conn, day, params.window_days * windows, tz)
    query = {
        "day": day,
        "tz": tz,
        "window_days": params.window_days,
        "windows": windows,
        "min_history": params.min_history_windows,
        "min_usual_purchases": params.min_usual_purchases,
        "mad_to_sigma": MAD_TO_SIGMA,
        "spread_floor": params.spread_floor,
        "z_threshold": params.z_threshold,
        "min_budget_share": params.min_budget_share,
    }
    if stats:
        # The carried cells are the day's only inside the transaction holding their lock.
        with conn.transaction():
            spending_trend_cells.prepare(conn, day, tz, params.window_days, windows)
            rows = run_sql_file(conn, "ml/spending_trend_from_days.sql", query).fetchall()
    else:
        rows = run_sql_file(conn, "ml/spending_trend.sql", query).fetchall()
    by_user: dict[str, list[Trend]] = defaultdict(list)
    for _judged, *row in rows:
        if row[0] is not None:  # the row of NULLs says only how many pairs were judged
            trend = Trend(*row[:5], tuple(row[5]), *row[6:])
            by_user[trend.user_id].append(trend)
    ranked = {
        user: sorted(found, key=lambda t: (-abs(t.z), t.currency, t.category))
        for user, found in by_user.items()
    }
    return (rows[0][0] if rows else 0), ranked


def _label(category: str) -> str:
    return category.replace("_", " ")


def _row(trends: Sequence[Trend], params: TrendParams) -> dict[str, object]:
    top = trends[0]
    # 0.5 at the threshold (priority 3), 1 from twice the threshold on (priority 5).
    score = min(1.0, abs(top.z) / (2 * params.z_threshold))
    priority = recommendation_writes.priority_of(score)
    spent = format_money(top.current, top.currency)
    usual = format_money(top.usual, top.currency)
    lead = f"You spent {spent} on {_label(top.category)} in the last {params.window_days} days"
    if top.z > 0:
        title = f"Your {_label(top.category)} spending is up"
        description = f"{lead}, {top.ratio:.1f}x your usual {usual}."
    else:
        title = f"Your {_label(top.category)} spending is down"
        description = f"{lead}, {1 - top.ratio:.0%} less than your usual {usual}."
        priority = min(priority, DECREASE_MAX_PRIORITY)
    query = urlencode({"category": top.category, "currency": top.currency})
    return {
        "user_id": top.user_id,
        "type": TYPE,
        "title": title,
        "description": description,
        "action_url": f"/wallet/insights/spending?{query}",
        "priority": priority,
        "score": round(score, 6),
        "reason": json.dumps(
            {
                **_evidence(top),
                "window_days": params.window_days,
                "spend": SPEND_TYPES_NOTE,
                "z_threshold": params.z_threshold,
                "other_trends": [_evidence(t) for t in trends[1:]],
            }
        ),
        "model_name": MODEL_NAME,
        "model_version": None,
    }


def _evidence(trend: Trend) -> dict[str, object]:
    return {
        "currency": trend.currency,
        "category": trend.category,
        "direction": "up" if trend.z > 0 else "down",
        "current_spend": money_text(trend.current),
        "usual_spend": money_text(trend.usual),
        "history_spend": [money_text(h) for h in trend.history],
        "usual_purchases": trend.usual_purchases,
        "usual_monthly_spend_all_categories": money_text(trend.usual_total),
        "spread": round(trend.spread, 4),
        "ratio": round(trend.ratio, 4),
        "robust_z": round(trend.z, 4),
    }


def rows_of(ranked: dict[str, list[Trend]], params: TrendParams) -> list[dict[str, object]]:
    return [_row(ranked[user], params) for user in sorted(ranked)]


def score_spending_trend(
    conn: psycopg.Connection, day: date, tz: str, params: TrendParams = TrendParams()
) -> ScoringReport:
    """Replace the day's SPENDING_TREND rows from the events before the end of the day."""
    judged, ranked = detect(conn, day, tz, params)
    written = recommendation_writes.replace_day(conn, day, tz, [TYPE], rows_of(ranked, params))
    return ScoringReport(judged, written, MODEL_NAME, None, "")
