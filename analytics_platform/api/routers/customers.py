"""Customers: RFM scores per user, segments, headline numbers (TicketToken's RFM views),
served from the customers/rfm_scores and customers/segment_transitions assets.

Admin keys read the platform-wide assets. A merchant key's /rfm is that merchant's own
customers scored on demand over its own transactions (not a daily asset:
docs/customer-scores.md says why, with the figures), read in the key's scope so
row-level security keeps every other merchant's rows out. /segments and /insights stay
platform-wide: merchant keys get a 403 problem there that points at /rfm.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from analytics_platform.api.cache import RAW_TRANSACTIONS
from analytics_platform.api.deps import (
    Auth,
    CursorParam,
    FormatParam,
    LimitParam,
    TimezoneParam,
    context,
)
from analytics_platform.api.errors import ApiError, error_responses, invalid
from analytics_platform.api.export import negotiate
from analytics_platform.api.pagination import DEFAULT_LIMIT
from analytics_platform.api.queries import customers
from analytics_platform.api.schemas import Insights, RfmPage, Segments
from analytics_platform.api.serving import MAX_AGE, serve
from analytics_platform.rollups.families import Grain

CUSTOMERS_PREFIX = "/api/v1"
router = APIRouter(tags=["customers"], prefix="/customers")

DayParam = Annotated[
    date | None,
    Query(
        description="The day the scores are as of (end of that day in the reporting time "
        "zone); default: the newest scored day.",
        examples=["2026-05-31"],
    ),
]


def _score(name: str) -> Any:
    return Query(ge=1, le=5, description=f"{name} score bound (1-5, inclusive)")


_SOURCES = (customers.RFM_SOURCE, customers.TRANSITIONS_SOURCE)
# A merchant's page is computed from raw transactions: ingestion moves it too.
_MERCHANT_SOURCES = (*_SOURCES, RAW_TRANSACTIONS)
_ERRORS = error_responses("ANA_VAL_002", "ANA_VAL_004", "ANA_AUTH_003")
_CSV_ERRORS: dict[int | str, dict[str, Any]] = {
    **error_responses("ANA_VAL_002", "ANA_VAL_004", "ANA_VAL_005", "ANA_AUTH_003", "ANA_SYS_003"),
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "the response, or its items as CSV",
    },
    406: error_responses("ANA_VAL_006")[406],
}


@router.get(
    "/rfm",
    response_model=RfmPage,
    responses=_CSV_ERRORS,
    summary="Users with their RFM scores and segment",
)
async def rfm(
    request: Request,
    principal: Auth,
    day: DayParam = None,
    segment: Annotated[
        str | None, Query(description="Only this segment.", max_length=100, examples=["At Risk"])
    ] = None,
    currency: Annotated[
        str | None, Query(description="Only users of this main currency.", max_length=10)
    ] = None,
    min_r: Annotated[int, _score("lowest R")] = 1,
    max_r: Annotated[int, _score("highest R")] = 5,
    min_f: Annotated[int, _score("lowest F")] = 1,
    max_f: Annotated[int, _score("highest F")] = 5,
    min_m: Annotated[int, _score("lowest M")] = 1,
    max_m: Annotated[int, _score("highest M")] = 5,
    timezone: TimezoneParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    format: FormatParam = None,
) -> Response:
    """The users scored on the day (a purchase in the look-back) in user id order, with
    recency, frequency, monetary (main currency), R/F/M scores 1-5 and segment. With a
    merchant key: that merchant's customers (a successful purchase from it in the
    look-back), scored on demand over its own purchases against its other customers."""
    ctx = context(request, principal, timezone)
    fmt = negotiate(format, request.headers.get("accept"))
    for low, high, name in ((min_r, max_r, "r"), (min_f, max_f, "f"), (min_m, max_m, "m")):
        if low > high:
            raise invalid(f"min_{name}", f"must not exceed max_{name} ({low} > {high})")
    filters = {
        "segment": segment,
        "currency": currency,
        "min_r": min_r,
        "max_r": max_r,
        "min_f": min_f,
        "max_f": max_f,
        "min_m": min_m,
        "max_m": max_m,
    }
    merchant_id = principal.scope.merchant_id if principal.scope.kind == "merchant" else None
    if merchant_id is not None:
        return await serve(
            request,
            ctx,
            key=("customers-rfm-merchant", day, tuple(sorted(filters.items())), cursor, limit),
            sources=_MERCHANT_SOURCES,
            max_age=MAX_AGE[Grain.DAILY],
            compute=lambda ask: customers.merchant_rfm_page(
                ask, merchant_id, day, filters, cursor, limit
            ),
            fmt=fmt,
        )
    return await serve(
        request,
        ctx,
        key=("customers-rfm", day, tuple(sorted(filters.items())), cursor, limit),
        sources=_SOURCES,
        max_age=MAX_AGE[Grain.DAILY],
        compute=lambda ask: customers.rfm_page(ask, day, filters, cursor, limit),
        fmt=fmt,
    )


def _platform_only(principal: Auth, what: str) -> None:
    """Segments and insights aggregate the platform-wide scores; a merchant key is told
    where its own customers' scores are."""
    if principal.scope.kind == "merchant":
        raise ApiError(
            "ANA_AUTH_003",
            f"{what} covers the whole platform; this key is limited to merchant "
            f"{principal.scope.merchant_id}: GET {CUSTOMERS_PREFIX}/customers/rfm lists its "
            "own customers with their scores and segments",
        )


@router.get(
    "/segments",
    response_model=Segments,
    responses=_ERRORS,
    summary="Users, revenue share and average scores per segment; the day's moves",
)
async def segments(
    request: Request,
    principal: Auth,
    day: DayParam = None,
    timezone: TimezoneParam = None,
) -> Response:
    """Per segment of the day: users and their share, average R/F/M scores, recency and
    frequency, and revenue (the look-back's purchases) per currency with its share of
    that currency; and the day's transitions (against the previous day and 30 days
    before; users who stayed are left out)."""
    _platform_only(principal, "customer segments")
    ctx = context(request, principal, timezone, platform_only="customer segments")
    return await serve(
        request,
        ctx,
        key=("customers-segments", day),
        sources=_SOURCES,
        max_age=MAX_AGE[Grain.DAILY],
        compute=lambda ask: customers.segments(ask, day),
    )


@router.get(
    "/insights",
    response_model=Insights,
    responses=_ERRORS,
    summary="Customers, active, new and at-risk, against 30 days before",
)
async def insights(
    request: Request,
    principal: Auth,
    day: DayParam = None,
    timezone: TimezoneParam = None,
) -> Response:
    """Headline numbers of the day and of 30 days before (null when that day has no
    scores): customers, active (purchase in the last 30 days), new (customers now who were
    not 30 days before) and at risk (At Risk or Can't Lose Them), with the change."""
    _platform_only(principal, "customer insights")
    ctx = context(request, principal, timezone, platform_only="customer insights")
    return await serve(
        request,
        ctx,
        key=("customers-insights", day),
        sources=_SOURCES,
        max_age=MAX_AGE[Grain.DAILY],
        compute=lambda ask: customers.insights(ask, day),
    )
