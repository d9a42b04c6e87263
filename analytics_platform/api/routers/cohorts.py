"""Registration cohorts and retention (OpenRide's views), from customers/cohorts.
Platform-wide data: admin keys only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
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
from analytics_platform.api.export import negotiate
from analytics_platform.api.pagination import DEFAULT_LIMIT
from analytics_platform.api.queries import cohorts as queries
from analytics_platform.api.schemas import Cohorts, Retention
from analytics_platform.api.serving import MAX_AGE, serve
from analytics_platform.rollups.families import Grain

router = APIRouter(tags=["customers"])

_CSV: dict[str, Any] = {"text/csv": {"schema": {"type": "string"}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses("ANA_VAL_002", "ANA_VAL_003", "ANA_VAL_004", "ANA_VAL_005", "ANA_AUTH_003"),
    200: {"content": _CSV, "description": "the response, or its items as CSV"},
    406: error_responses("ANA_VAL_006")[406],
}
_GRAINS = {"week": Grain.WEEKLY, "month": Grain.MONTHLY}
GrainParam = Annotated[
    queries.CohortGrain,
    Query(description="cohorts by week of registration (Monday start) or by month"),
]


def _window(grain: queries.CohortGrain, start: str | None, end: str | None, ctx: Any) -> Any:
    return periods.explicit_window(start, end, ctx.tz, _GRAINS[grain], ctx.now)


@router.get("/cohort", response_model=Cohorts, responses=_RESPONSES, summary="Registration cohorts")
async def cohort(
    request: Request,
    principal: Auth,
    grain: GrainParam = "month",
    start: StartParam = None,
    end: EndParam = None,
    timezone: TimezoneParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    format: FormatParam = None,
) -> Response:
    """Cohorts starting in [start, end) (default: the grain's default window) by period
    since registration: size, active and paying users, revenue per currency (currency ''
    counts payers in any currency) and retention, as of the newest day of
    customers/cohorts."""
    ctx = context(request, principal, timezone, platform_only="cohorts")
    fmt = negotiate(format, request.headers.get("accept"))
    window = _window(grain, start, end, ctx)
    return await serve(
        request,
        ctx,
        key=("cohort", grain, window.key(), cursor, limit),
        sources=(queries.CUSTOMER_COHORTS,),
        max_age=MAX_AGE[Grain.DAILY],
        compute=lambda ask: queries.cohorts(ask, grain, window, cursor, limit),
        fmt=fmt,
    )


@router.get(
    "/retention", response_model=Retention, responses=_RESPONSES, summary="Retention by cohort"
)
async def retention(
    request: Request,
    principal: Auth,
    grain: GrainParam = "month",
    start: StartParam = None,
    end: EndParam = None,
    timezone: TimezoneParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    format: FormatParam = None,
) -> Response:
    """The retention matrix: per cohort starting in [start, end) and period since
    registration, the share of the cohort active in the period (percent)."""
    ctx = context(request, principal, timezone, platform_only="retention")
    fmt = negotiate(format, request.headers.get("accept"))
    window = _window(grain, start, end, ctx)
    return await serve(
        request,
        ctx,
        key=("retention", grain, window.key(), cursor, limit),
        sources=(queries.CUSTOMER_COHORTS,),
        max_age=MAX_AGE[Grain.DAILY],
        compute=lambda ask: queries.retention(ask, grain, window, cursor, limit),
        fmt=fmt,
    )
