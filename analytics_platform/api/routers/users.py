"""Users and wallets: per-user metrics, spending trends and cashflow (the PayU service's
endpoints), active users (DAU/WAU/MAU) and the registration/KYC funnel. Platform-wide
data: admin keys only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response

from analytics_platform.api import periods
from analytics_platform.api.deps import (
    Auth,
    CursorParam,
    EndParam,
    FormatParam,
    LimitParam,
    StartParam,
    TimezoneParam,
    context,
)
from analytics_platform.api.errors import error_responses
from analytics_platform.api.export import negotiate, require_json
from analytics_platform.api.pagination import DEFAULT_LIMIT
from analytics_platform.api.queries import customers, users
from analytics_platform.api.schemas import (
    ActiveUsers,
    Cashflow,
    CashflowRequest,
    Funnel,
    SpendingTrends,
    SpendingTrendsRequest,
    UserMetrics,
)
from analytics_platform.api.serving import MAX_AGE, serve
from analytics_platform.rollups.families import Grain

router = APIRouter(tags=["users"])

_USER = error_responses("ANA_VAL_001", "ANA_VAL_002", "ANA_VAL_003", "ANA_VAL_004", "ANA_AUTH_003")
_CSV: dict[str, Any] = {"text/csv": {"schema": {"type": "string"}}}


def _exportable(*codes: str) -> dict[int | str, dict[str, Any]]:
    return {
        **error_responses("ANA_VAL_002", "ANA_VAL_003", "ANA_VAL_004", "ANA_VAL_005", *codes),
        200: {"content": _CSV, "description": "the response, or its items as CSV"},
        406: error_responses("ANA_VAL_006")[406],
    }


@router.get(
    "/user/{user_id}/metrics",
    response_model=UserMetrics,
    responses=_USER,
    summary="A user's transaction totals",
)
async def user_metrics(
    request: Request,
    principal: Auth,
    user_id: Annotated[
        str, Path(description="The user id of the events.", min_length=1, max_length=200)
    ],
    start: StartParam = None,
    end: EndParam = None,
    timezone: TimezoneParam = None,
) -> Response:
    """Successful transactions of one user per currency (count, inflow, outflow, net,
    average) with the first and last day they moved money, over [start, end) (default:
    everything up to today), and the user's profile (KYC status and level, account age,
    last activity, main currency) as of the newest day of customers/user_profiles before
    the window's end. `ANA_VAL_001` when the user never moved money."""
    ctx = context(request, principal, timezone, platform_only="user metrics")
    require_json(request.headers.get("accept"))
    settings = ctx.state.settings
    tz = settings.tz
    everything = periods.Window(
        periods.midnight(settings.start_date, tz),
        periods.bucket_end(periods.day_start(ctx.now, tz), Grain.DAILY, tz),
    )
    window = periods.explicit_window(start, end, ctx.tz, Grain.MONTHLY, ctx.now, everything)
    return await serve(
        request,
        ctx,
        key=("user-metrics", user_id, window.key()),
        sources=(users.CASHFLOW_DAILY, users.CUSTOMER_PROFILES, customers.RFM_SOURCE),
        max_age=MAX_AGE[Grain.DAILY],
        compute=lambda ask: users.user_metrics(ask, user_id, window),
    )


@router.post(
    "/spending/trends",
    response_model=SpendingTrends,
    responses=_USER,
    summary="Monthly spending, month over month",
)
async def spending_trends(
    request: Request,
    principal: Auth,
    body: Annotated[SpendingTrendsRequest, Body()],
) -> Response:
    """Spending (outflow), income (inflow), net and transactions per calendar month and
    currency, with the change of spending against the month before; the current month
    counts its complete days (`complete` false). For one user, also the same-days
    comparison of a running month and the per-category months of customers/spending
    (spending, share, change against the same days of the month before, top merchants).
    One user, or the platform when userId is omitted."""
    ctx = context(request, principal, body.timezone, platform_only="spending trends")
    month = periods.month_start(ctx.now, ctx.state.settings.tz)
    day = periods.day_start(ctx.now, ctx.state.settings.tz)
    return await serve(
        request,
        ctx,
        key=("spending-trends", body.user_id, body.months, month, day),
        sources=(users.CASHFLOW_DAILY, users.CUSTOMER_SPENDING),
        max_age=MAX_AGE[Grain.DAILY],
        compute=lambda ask: users.spending_trends(ask, body.user_id, body.months),
    )


