"""INVESTMENT: money that sat in the wallet, well beyond what the user spends, for a month.

A rule, not a model: "this much never moved for 30 days, and it is several months of
your spending" is a fact of the ledger, and the suggested amount is arithmetic on it.
Per user and currency (never summed across currencies), from raw.wallet_balances:
- held: the lowest balance of the last HELD_DAYS local days ending with the day (summed
  over the user's wallets of that currency, each wallet's own lowest), i.e. money that
  stayed in the wallet the whole time;
- monthly spend: the heaviest of the last SPEND_WINDOWS WINDOW_DAYS-day windows' debits
  (everything that left the wallet), so the cushion covers the user's worst recent month;
- idle when held >= IDLE_MULTIPLE x monthly spend and the user spent anything at all
  (without spending there is no cushion to size: the inactivity reminder is for them);
- suggested amount: held - CUSHION_MONTHS x monthly spend, rounded down to two
  significant digits (at least one month of spend, since IDLE_MULTIPLE > CUSHION_MONTHS).
Score: held / (2 x IDLE_MULTIPLE x monthly spend), capped at 1 (0.5 at the threshold).
One row per user and day, for the currency with the highest score (then the code).
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

from analytics_platform.ml import ledger_day_stats, recommendation_writes, wallet_window_cells
from analytics_platform.ml.amounts import format_money, money_text, round_down_significant
from analytics_platform.ml.scoring import ScoringReport
from analytics_platform.resources.warehouse import run_sql_file

TYPE = "INVESTMENT"
MODEL_NAME = "rule:idle_balance"
WINDOW_DAYS = 30
# A month untouched: money that merely passes through the wallet is not idle.
HELD_DAYS = 30
# The cushion is sized on the heaviest of the last three months, not an average one.
SPEND_WINDOWS = 3
# Three months of the heaviest recent spending, held for a month, is more than a
# wallet needs for day-to-day payments.
IDLE_MULTIPLE = Decimal(3)
# Two months of spending stay at hand: the usual emergency-buffer advice, and it
# leaves at least one month's spend to invest.
CUSHION_MONTHS = Decimal(2)
# A wallet silent for half a year is a dormant user's, not an idle balance to act on.
LOOKBACK_DAYS = 180


@dataclass(frozen=True)
class IdleParams:
    window_days: int = WINDOW_DAYS
    held_days: int = HELD_DAYS
    spend_windows: int = SPEND_WINDOWS
    idle_multiple: Decimal = IDLE_MULTIPLE
    cushion_months: Decimal = CUSHION_MONTHS
    lookback_days: int = LOOKBACK_DAYS

    def __post_init__(self) -> None:
        if self.cushion_months >= self.idle_multiple:
            raise ValueError(
                f"cushion_months {self.cushion_months} >= idle_multiple {self.idle_multiple}: "
                "nothing would be left to invest; lower the cushion"
            )


@dataclass(frozen=True)
class IdleBalance:
    user_id: str
    currency: str
    held: Decimal
    window_debits: tuple[Decimal, ...]  # window 0 first
    suggested: Decimal

    @property
    def monthly_spend(self) -> Decimal:
        return max(self.window_debits)

    @property
    def multiple(self) -> Decimal:
        return self.held / self.monthly_spend


def idle_balance_of(
    user_id: str,
    currency: str,
    held: Decimal,
    window_debits: Sequence[Decimal],
    params: IdleParams,
) -> IdleBalance | None:
    """The user's idle balance in `currency`, if the held balance qualifies."""
    spend = max(window_debits)
    if spend <= 0 or held < params.idle_multiple * spend:
        return None
    suggested = round_down_significant(held - params.cushion_months * spend)
    if suggested <= 0:
        return None
    return IdleBalance(user_id, currency, held, tuple(window_debits), suggested)


