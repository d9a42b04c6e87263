"""Customers: RFM scores, segments and headline numbers, read from customers.rfm_scores
and customers.segment_transitions exactly as the assets wrote them. Platform-wide user
rows: admin keys only (row-level security returns nothing to others). A merchant key's
RFM page is scored on demand over that merchant's own transactions (merchant_rfm_page)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from typing import Any

import psycopg

from analytics_platform.api.errors import ApiError, invalid
from analytics_platform.api.pagination import decode_cursor, encode_cursor
from analytics_platform.api.queries.common import Ask, Freshness, percent
from analytics_platform.api.schemas import (
    Insight,
    Insights,
    RfmPage,
    RfmScores,
    RfmUser,
    SegmentFigures,
    SegmentMove,
    SegmentRevenue,
    Segments,
)
from analytics_platform.customers.segments import cell_params, load_rules

RFM_SOURCE = "customers.rfm_scores"
TRANSITIONS_SOURCE = "customers.segment_transitions"
INSIGHT_PERIOD = timedelta(days=30)


async def scored_day(ask: Ask, day: date | None) -> dict[str, Any] | None:
    """The day to read: `day` (400 if it has no scores) or the newest scored day."""
    rows = await ask.rows("customers/rfm_api_day.sql", {"day": day})
    if day is not None and not rows:
        raise invalid("day", f"no RFM scores for {day}; omit it for the newest scored day")
    return rows[0] if rows else None


def day_freshness(found: dict[str, Any]) -> Freshness:
    """A day's scores change only when a run records the day again: its record is what
    the response read (Last-Modified) and its token."""
    return Freshness(
        found["computed_at"], f"{found['day']}|{found['computed_at']}|{found['users']}"
    )


async def rfm_page(
    ask: Ask, day: date | None, filters: dict[str, Any], cursor: str | None, limit: int
) -> tuple[RfmPage, Freshness]:
    found = await scored_day(ask, day)
    query = ("customers-rfm", found["day"] if found else None, sorted(filters.items()))
    after = decode_cursor(cursor, query)
    if found is None:
        return RfmPage(day=None, lookback_days=None, items=[], next_cursor=None), Freshness(
            None, "-"
        )
    rows = await ask.rows(
        "customers/rfm_api_page.sql",
        {**filters, "day": found["day"], "after": after[0] if after else "", "limit": limit + 1},
    )
    items = [RfmUser(**r) for r in rows[:limit]]
    next_cursor = encode_cursor((items[-1].user_id,), query) if len(rows) > limit else None
    page = RfmPage(
        day=found["day"], lookback_days=found["lookback_days"], items=items, next_cursor=next_cursor
    )
    return page, day_freshness(found)


@cache
def _cell_segments() -> list[str]:
    """The segment of each score cell, from the rule table the assets use (read once)."""
    return cell_params(load_rules())["cell_segments"]


async def merchant_rfm_page(
    ask: Ask,
    merchant_id: str,
    day: date | None,
    filters: dict[str, Any],
    cursor: str | None,
    limit: int,
) -> tuple[RfmPage, Freshness]:
    """A merchant's customers scored on demand over its own purchases, as of a day the
    platform has scored (the same default day, look-back and 400 for an unscored day as
    the platform's page). Each page recomputes the merchant's scores: the cost is one
    scan of the look-back's raw transactions (docs/customer-scores.md has the figures),
    so a page over the API's statement timeout is a 503 that says so."""
    found = await scored_day(ask, day)
    query = ("customers-rfm-merchant", found["day"] if found else None, sorted(filters.items()))
    after = decode_cursor(cursor, query)
    if found is None:
        return RfmPage(day=None, lookback_days=None, items=[], next_cursor=None), Freshness(
            None, "-"
        )
    params = {
        **filters,
        "merchant_id": merchant_id,
        "day": found["day"],
        "lookback_days": found["lookback_days"],
        "tz": ask.reporting_tz.key,
        "cell_segments": _cell_segments(),
        "after": after[0] if after else "",
        "limit": limit + 1,
    }
    try:
        rows = await ask.rows("customers/rfm_merchant_page.sql", params)
    except psycopg.errors.QueryCanceled:
        raise ApiError(
            "ANA_SYS_003",
            f"scoring merchant {merchant_id}'s customers on demand over the look-back's "
            "transactions took longer than the API allows (API_STATEMENT_TIMEOUT_MS); retry "
            "later (a repeated page is cached), or ask the operator for a longer timeout",
        ) from None
    items = [RfmUser(**r) for r in rows[:limit]]
    next_cursor = encode_cursor((items[-1].user_id,), query) if len(rows) > limit else None
    page = RfmPage(
        day=found["day"], lookback_days=found["lookback_days"], items=items, next_cursor=next_cursor
    )
    return page, day_freshness(found)


async def segments(ask: Ask, day: date | None) -> tuple[Segments, Freshness]:
    found = await scored_day(ask, day)
    if found is None:
        return Segments(day=None, customers=0, items=[], transitions=[]), Freshness(None, "-")
    params = {"day": found["day"]}
    summary = await ask.rows("customers/segment_api_summary.sql", params)
    revenue = await ask.rows("customers/segment_api_revenue.sql", params)
    moves = await ask.rows("customers/segment_api_transitions.sql", params)
    customers = sum(r["users"] for r in summary)
    items = [
        SegmentFigures(
            segment=r["segment"],
            users=r["users"],
            user_share=_share(r["users"], customers),
            avg_r_score=float(r["avg_r"]),
            avg_f_score=float(r["avg_f"]),
            avg_m_score=float(r["avg_m"]),
            avg_recency_days=float(r["avg_recency_days"]),
            avg_frequency=float(r["avg_frequency"]),
            revenue=[
                SegmentRevenue(
                    currency=v["currency"],
                    revenue=v["revenue"],
                    share=None if v["share"] is None else float(v["share"]),
                )
                for v in revenue
                if v["segment"] == r["segment"]
            ],
        )
        for r in summary
    ]
    model = Segments(
        day=found["day"],
        customers=customers,
        items=items,
        transitions=[SegmentMove(**m) for m in moves],
    )
    return model, day_freshness(found)


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _insight(now: int | None, before: int | None) -> Insight:
    change = None if now is None or before is None else now - before
    return Insight(
        value=now,
        previous=before,
        change=change,
        change_percent=None if change is None or not before else percent(change, before),
    )


async def insights(ask: Ask, day: date | None) -> tuple[Insights, Freshness]:
    found = await scored_day(ask, day)
    if found is None:
        empty = _insight(None, None)
        return Insights(
            day=None, previous_day=None, customers=empty, active=empty, new=empty, at_risk=empty
        ), Freshness(None, "-")
    today, before = found["day"], found["day"] - INSIGHT_PERIOD
    rows = {
        r["day"]: r
        for r in await ask.rows("customers/segment_api_insights.sql", {"days": [today, before]})
    }
    now, then = rows.get(today, {}), rows.get(before, {})
    model = Insights(
        day=today,
        previous_day=before,
        **{k: _insight(now.get(k), then.get(k)) for k in ("customers", "active", "new", "at_risk")},
    )
    return model, day_freshness(found)


async def user_rfm(ask: Ask, user_id: str) -> RfmScores | None:
    rows = await ask.rows("customers/rfm_api_user.sql", {"user_id": user_id})
    return RfmScores(**rows[0]) if rows else None
