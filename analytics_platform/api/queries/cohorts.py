"""Registration cohorts and retention (customers/cohorts), as of its newest day.
Platform-wide data: admin keys only (row-level security returns nothing to others)."""

from __future__ import annotations

from typing import Any, Literal

from analytics_platform.api.pagination import Key, decode_cursor, page
from analytics_platform.api.periods import Window
from analytics_platform.api.queries.common import Ask, Freshness, rounded
from analytics_platform.api.queries.users import latest_day
from analytics_platform.api.schemas import CohortCell, Cohorts, Retention, RetentionPoint

CUSTOMER_COHORTS = "customer_cohorts"
COHORTS_ASSET = "customers/cohorts"
CohortGrain = Literal["week", "month"]


def _key(item: Any) -> Key:
    return (item.cohort_start.isoformat(), f"{item.period:06d}", getattr(item, "currency", ""))


async def _cells(ask: Ask, grain: CohortGrain, window: Window) -> tuple[Any, list[dict]]:
    """The newest cohort day before today and the cells of cohorts starting in the window."""
    tz = ask.reporting_tz
    today = ask.now.astimezone(tz).date()
    as_of = await latest_day(ask, COHORTS_ASSET, today)
    if as_of is None:
        return None, []
    first = window.start.astimezone(tz).date()
    last = window.end.astimezone(tz).date()
    rows = await ask.rows(
        "customers/cohorts_as_of.sql", {"grain": grain, "day": as_of, "from_day": first}
    )
    return as_of, [r for r in rows if r["cohort_start"] < last]


async def cohorts(
    ask: Ask, grain: CohortGrain, window: Window, cursor: str | None, limit: int
) -> tuple[Cohorts, Freshness]:
    as_of, rows = await _cells(ask, grain, window)
    cells = [
        CohortCell(
            cohort_start=r["cohort_start"],
            period=r["period"],
            currency=r["currency"],
            cohort_size=r["cohort_size"],
            active_users=r["active_users"],
            paying_users=r["paying_users"],
            revenue=r["revenue"],
            retention_rate=rounded(r["retention_rate"] * 100) or 0.0,
        )
        for r in rows
    ]
    query = ("cohort", grain, window.key())
    items, next_cursor = page(cells, _key, decode_cursor(cursor, query), limit, query)
    model = Cohorts(
        grain=grain, as_of=as_of, window=ask.window(window), items=items, next_cursor=next_cursor
    )
    return model, await ask.freshness([CUSTOMER_COHORTS], window)


async def retention(
    ask: Ask, grain: CohortGrain, window: Window, cursor: str | None, limit: int
) -> tuple[Retention, Freshness]:
    as_of, rows = await _cells(ask, grain, window)
    points = [
        RetentionPoint(
            cohort_start=r["cohort_start"],
            period=r["period"],
            cohort_size=r["cohort_size"],
            active_users=r["active_users"],
            retention_rate=rounded(r["retention_rate"] * 100) or 0.0,
        )
        for r in rows
        if r["currency"] == ""
    ]
    query = ("retention", grain, window.key())
    items, next_cursor = page(points, _key, decode_cursor(cursor, query), limit, query)
    model = Retention(
        grain=grain, as_of=as_of, window=ask.window(window), items=items, next_cursor=next_cursor
    )
    return model, await ask.freshness([CUSTOMER_COHORTS], window)
