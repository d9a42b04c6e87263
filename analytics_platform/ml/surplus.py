"""SAVINGS_GOAL: users whose wallet grew steadily, month after month.

A rule, not a model: "more came in than went out, every month, by a similar amount" is
a fact of the user's own ledger, and the suggested amount follows from it by arithmetic
a product manager can redo. Per user and currency (never summed across currencies),
from raw.wallet_balances (every credit and debit of every wallet):
- surplus of a window = credits - debits of the WINDOW_DAYS local days of the window;
  window 0 ends with the day, window k is the WINDOW_DAYS days before window k-1;
- steady: each of the last MONTHS windows has a positive surplus, the smallest at least
  MIN_STABILITY x their median, and the wallet had a change before them (within
  LOOKBACK_WINDOWS windows), so the first month is not just a new wallet's funding;
- suggested monthly amount: SAVE_FRACTION x the median surplus, rounded down to two
  significant digits. Since the worst month was at least MIN_STABILITY x the median and
  SAVE_FRACTION <= MIN_STABILITY, the amount fitted every one of those months.
Score: smallest / median surplus (the steadiness, 0.5-1); one row per user and day, for
the currency with the highest score (then the most months of history, then the code);
other steady currencies are listed in the reason.
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

from analytics_platform.ml import ledger_day_stats, recommendation_writes, wallet_window_cells
from analytics_platform.ml.amounts import format_money, money_text, round_down_significant
from analytics_platform.ml.scoring import ScoringReport
from analytics_platform.resources.warehouse import run_sql_file

TYPE = "SAVINGS_GOAL"
MODEL_NAME = "rule:surplus"
WINDOW_DAYS = 30
# A quarter: one good month is luck, three in a row is a habit.
MONTHS = 3
# How far back a wallet change proves the wallet existed before the months examined.
LOOKBACK_WINDOWS = 6
# The leanest month still saved at least half of a typical one.
MIN_STABILITY = Decimal("0.5")
# Half the typical surplus: a goal the user met even in the leanest month, leaving the
# rest of the surplus free.
SAVE_FRACTION = Decimal("0.5")


@dataclass(frozen=True)
class SurplusParams:
    window_days: int = WINDOW_DAYS
    months: int = MONTHS
    lookback_windows: int = LOOKBACK_WINDOWS
    min_stability: Decimal = MIN_STABILITY
    save_fraction: Decimal = SAVE_FRACTION

    def __post_init__(self) -> None:
        if self.save_fraction > self.min_stability:
            raise ValueError(
                f"save_fraction {self.save_fraction} > min_stability {self.min_stability}: "
                "the suggested amount would exceed the leanest month's surplus; lower it"
            )
        if self.lookback_windows <= self.months:
            raise ValueError(
                f"lookback_windows {self.lookback_windows} <= months {self.months}: no window "
                "is left to show the wallet existed before the months examined; raise it"
            )


@dataclass(frozen=True)
class SteadySurplus:
    user_id: str
    currency: str
    surpluses: tuple[Decimal, ...]  # window 0 first (the most recent month)
    credits: tuple[Decimal, ...]
    debits: tuple[Decimal, ...]
    history_windows: int  # windows with a wallet change, of the look-back
    median: Decimal
    suggested: Decimal

    @property
    def stability(self) -> Decimal:
        return min(self.surpluses) / self.median


def steady_surplus(
    user_id: str,
    currency: str,
    windows: dict[int, tuple[Decimal, Decimal]],
    params: SurplusParams,
) -> SteadySurplus | None:
    """The user's steady surplus in `currency` from (credits, debits) per window, if any."""
    if not any(w >= params.months for w in windows):
        return None
    zero = (Decimal(0), Decimal(0))
    months = [windows.get(w, zero) for w in range(params.months)]
    surpluses = tuple(credits - debits for credits, debits in months)
    if min(surpluses) <= 0:
        return None
    median = Decimal(statistics.median(surpluses))
    if min(surpluses) < params.min_stability * median:
        return None
    suggested = round_down_significant(params.save_fraction * median)
    if suggested <= 0:
        return None
    return SteadySurplus(
        user_id,
        currency,
        surpluses,
        tuple(c for c, _ in months),
        tuple(d for _, d in months),
        len(windows),
        median,
        suggested,
    )