@router.post(
    "/cashflow",
    response_model=Cashflow,
    responses=_exportable("ANA_VAL_001", "ANA_AUTH_003"),
    summary="Money in and out per bucket",
)
async def cashflow(
    request: Request,
    principal: Auth,
    body: Annotated[CashflowRequest, Body()],
    format: FormatParam = None,
) -> Response:
    """Inflow (TOPUP, TRANSFER_IN, REFUND), outflow (PAYMENT, TRANSFER_OUT, WITHDRAWAL,
    BILL_PAYMENT) and net of successful transactions per bucket and currency over
    [start, end), with totals; one user (from the daily grain up) or the platform."""
    ctx = context(request, principal, body.timezone, platform_only="cashflow")
    fmt = negotiate(format, request.headers.get("accept"))
    grain = periods.INTERVAL_GRAINS[body.interval]
    window = periods.explicit_window(body.start, body.end, ctx.tz, grain, ctx.now)
    return await serve(
        request,
        ctx,
        key=("cashflow", body.user_id, grain, window.key(), body.cursor, body.limit),
        sources=(f"cashflow_{grain}",),
        max_age=MAX_AGE[grain],
        compute=lambda ask: users.cashflow(
            ask, body.user_id, grain, window, body.cursor, body.limit
        ),
        fmt=fmt,
    )


_GRAINS = {"day": Grain.DAILY, "week": Grain.WEEKLY, "month": Grain.MONTHLY}


@router.get(
    "/users/active",
    response_model=ActiveUsers,
    responses=_exportable("ANA_AUTH_003"),
    summary="Active users: DAU, WAU, MAU",
)
async def active_users(
    request: Request,
    principal: Auth,
    grain: Annotated[
        Literal["day", "week", "month"],
        Query(description="day: DAU, week: WAU (Monday start), month: MAU"),
    ] = "day",
    start: StartParam = None,
    end: EndParam = None,
    device_type: Annotated[
        str | None,
        Query(
            description="Only this device type (default: all devices).",
            max_length=100,
            min_length=1,
            examples=["android"],
        ),
    ] = None,
    timezone: TimezoneParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    format: FormatParam = None,
) -> Response:
    """Distinct active users per bucket (exact: never a sum of smaller buckets), sessions,
    events and average session length, over [start, end) (default: the last 30 days, 12
    weeks or 12 months)."""
    ctx = context(request, principal, timezone, platform_only="active users")
    fmt = negotiate(format, request.headers.get("accept"))
    unit = _GRAINS[grain]
    window = periods.explicit_window(start, end, ctx.tz, unit, ctx.now)
    return await serve(
        request,
        ctx,
        key=("users-active", unit, device_type, window.key(), cursor, limit),
        sources=(f"activity_{unit}",),
        max_age=MAX_AGE[unit],
        compute=lambda ask: users.active_users(ask, unit, window, device_type, cursor, limit),
        fmt=fmt,
    )


@router.get(
    "/users/funnel",
    response_model=Funnel,
    responses=_exportable("ANA_AUTH_003"),
    summary="Registrations and KYC funnel",
)
async def funnel(
    request: Request,
    principal: Auth,
    interval: Annotated[
        Literal["day", "week", "month"], Query(description="Bucket size.")
    ] = "week",
    start: StartParam = None,
    end: EndParam = None,
    country: Annotated[
        str | None,
        Query(
            description="Only this country (default: all).",
            min_length=1,
            max_length=100,
            examples=["ID"],
        ),
    ] = None,
    timezone: TimezoneParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    format: FormatParam = None,
) -> Response:
    """Registrations, KYC submitted / verified / rejected, submission and verification
    rates per bucket and in total over [start, end), with the median time to verify per
    bucket."""
    ctx = context(request, principal, timezone, platform_only="the registration funnel")
    fmt = negotiate(format, request.headers.get("accept"))
    unit = _GRAINS[interval]
    window = periods.explicit_window(start, end, ctx.tz, unit, ctx.now)
    return await serve(
        request,
        ctx,
        key=("users-funnel", unit, country, window.key(), cursor, limit),
        sources=(f"user_lifecycle_{unit}",),
        max_age=MAX_AGE[unit],
        compute=lambda ask: users.funnel(ask, unit, window, country, cursor, limit),
        fmt=fmt,
    )