def detect(
    conn: psycopg.Connection,
    day: date,
    tz: str,
    params: IdleParams = IdleParams(),
    from_stats: bool = True,
) -> tuple[int, dict[str, list[IdleBalance]]]:
    """(user-currency pairs examined, each user's idle balances, the chosen one first).

    From ml.wallet_day_stats where its local days are whole (the same rows), the spend
    windows' debits from the carried `wallet_window_cells` at the default windows, else,
    or without `from_stats`, from raw.wallet_balances (the reference)."""
    stats = from_stats and ledger_day_stats.prepared(conn, day, params.lookback_days, tz)
    query = {
        "day": day,
        "tz": tz,
        "window_days": params.window_days,
        "held_days": params.held_days,
        "spend_windows": params.spend_windows,
        "lookback_days": params.lookback_days,
    }
    # The carried cells hold the spend windows' debits when their windows are these, all
    # inside the look-back (the cells' own look-back).
    carried = (
        params.window_days == wallet_window_cells.WINDOW_DAYS
        and params.spend_windows <= wallet_window_cells.WINDOWS
        and params.lookback_days == wallet_window_cells.WINDOW_DAYS * wallet_window_cells.WINDOWS
    )
    if stats and carried:
        # The carried cells are the day's only inside the transaction holding their lock.
        with conn.transaction():
            wallet_window_cells.prepare(conn, day, tz)
            rows = run_sql_file(conn, "ml/idle_balance_from_cells.sql", query).fetchall()
    else:
        sql_file = "ml/idle_balance_from_days.sql" if stats else "ml/idle_balance.sql"
        rows = run_sql_file(conn, sql_file, query).fetchall()
    by_user: dict[str, list[IdleBalance]] = defaultdict(list)
    for user_id, currency, held, _wallets, window_debits in rows:
        found = idle_balance_of(user_id, currency, held, window_debits, params)
        if found is not None:
            by_user[user_id].append(found)
    ranked = {
        user: sorted(found, key=lambda b: (-_score(b, params), b.currency))
        for user, found in by_user.items()
    }
    return len(rows), ranked


def _score(found: IdleBalance, params: IdleParams) -> float:
    return min(1.0, float(found.multiple / (2 * params.idle_multiple)))


def _row(found: Sequence[IdleBalance], params: IdleParams) -> dict[str, object]:
    top = found[0]
    score = _score(top, params)
    held = format_money(top.held, top.currency)
    spend = format_money(top.monthly_spend, top.currency)
    suggested = format_money(top.suggested, top.currency)
    query = urlencode({"amount": money_text(top.suggested), "currency": top.currency})
    return {
        "user_id": top.user_id,
        "type": TYPE,
        "title": "Put your idle balance to work",
        "description": (
            f"Your {top.currency} balance has not fallen below {held} in the last "
            f"{params.held_days} days, {top.multiple:.1f}x your heaviest month of spending "
            f"lately ({spend}). Keeping {params.cushion_months:.0f} months of that at hand, "
            f"you could invest {suggested}."
        ),
        "action_url": f"/wallet/invest?{query}",
        "priority": recommendation_writes.priority_of(score),
        "score": round(score, 6),
        "reason": json.dumps(
            {
                "currency": top.currency,
                "held_balance": money_text(top.held),
                "held_days": params.held_days,
                "window_days": params.window_days,
                "debits_by_month": [money_text(d) for d in top.window_debits],
                "monthly_spend": money_text(top.monthly_spend),
                "multiple": round(float(top.multiple), 4),
                "idle_multiple": str(params.idle_multiple),
                "cushion_months": str(params.cushion_months),
                "suggested_amount": money_text(top.suggested),
                "other_currencies": [b.currency for b in found[1:]],
            }
        ),
        "model_name": MODEL_NAME,
        "model_version": None,
    }


def score_investment(
    conn: psycopg.Connection, day: date, tz: str, params: IdleParams = IdleParams()
) -> ScoringReport:
    """Replace the day's INVESTMENT rows from the wallet changes before the end of the day."""
    examined, ranked = detect(conn, day, tz, params)
    rows = [_row(ranked[user], params) for user in sorted(ranked)]
    written = recommendation_writes.replace_day(conn, day, tz, [TYPE], rows)
    return ScoringReport(examined, written, MODEL_NAME, None, "")