def detect(
    conn: psycopg.Connection,
    day: date,
    tz: str,
    params: SurplusParams = SurplusParams(),
    from_stats: bool = True,
) -> tuple[int, dict[str, list[SteadySurplus]]]:
    """(user-currency pairs examined, each user's steady surpluses, the chosen one first).

    From ml.wallet_day_stats where its local days are whole (the same rows), through the
    carried per-window sums of `wallet_window_cells` at the default windows, else, or
    without `from_stats`, from raw.wallet_balances (the reference)."""
    windows: dict[tuple[str, str], dict[int, tuple[Decimal, Decimal]]] = defaultdict(dict)
    days = params.window_days * params.lookback_windows
    stats = from_stats and ledger_day_stats.prepared(conn, day, days, tz)
    query = {
        "day": day,
        "tz": tz,
        "window_days": params.window_days,
        "windows": params.lookback_windows,
        "months": params.months,
    }
    examined: int | None = None
    carried = (params.window_days, params.lookback_windows) == (
        wallet_window_cells.WINDOW_DAYS,
        wallet_window_cells.WINDOWS,
    )
    if stats and carried:
        # The carried cells are the day's only inside the transaction holding their lock.
        with conn.transaction():
            wallet_window_cells.prepare(conn, day, tz)
            row = run_sql_file(conn, "ml/surplus_pairs_from_cells.sql", query).fetchone()
            examined = int(row[0]) if row else 0
            # Only the pairs whose last months all had a surplus (a few in a hundred):
            # the others' windows never become Decimals and dictionaries here.
            rows = run_sql_file(conn, "ml/surplus_windows_from_cells.sql", query).fetchall()
    else:
        sql_file = "ml/surplus_windows_from_days.sql" if stats else "ml/surplus_windows.sql"
        rows = run_sql_file(conn, sql_file, query).fetchall()
    for user_id, currency, window, credits, debits in rows:
        windows[(user_id, currency)][window] = (credits, debits)
    by_user: dict[str, list[SteadySurplus]] = defaultdict(list)
    for (user_id, currency), by_window in windows.items():
        found = steady_surplus(user_id, currency, by_window, params)
        if found is not None:
            by_user[user_id].append(found)
    ranked = {
        user: sorted(found, key=lambda s: (-s.stability, -s.history_windows, s.currency))
        for user, found in by_user.items()
    }
    return (len(windows) if examined is None else examined), ranked


def _row(found: Sequence[SteadySurplus], params: SurplusParams) -> dict[str, object]:
    top = found[0]
    score = float(top.stability)
    months = params.months
    typical = format_money(top.median, top.currency)
    leanest = format_money(min(top.surpluses), top.currency)
    suggested = format_money(top.suggested, top.currency)
    query = urlencode({"amount": money_text(top.suggested), "currency": top.currency})
    return {
        "user_id": top.user_id,
        "type": TYPE,
        "title": "Start a savings goal",
        "description": (
            f"In each of the last {months} months ({params.window_days} days each) more came "
            f"into your wallet than went out: {typical} in a typical month, {leanest} in the "
            f"leanest. Setting aside {suggested} a month would have fitted every one of them."
        ),
        "action_url": f"/wallet/savings/goals/new?{query}",
        "priority": recommendation_writes.priority_of(score),
        "score": round(score, 6),
        "reason": json.dumps(
            {
                "currency": top.currency,
                "window_days": params.window_days,
                "surplus_by_month": [money_text(s) for s in top.surpluses],
                "credits_by_month": [money_text(c) for c in top.credits],
                "debits_by_month": [money_text(d) for d in top.debits],
                "median_surplus": money_text(top.median),
                "stability": round(score, 6),
                "save_fraction": str(params.save_fraction),
                "suggested_monthly_amount": money_text(top.suggested),
                "other_currencies": [s.currency for s in found[1:]],
            }
        ),
        "model_name": MODEL_NAME,
        "model_version": None,
    }


def score_savings_goal(
    conn: psycopg.Connection, day: date, tz: str, params: SurplusParams = SurplusParams()
) -> ScoringReport:
    """Replace the day's SAVINGS_GOAL rows from the wallet changes before the end of the day."""
    examined, ranked = detect(conn, day, tz, params)
    rows = [_row(ranked[user], params) for user in sorted(ranked)]
    written = recommendation_writes.replace_day(conn, day, tz, [TYPE], rows)
    return ScoringReport(examined, written, MODEL_NAME, None, "")
