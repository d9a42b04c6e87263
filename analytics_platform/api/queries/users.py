"""Users and money in wallets: per-user metrics, spending trends and cashflow (cashflow
marts), active users (activity marts), registrations and KYC (user lifecycle marts).
Platform-wide data: admin keys only (row-level security returns nothing to others)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any

from analytics_platform.api.errors import ApiError
from analytics_platform.api.pagination import Key, decode_cursor, page
from analytics_platform.api.periods import (
    Window,
    add_months,
    bucket_end,
    day_start,
    midnight,
    month_start,
)
from analytics_platform.api.queries import customers
from analytics_platform.api.queries.common import Ask, Freshness, average, percent, rounded
from analytics_platform.api.schemas import (
    ActiveUsers,
    ActivityPoint,
    Cashflow,
    CashflowPoint,
    CurrencyFlows,
    Funnel,
    FunnelFigures,
    FunnelPoint,
    SpendingCategory,
    SpendingMonth,
    SpendingTrends,
    TopMerchant,
    UserCurrency,
    UserMetrics,
    UserProfile,
)
from analytics_platform.customers.spending import Comparison
from analytics_platform.rollups.families import Grain

CASHFLOW_DAILY = "cashflow_daily"
# customers/user_profiles and customers/spending, by their names in marts.rollup_buckets.
CUSTOMER_PROFILES = "customer_profiles"
CUSTOMER_SPENDING = "customer_spending"
PROFILES_ASSET = "customers/user_profiles"
SPENDING_ASSET = "customers/spending"


async def latest_day(ask: Ask, asset: str, before: date) -> date | None:
    """The newest day `asset` has materialized before `before` (None: none)."""
    (row,) = await ask.rows("customers/profiles_latest_day.sql", {"asset": asset, "before": before})
    return row["day"]


async def user_profile(ask: Ask, user_id: str, before: date) -> UserProfile | None:
    """The user's profile as of the newest profile day before `before`."""
    day = await latest_day(ask, PROFILES_ASSET, before)
    if day is None:
        return None
    rows = await ask.rows(
        "customers/profiles_api_user.sql",
        {"user_id": user_id, "day": day, "tz": ask.reporting_tz.key},
    )
    if not rows:
        return None
    r = rows[0]
    return UserProfile(
        as_of=day,
        kyc_status=r["kyc_status"],
        kyc_level=r["kyc_level"],
        registered_at=ask.at(r["registered_at"]) if r["registered_at"] else None,
        country=r["country"],
        account_age_days=r["account_age_days"],
        first_seen_at=ask.at(r["first_seen_at"]),
        last_activity_at=ask.at(r["last_activity_at"]),
        first_success_at=ask.at(r["first_success_at"]) if r["first_success_at"] else None,
        last_success_at=ask.at(r["last_success_at"]) if r["last_success_at"] else None,
        main_currency=r["main_currency"],
    )


async def ensure_user(ask: Ask, user_id: str) -> None:
    """ANA_VAL_001 unless the user ever moved money."""
    (row,) = await ask.rows("api/user_seen.sql", {"user_id": user_id})
    if not row["seen"]:
        raise ApiError(
            "ANA_VAL_001",
            f"user {user_id!r} has no successful transactions in the marts; check the id",
            params=[("user_id", "unknown user")],
        )


async def user_metrics(ask: Ask, user_id: str, window: Window) -> tuple[UserMetrics, Freshness]:
    await ensure_user(ask, user_id)
    start, end = window.utc
    rows = await ask.rows(
        "api/user_totals.sql", {"user_id": user_id, "window_start": start, "window_end": end}
    )
    overall = next((r for r in rows if r["currency"] is None), None)
    currencies = []
    for r in rows:
        if r["currency"] is None:
            continue
        count = r["inflow_count"] + r["outflow_count"]
        amount = r["inflow"] + r["outflow"]
        currencies.append(
            UserCurrency(
                currency=r["currency"],
                inflow=r["inflow"],
                outflow=r["outflow"],
                net=r["net"],
                inflow_count=r["inflow_count"],
                outflow_count=r["outflow_count"],
                total_transactions=count,
                total_amount=amount,
                average_transaction=average(amount, count),
            )
        )
    model = UserMetrics(
        user_id=user_id,
        window=ask.window(window),
        total_transactions=sum(c.total_transactions for c in currencies),
        first_active_day=ask.at(overall["first_day"]) if overall else None,
        last_transaction_date=ask.at(overall["last_day"]) if overall else None,
        active_days=overall["active_days"] if overall else 0,
        currencies=currencies,
        profile=await user_profile(ask, user_id, window.end.astimezone(ask.reporting_tz).date()),
        rfm=await customers.user_rfm(ask, user_id),
    )
    return model, await ask.freshness([CASHFLOW_DAILY, CUSTOMER_PROFILES], window)


