"""Money as the rule-based recommendations show and suggest it: exact decimals.

Amounts stay `Decimal` from the database to the description (money is never float).
A suggested amount is rounded down to two significant digits, so that it reads like a
number a person would pick (1,234,567 -> 1,200,000; 412.50 -> 410) and never exceeds
the figure it was derived from; this works the same in every currency.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")
SUGGESTION_SIGNIFICANT_DIGITS = 2


def to_cents(amount: Decimal) -> Decimal:
    """`amount` with exactly two decimals (half-even, like the ledger's own sums)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def round_down_significant(amount: Decimal, digits: int = SUGGESTION_SIGNIFICANT_DIGITS) -> Decimal:
    """`amount` rounded towards zero to `digits` significant digits, with two decimals."""
    if amount <= 0:
        return Decimal("0.00")
    step = Decimal(1).scaleb(amount.adjusted() - digits + 1)
    return to_cents((amount / step).to_integral_value(rounding=ROUND_DOWN) * step)


def format_money(amount: Decimal, currency: str) -> str:
    """`1,250,000.00 IDR`: two decimals, thousands separated, the currency code after."""
    return f"{to_cents(amount):,.2f} {currency}"


def money_text(amount: Decimal) -> str:
    """An amount in a reason or URL: a plain decimal string with two decimals (exact)."""
    return str(to_cents(amount))
