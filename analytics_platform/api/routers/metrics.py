"""Payment metrics: realtime, dashboard, trends, peak times, success rate, failures,
latency, webhooks and revenue. Handlers resolve parameters and call query functions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from analytics_platform.api import periods
from analytics_platform.api.deps import (
    Auth,
    CursorParam,
    DaysParam,
    EndParam,
    FormatParam,
    LimitParam,
    MerchantParam,
    StartParam,
    TimezoneParam,
    context,
)
from analytics_platform.api.errors import ApiError, error_responses
from analytics_platform.api.export import negotiate, require_json
from analytics_platform.api.pagination import DEFAULT_LIMIT
from analytics_platform.api.queries import transactions as tx
from analytics_platform.api.queries import webhooks
from analytics_platform.api.schemas import (
    Dashboard,
    Failures,
    Latency,
    PeakTimes,
    Realtime,
    Revenue,
    SuccessRate,
    Trends,
    WebhookMetrics,
)
from analytics_platform.api.serving import MAX_AGE, REALTIME_MAX_AGE, serve
from analytics_platform.rollups.families import Grain

router = APIRouter(tags=["payments"])

# JSON-only endpoints answer 406 to an Accept without JSON; ANA_VAL_003: start/end.
_SCOPED = error_responses(
    "ANA_VAL_002", "ANA_VAL_003", "ANA_VAL_004", "ANA_VAL_006", "ANA_AUTH_003", "ANA_SYS_003"
)
_PAGED = error_responses(
    "ANA_VAL_002", "ANA_VAL_003", "ANA_VAL_004", "ANA_VAL_005", "ANA_VAL_006", "ANA_AUTH_003"
)
_CSV: dict[str, Any] = {"text/csv": {"schema": {"type": "string"}}}
_EXPORTABLE = {
    **_PAGED,
    200: {"content": _CSV, "description": "the response, or its items as CSV"},
    406: error_responses("ANA_VAL_006")[406],
}


@router.get(
    "/realtime",
    response_model=Realtime,
    responses=_PAGED,
    summary="The open hour and today so far",
)
async def realtime(
    request: Request,
    principal: Auth,
    timezone: TimezoneParam = None,
    merchant_id: MerchantParam = None,
    cursor: CursorParam = None,
    limit: Annotated[
        int, Query(description="Recent payments per page.", ge=1, le=100, examples=[10])
    ] = 10,
) -> Response:
    """Current hour and today so far: revenue, counts by status, success rate, unique
    payers, average value; pending transactions and the latest successful payments.
    Today's closed hours come from the hourly marts, the rest from raw events, so the
    figures are fresh to within one ingest tick."""
    ctx = context(request, principal, timezone, merchant_id)
    require_json(request.headers.get("accept"))
    hour = periods.hour_start(ctx.now, ctx.state.settings.tz)
    return await serve(
        request,
        ctx,
        key=("realtime", hour, cursor, limit),
        sources=(tx.HOURLY, "raw.transactions"),
        max_age=REALTIME_MAX_AGE,
        compute=lambda ask: tx.realtime(ask, cursor, limit),
    )


@router.get(
    "/dashboard",
    response_model=Dashboard,
    responses=_SCOPED,
    summary="Today, this week, this month against the previous period",
)
async def dashboard(
    request: Request,
    principal: Auth,
    timezone: TimezoneParam = None,
    merchant_id: MerchantParam = None,
) -> Response:
    """Revenue, transactions, success rate and average value of today, this week and this
    month so far (closed hours, from the hourly marts), each against the same elapsed
    time of the previous day, week or month: current, previous, change, change percent,
    direction."""
    ctx = context(request, principal, timezone, merchant_id)
    require_json(request.headers.get("accept"))
    hour = periods.hour_start(ctx.now, ctx.state.settings.tz)
    return await serve(
        request,
        ctx,
        key=("dashboard", hour),
        sources=(tx.HOURLY,),
        max_age=MAX_AGE[Grain.HOURLY],
        compute=tx.dashboard,
    )


@router.get(
    "/trends/{period}",
    response_model=Trends,
    responses=_EXPORTABLE,
    summary="Hourly (today) or daily (week, month) series",
)
async def trends(
    request: Request,
    principal: Auth,
    period: Annotated[
        Literal["today", "week", "month"],
        Path(description="today: today's hours; week / month: the last 7 / 30 complete days"),
    ],
    timezone: TimezoneParam = None,
    merchant_id: MerchantParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    format: FormatParam = None,
) -> Response:
    """Per bucket: counts by status, success rate, revenue and average value per
    currency, and unique payers."""
    ctx = context(request, principal, timezone, merchant_id)
    fmt = negotiate(format, request.headers.get("accept"))
    grain, window = tx.trend_window_of(ctx.now, ctx.state.settings.tz, period)
    return await serve(
        request,
        ctx,
        key=("trends", period, window.key(), cursor, limit),
        sources=(f"transactions_{grain}",),
        max_age=MAX_AGE[grain],
        compute=lambda ask: tx.trends(ask, period, grain, window, cursor, limit),
        fmt=fmt,
    )


@router.get("/peak-times", response_model=PeakTimes, responses=_SCOPED, summary="Busiest hours")
async def peak_times(
    request: Request,
    principal: Auth,
    days: DaysParam = None,
    start: StartParam = None,
    end: EndParam = None,
    timezone: TimezoneParam = None,
    merchant_id: MerchantParam = None,
) -> Response:
    """Transactions and revenue by hour of day (in `timezone`) over the last `days`
    complete days (default 30), or the hours starting in [start, end)."""
    ctx = context(request, principal, timezone, merchant_id)
    require_json(request.headers.get("accept"))
    days, window = periods.days_or_range(
        days, start, end, 30, ctx.now, ctx.state.settings.tz, ctx.tz
    )
    return await serve(
        request,
        ctx,
        key=("peak-times", window.key()),
        sources=(tx.HOURLY,),
        max_age=MAX_AGE[Grain.HOURLY],
        compute=lambda ask: tx.peak_times(ask, days, window),
    )


@router.get(
    "/success-rate",
    response_model=SuccessRate,
    responses=_EXPORTABLE,
    summary="Success rate per day",
)
async def success_rate(
    request: Request,
    principal: Auth,
    days: DaysParam = None,
    start: StartParam = None,
    end: EndParam = None,
    timezone: TimezoneParam = None,
    merchant_id: MerchantParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    format: FormatParam = None,
) -> Response:
    """SUCCESS / (SUCCESS + FAILED + EXPIRED) per day and over the last `days` complete
    days (default 7), or the days starting in [start, end)."""
    ctx = context(request, principal, timezone, merchant_id)
    fmt = negotiate(format, request.headers.get("accept"))
    days, window = periods.days_or_range(
        days, start, end, 7, ctx.now, ctx.state.settings.tz, ctx.tz
    )
    return await serve(
        request,
        ctx,
        key=("success-rate", window.key(), cursor, limit),
        sources=(tx.DAILY,),
        max_age=MAX_AGE[Grain.DAILY],
        compute=lambda ask: tx.success_rate(ask, days, window, cursor, limit),
        fmt=fmt,
    )


@router.get("/failures", response_model=Failures, responses=_SCOPED, summary="Failure analysis")
async def failures(
    request: Request,
    principal: Auth,
    days: DaysParam = None,
    start: StartParam = None,
    end: EndParam = None,
    timezone: TimezoneParam = None,
    merchant_id: MerchantParam = None,
) -> Response:
    """Failed transactions and failure rate, reasons with their share, failures by hour
    of day (in `timezone`) and retry patterns over the last `days` complete days
    (default 30), or [start, end)."""
    ctx = context(request, principal, timezone, merchant_id)
    require_json(request.headers.get("accept"))
    days, window = periods.days_or_range(
        days, start, end, 30, ctx.now, ctx.state.settings.tz, ctx.tz
    )
    return await serve(
        request,
        ctx,
        key=("failures", window.key()),
        sources=(tx.DAILY, "failures_daily", "failures_hourly"),
        max_age=MAX_AGE[Grain.HOURLY],
        compute=lambda ask: tx.failures(ask, days, window),
    )


@router.get(
    "/latency",
    response_model=Latency,
    responses=_EXPORTABLE,
    summary="Processing latency (average, p50, p95, p99)",
)
async def latency(
    request: Request,
    principal: Auth,
    days: DaysParam = None,
    start: StartParam = None,
    end: EndParam = None,
    timezone: TimezoneParam = None,
    merchant_id: MerchantParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    format: FormatParam = None,
) -> Response:
    """Processing time in ms over the last `days` complete days (default 7) or the days
    starting in [start, end), and per day (exact
    percentiles per day; over several days they are the count-weighted mean)."""
    ctx = context(request, principal, timezone, merchant_id)
    fmt = negotiate(format, request.headers.get("accept"))
    days, window = periods.days_or_range(
        days, start, end, 7, ctx.now, ctx.state.settings.tz, ctx.tz
    )
    return await serve(
        request,
        ctx,
        key=("latency", window.key(), cursor, limit),
        sources=(tx.DAILY,),
        max_age=MAX_AGE[Grain.DAILY],
        compute=lambda ask: tx.latency(ask, days, window, cursor, limit),
        fmt=fmt,
    )


@router.get(
    "/webhook-metrics",
    response_model=WebhookMetrics,
    responses=_SCOPED,
    summary="Webhook delivery statistics",
)
async def webhook_metrics(
    request: Request,
    principal: Auth,
    days: DaysParam = None,
    start: StartParam = None,
    end: EndParam = None,
    timezone: TimezoneParam = None,
    merchant_id: MerchantParam = None,
) -> Response:
    """Deliveries, successful, failed, pending (retrying), success rate, retries and
    average delivery time over the last `days` complete days (default 30) or the days
    starting in [start, end), and per event type."""
    ctx = context(request, principal, timezone, merchant_id)
    require_json(request.headers.get("accept"))
    days, window = periods.days_or_range(
        days, start, end, 30, ctx.now, ctx.state.settings.tz, ctx.tz
    )
    return await serve(
        request,
        ctx,
        key=("webhook-metrics", window.key()),
        sources=(webhooks.DAILY,),
        max_age=MAX_AGE[Grain.DAILY],
        compute=lambda ask: webhooks.webhook_metrics(ask, days, window),
    )


@router.get("/revenue", response_model=Revenue, responses=_EXPORTABLE, summary="Revenue series")
async def revenue(
    request: Request,
    principal: Auth,
    start: StartParam = None,
    end: EndParam = None,
    interval: Annotated[
        Literal["hour", "day", "week", "month"],
        Query(description="Bucket size (and the mart read)."),
    ] = "day",
    group_by: Annotated[
        Literal["merchant", "category", "payment_method"] | None,
        Query(
            description="Break the series down by merchant, category or payment method "
            "(merchant keys: merchant only, which is their own)."
        ),
    ] = None,
    timezone: TimezoneParam = None,
    merchant_id: MerchantParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    format: FormatParam = None,
) -> Response:
    """Revenue (SUCCESS amounts), counts, average value and refunds per bucket and
    currency over [start, end) (default: the last 30 complete days, 12 weeks or 12
    months, or today's hours), optionally per group; totals per currency."""
    ctx = context(request, principal, timezone, merchant_id)
    if group_by in ("category", "payment_method") and ctx.subject.merchant_id is not None:
        if not principal.is_admin:
            raise ApiError(
                "ANA_AUTH_003",
                f"group_by={group_by} breaks down the whole platform; this key sees merchant "
                f"{ctx.subject.merchant_id} only (use group_by=merchant or none)",
                params=[("group_by", "platform-wide breakdown")],
            )
        raise ApiError(
            "ANA_VAL_002",
            f"group_by={group_by} cannot be combined with merchant_id (the marts have no "
            "per-merchant breakdown by category or payment method)",
            params=[("group_by", "not with merchant_id")],
        )
    fmt = negotiate(format, request.headers.get("accept"))
    grain = periods.INTERVAL_GRAINS[interval]
    window = periods.explicit_window(start, end, ctx.tz, grain, ctx.now)
    return await serve(
        request,
        ctx,
        key=("revenue", interval, group_by, window.key(), cursor, limit),
        sources=(f"transactions_{grain}",),
        max_age=MAX_AGE[grain],
        compute=lambda ask: tx.revenue(ask, grain, window, group_by, cursor, limit),
        fmt=fmt,
    )