async def spending_trends(
    ask: Ask, user_id: str | None, months: int
) -> tuple[SpendingTrends, Freshness]:
    """Calendar months (this one so far) per currency, from the daily marts; the month
    before the first is read too, for the first month's change."""
    tz = ask.reporting_tz
    if user_id is not None:
        await ensure_user(ask, user_id)
    this_month = month_start(ask.now, tz).date()
    shown = Window(midnight(add_months(this_month, 1 - months), tz), day_start(ask.now, tz))
    read = Window(midnight(add_months(this_month, -months), tz), shown.end)
    start, end = read.utc
    rows = await ask.rows(
        "api/spending_months.sql",
        {"user_id": user_id or "", "tz": tz.key, "window_start": start, "window_end": end},
    )
    as_of = None
    same_days: dict[tuple[date, str], dict[str, Any]] = {}
    categories: list[SpendingCategory] = []
    if user_id is not None:
        as_of = await latest_day(ask, SPENDING_ASSET, day_start(ask.now, tz).date())
    if as_of is not None:
        for row in await ask.rows(
            "customers/spending_as_of.sql",
            {"day": as_of, "from_month": shown.start.astimezone(tz).date(), "user_id": user_id},
        ):
            if row["category"] == "":
                same_days[(row["month"], row["currency"])] = row
            else:
                categories.append(_category(row, as_of))
    previous: dict[str, Decimal] = {}
    result = []
    for r in rows:
        spending = r["spending"]
        before = previous.get(r["currency"])
        previous[r["currency"]] = spending
        if r["bucket_start"] < shown.start:
            continue
        local = r["bucket_start"].astimezone(tz)
        result.append(
            SpendingMonth(
                month=f"{local.year:04d}-{local.month:02d}",
                bucket_start=ask.at(r["bucket_start"]),
                currency=r["currency"],
                spending=spending,
                income=r["income"],
                net=r["net"],
                transactions=r["transactions"],
                spending_change_percent=None
                if before is None
                else percent(spending - before, before),
                complete=add_months(local.date(), 1) <= day_start(ask.now, tz).date(),
                **_same_days(same_days.get((local.date(), r["currency"]))),
            )
        )
    model = SpendingTrends(
        user_id=user_id,
        window=ask.window(shown),
        months=result,
        as_of=as_of,
        categories=categories,
    )
    return model, await ask.freshness([CASHFLOW_DAILY, CUSTOMER_SPENDING], read)


def _same_days(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "same_days_previous_spending": row["previous_spend"],
        "same_days_change_percent": rounded(row["change_percent"]),
    }


def _category(row: dict[str, Any], as_of: date) -> SpendingCategory:
    """A customers/spending row as served; compared_through follows the as-of day."""
    month: date = row["month"]
    day = as_of if add_months(month, 1) > as_of else add_months(month, 1) - timedelta(days=1)
    return SpendingCategory(
        month=f"{month.year:04d}-{month.month:02d}",
        currency=row["currency"],
        category=row["category"],
        spending=row["spend"],
        transactions=row["transactions"],
        month_share=None if row["month_share"] is None else rounded(row["month_share"] * 100),
        previous_spending=row["previous_spend"],
        change_amount=row["change_amount"],
        change_percent=rounded(row["change_percent"]),
        compared_through=Comparison.of(day).compared_through,
        top_merchants=[
            TopMerchant(
                merchant_id=m["merchant_id"],
                spending=Decimal(str(m["spend"])),
                transactions=m["transactions"],
            )
            for m in row["top_merchants"]
        ],
    )


def _point_key(point: Any) -> Key:
    return (point.bucket_start.astimezone(UTC).isoformat(), getattr(point, "currency", ""))


