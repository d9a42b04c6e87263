"""An independent computation of RFM scores, segments and transitions with polars, from
the raw transaction dicts the tests load (written apart from sql/customers/).

Days are cut with zoneinfo, amounts summed as integer cents, breakpoints taken as the
sorted value at position ceil(p * n) (what percentile_disc returns), segments from the
rule list in Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl

from analytics_platform.customers.segments import SegmentRule, segment_of

PURCHASE_TYPES = ("PAYMENT", "BILL_PAYMENT")
QUANTILES = (0.2, 0.4, 0.6, 0.8)


def _breakpoints(values: list) -> list:
    ordered = sorted(values)
    return [ordered[max(math.ceil(p * len(ordered)), 1) - 1] for p in QUANTILES]


def _score(value: object, breakpoints: list) -> int:
    return 1 + sum(1 for b in breakpoints if b < value)


def expected_scores(
    events: Sequence[dict],
    tz: ZoneInfo,
    day: date,
    lookback_days: int,
    rules: tuple[SegmentRule, ...],
) -> dict[str, tuple]:
    """user -> (currency, recency_days, frequency, monetary, r, f, m, segment) of `day`."""
    rows = [
        {
            "user_id": e["user_id"],
            "currency": e["currency"],
            "day": e["occurred_at"].astimezone(tz).date(),
            "cents": int(Decimal(e["amount"]) * 100),
        }
        for e in events
        if e["status"] == "SUCCESS" and e["transaction_type"] in PURCHASE_TYPES
    ]
    frame = pl.DataFrame(
        rows, schema={"user_id": pl.Utf8, "currency": pl.Utf8, "day": pl.Date, "cents": pl.Int64}
    ).filter((pl.col("day") > day - timedelta(days=lookback_days)) & (pl.col("day") <= day))
    per_currency = frame.group_by("user_id", "currency").agg(
        pl.len().alias("n"), pl.col("cents").sum(), pl.col("day").max().alias("last")
    )
    main = (
        per_currency.sort(["n", "cents", "currency"], descending=[True, True, False])
        .group_by("user_id", maintain_order=True)
        .first()
        .select("user_id", "currency", pl.col("cents").alias("monetary_cents"))
    )
    users = (
        per_currency.group_by("user_id")
        .agg(pl.col("n").sum().alias("frequency"), pl.col("last").max())
        .join(main, on="user_id")
    )
    if users.is_empty():
        return {}
    r_b = _breakpoints(users["last"].to_list())
    f_b = _breakpoints(users["frequency"].to_list())
    m_b = {
        currency: _breakpoints(group["monetary_cents"].to_list())
        for (currency,), group in users.group_by("currency")
    }
    result = {}
    for u in users.iter_rows(named=True):
        r = _score(u["last"], r_b)
        f = _score(u["frequency"], f_b)
        m = _score(u["monetary_cents"], m_b[u["currency"]])
        result[u["user_id"]] = (
            u["currency"],
            (day - u["last"]).days,
            u["frequency"],
            Decimal(u["monetary_cents"]) / 100,
            r,
            f,
            m,
            segment_of(rules, r, f, m),
        )
    return result


def expected_transitions(
    base: dict[str, tuple], today: dict[str, tuple]
) -> dict[tuple[str, str], int]:
    """(from segment, to segment) -> users, '(none)' for a user scored on one day only."""
    moves = [
        ((base[u][-1] if u in base else "(none)"), (today[u][-1] if u in today else "(none)"))
        for u in set(base) | set(today)
    ]
    frame = pl.DataFrame(moves, schema=["from", "to"], orient="row")
    if frame.is_empty():
        return {}
    counted = frame.group_by("from", "to").len()
    return {(row[0], row[1]): row[2] for row in counted.iter_rows()}
