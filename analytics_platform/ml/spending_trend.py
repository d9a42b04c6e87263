"""SPENDING_TREND: a category whose last 30 days stand out against the user's own months.

A rule, not a model: the question is "is this month unusual for this user", which the
user's own history answers directly, and a product manager can check every row by hand.
Per user, currency and category (never summed across currencies):
- current: the net spend (payments and bills less refunds) of the last WINDOW_DAYS
  local days ending with the day;
- history: the same figure for each earlier WINDOW_DAYS-day window (up to
  HISTORY_WINDOWS of them) in which the user made any successful transaction in that
  currency (an active window where the category saw nothing counts as 0);
- usual = median(history), spread = MAD_TO_SIGMA x median(|history - usual|), floored at
  SPREAD_FLOOR x usual; robust z = (current - usual) / spread.
A row when |z| >= Z_THRESHOLD and the change is at least MIN_BUDGET_SHARE of the user's
usual total monthly spend in that currency. One row per user and day (the row's id is
(day, user, type)): the category with the largest |z|; the others are in the reason.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

import psycopg

from analytics_platform.ml import recommendation_writes
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
# 1.4826 x MAD estimates the standard deviation of normal data: z reads like a z-score.
MAD_TO_SIGMA = 1.4826
# With two to five months the MAD is often 0 (equal months) or tiny; a month within
# 25 % of the usual is never called unusual, whatever the MAD says.
SPREAD_FLOOR = 0.25
# Three robust standard deviations: the usual outlier cut; with the floor it also means
# at least 1.75x (or at most a quarter of) the usual spend.
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
    spread: float
    z: float

    @property
    def ratio(self) -> float:
        return float(self.current / self.usual)


@dataclass(frozen=True)
class _Cell:
    """One (user, currency) pair's windows: spend per category, and active windows."""

    spend: dict[str, dict[int, Decimal]]
    active: set[int]


def _read_cells(
    conn: psycopg.Connection, day: date, tz: str, params: TrendParams
) -> dict[tuple[str, str], _Cell]:
    cells: dict[tuple[str, str], _Cell] = {}
    rows = run_sql_file(
        conn,
        "ml/spending_trend_windows.sql",
        {
            "day": day,
            "tz": tz,
            "window_days": params.window_days,
            "windows": params.history_windows + 1,
        },
    )
    for user_id, currency, window, category, spend in rows:
        cell = cells.get((user_id, currency))
        if cell is None:
            cell = cells[(user_id, currency)] = _Cell(defaultdict(dict), set())
        cell.active.add(window)
        if spend is not None:
            cell.spend[category][window] = spend
    return cells


def _median(values: Sequence[Decimal]) -> Decimal:
    return Decimal(statistics.median(values))


def trends_of(user_id: str, currency: str, cell: _Cell, params: TrendParams) -> list[Trend]:
    """The significant trends of one user and currency (none if the history is short)."""
    history_windows = sorted(w for w in cell.active if w > 0)
    if 0 not in cell.active or len(history_windows) < params.min_history_windows:
        return []
    totals = [
        sum((by_window.get(w, Decimal(0)) for by_window in cell.spend.values()), Decimal(0))
        for w in history_windows
    ]
    material = params.min_budget_share * _median(totals)
    found = []
    for category in sorted(cell.spend):
        by_window = cell.spend[category]
        history = tuple(max(Decimal(0), by_window.get(w, Decimal(0))) for w in history_windows)
        usual = _median(history)
        if usual <= 0:
            continue  # nothing usual to compare with: a new category is not a trend
        current = max(Decimal(0), by_window.get(0, Decimal(0)))
        mad = _median([abs(h - usual) for h in history])
        spread = max(MAD_TO_SIGMA * float(mad), params.spread_floor * float(usual))
        z = float(current - usual) / spread
        if abs(z) >= params.z_threshold and abs(current - usual) >= material:
            found.append(Trend(user_id, currency, category, current, usual, history, spread, z))
    return found


def detect(
    conn: psycopg.Connection, day: date, tz: str, params: TrendParams = TrendParams()
) -> tuple[int, dict[str, list[Trend]]]:
    """(user-currency pairs examined, each user's trends, strongest first)."""
    cells = _read_cells(conn, day, tz, params)
    by_user: dict[str, list[Trend]] = defaultdict(list)
    for (user_id, currency), cell in cells.items():
        by_user[user_id].extend(trends_of(user_id, currency, cell, params))
    ranked = {
        user: sorted(found, key=lambda t: (-abs(t.z), t.currency, t.category))
        for user, found in by_user.items()
        if found
    }
    return len(cells), ranked


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
        "ratio": round(trend.ratio, 4),
        "robust_z": round(trend.z, 4),
    }


def rows_of(ranked: dict[str, list[Trend]], params: TrendParams) -> list[dict[str, object]]:
    return [_row(ranked[user], params) for user in sorted(ranked)]


def score_spending_trend(
    conn: psycopg.Connection, day: date, tz: str, params: TrendParams = TrendParams()
) -> ScoringReport:
    """Replace the day's SPENDING_TREND rows from the events before the end of the day."""
    examined, ranked = detect(conn, day, tz, params)
    written = recommendation_writes.replace_day(conn, day, tz, [TYPE], rows_of(ranked, params))
    return ScoringReport(examined, written, MODEL_NAME, None, "")