async def cashflow(
    ask: Ask,
    user_id: str | None,
    grain: Grain,
    window: Window,
    cursor: str | None,
    limit: int,
) -> tuple[Cashflow, Freshness]:
    if user_id is not None:
        if grain is Grain.HOURLY:
            raise ApiError(
                "ANA_VAL_002",
                "interval: per-user cashflow starts at the daily grain; use day, week or "
                "month, or omit userId for the platform's hours",
                params=[("interval", "hour is for the platform only")],
            )
        await ensure_user(ask, user_id)
    mart = f"cashflow_{grain}"
    start, end = window.utc
    rows = await ask.rows(
        "api/cashflow_series.sql",
        {"user_id": user_id or "", "window_start": start, "window_end": end},
        mart,
    )
    sums: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "inflow": Decimal(0),
            "outflow": Decimal(0),
            "net": Decimal(0),
            "inflow_count": 0,
            "outflow_count": 0,
        }
    )
    points = []
    for r in rows:
        total = sums[r["currency"]]
        for name in total:
            total[name] += r[name]
        points.append(
            CashflowPoint(
                bucket_start=ask.at(r["bucket_start"]),
                bucket_end=ask.at(bucket_end(r["bucket_start"], grain, ask.reporting_tz)),
                currency=r["currency"],
                inflow=r["inflow"],
                outflow=r["outflow"],
                net=r["net"],
                inflow_count=r["inflow_count"],
                outflow_count=r["outflow_count"],
            )
        )
    query = ("cashflow", user_id, grain, window.key())
    items, next_cursor = page(points, _point_key, decode_cursor(cursor, query), limit, query)
    model = Cashflow(
        user_id=user_id,
        interval=grain.unit,
        window=ask.window(window),
        totals=[CurrencyFlows(currency=c, **v) for c, v in sorted(sums.items())],
        items=items,
        next_cursor=next_cursor,
    )
    return model, await ask.freshness([mart], window)


async def active_users(
    ask: Ask,
    grain: Grain,
    window: Window,
    device_type: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[ActiveUsers, Freshness]:
    mart = f"activity_{grain}"
    start, end = window.utc
    rows = await ask.rows(
        "api/activity_series.sql",
        {"device_type": device_type or "", "window_start": start, "window_end": end},
        mart,
    )
    points = [
        ActivityPoint(
            bucket_start=ask.at(r["bucket_start"]),
            bucket_end=ask.at(bucket_end(r["bucket_start"], grain, ask.reporting_tz)),
            active_users=r["active_users"],
            sessions=r["sessions"],
            events=r["events"],
            sessions_ended=r["sessions_ended"],
            avg_session_seconds=rounded(r["avg_session_seconds"]),
        )
        for r in rows
    ]
    query = ("users/active", grain, device_type, window.key())
    items, next_cursor = page(points, _point_key, decode_cursor(cursor, query), limit, query)
    model = ActiveUsers(
        grain=grain.unit,  # type: ignore[arg-type]
        device_type=device_type,
        window=ask.window(window),
        items=items,
        next_cursor=next_cursor,
    )
    return model, await ask.freshness([mart], window)


def _funnel(registrations: int, submitted: int, verified: int, rejected: int) -> dict[str, Any]:
    return {
        "registrations": registrations,
        "kyc_submitted": submitted,
        "kyc_verified": verified,
        "kyc_rejected": rejected,
        "submission_rate": percent(submitted, registrations),
        "verification_rate": percent(verified, verified + rejected),
    }


async def funnel(
    ask: Ask,
    grain: Grain,
    window: Window,
    country: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Funnel, Freshness]:
    mart = f"user_lifecycle_{grain}"
    start, end = window.utc
    rows = await ask.rows(
        "api/lifecycle_series.sql",
        {"country": country or "", "window_start": start, "window_end": end},
        mart,
    )
    keys = ("registrations", "kyc_submitted", "kyc_verified", "kyc_rejected")
    totals = [sum(r[k] for r in rows) for k in keys]
    points = [
        FunnelPoint(
            bucket_start=ask.at(r["bucket_start"]),
            bucket_end=ask.at(bucket_end(r["bucket_start"], grain, ask.reporting_tz)),
            median_seconds_to_verify=rounded(r["median_seconds_to_verify"]),
            **_funnel(*(r[k] for k in keys)),
        )
        for r in rows
    ]
    query = ("users/funnel", grain, country, window.key())
    items, next_cursor = page(points, _point_key, decode_cursor(cursor, query), limit, query)
    model = Funnel(
        interval=grain.unit,  # type: ignore[arg-type]
        country=country,
        window=ask.window(window),
        totals=FunnelFigures(**_funnel(*totals)),
        items=items,
        next_cursor=next_cursor,
    )
    return model, await ask.freshness([mart], window)
