"""Dependencies of the routes: the caller's key, whose numbers, which time zone, paging.

Parameter declarations live here once, with their documentation, so every route that
takes `days` or `timezone` documents and validates it the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyHeader

from analytics_platform.api.auth import Principal
from analytics_platform.api.errors import ApiError, invalid
from analytics_platform.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from analytics_platform.api.periods import MAX_RANGE_DAYS
from analytics_platform.api.queries.common import Subject
from analytics_platform.api.state import ApiState
from analytics_platform.api.zones import MAX_ZONE_NAME

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key from `analytics-platform api-key create`; its scope is `admin` "
    "(everything) or one merchant (that merchant's numbers only).",
)


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


async def authenticate(
    request: Request, api_key: Annotated[str | None, Security(api_key_header)] = None
) -> Principal:
    """The caller's key, verified and within its rate limit."""
    if len(request.headers.getlist("x-api-key")) > 1:
        # Proxies and frameworks disagree on which of several headers counts.
        raise ApiError(
            "ANA_AUTH_004", "send exactly one X-API-Key header; this request has several"
        )
    state = state_of(request)
    principal = await state.keys.verify(api_key)
    request.scope["state"]["key_prefix"] = principal.key_prefix
    if (retry_after := state.limiter.take(principal.key_id)) is not None:
        state.metrics.rate_limited.labels(principal.scope.kind).inc()
        raise ApiError(
            "ANA_RATE_001",
            f"API key {principal.key_prefix} made more than "
            f"{state.settings.api_rate_limit_per_minute} requests a minute (bursts up to "
            f"{state.settings.api_rate_limit_burst}); retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    if not state.zones.loaded:
        # Read at startup unless the database was down then.
        await state.zones.load(state.db)
    return principal


Auth = Annotated[Principal, Depends(authenticate)]

TimezoneParam = Annotated[
    str | None,
    Query(
        description="IANA time zone in which times in the response are shown, and in which "
        "start/end without an offset are read (default: REPORTING_TIMEZONE). Buckets are "
        "always cut in the reporting time zone.",
        examples=["Asia/Jakarta"],
        max_length=MAX_ZONE_NAME,
    ),
]
MerchantParam = Annotated[
    str | None,
    Query(
        description="Admin keys: one merchant's numbers instead of the platform's. "
        "A merchant key may only name its own merchant.",
        examples=["mch_42"],
        min_length=1,
        max_length=200,
    ),
]
DaysParam = Annotated[
    int | None,
    Query(
        description="Number of complete days before today (in the reporting time zone); "
        "or give start/end instead (not both). Default: the endpoint's, below.",
        ge=1,
        le=MAX_RANGE_DAYS,
        examples=[30],
    ),
]
CursorParam = Annotated[
    str | None,
    Query(
        description="`nextCursor` of the previous page; omit for the first page.",
        max_length=512,
    ),
]
LimitParam = Annotated[
    int,
    Query(description="Items per page.", ge=1, le=MAX_LIMIT, examples=[DEFAULT_LIMIT]),
]
FormatParam = Annotated[
    Literal["json", "csv"] | None,
    Query(
        alias="format",
        description="`csv` exports the series (`items`) as CSV; default JSON, or what the "
        "Accept header asks for (`text/csv`).",
    ),
]
StartParam = Annotated[
    str | None,
    Query(
        description="Start of the half-open range [start, end): ISO 8601 date or time; "
        "without an offset it is read in `timezone`. Buckets starting in the range count.",
        examples=["2026-04-01"],
        max_length=64,
    ),
]
EndParam = Annotated[
    str | None,
    Query(
        description="End of the range, exclusive (same forms as start).",
        examples=["2026-05-01"],
        max_length=64,
    ),
]


@dataclass(frozen=True)
class Context:
    """One request's who, whose numbers, zone and clock reading."""

    state: ApiState
    principal: Principal
    subject: Subject
    tz: ZoneInfo
    now: datetime


def context(
    request: Request,
    principal: Principal,
    timezone: str | None = None,
    merchant_id: str | None = None,
    *,
    platform_only: str | None = None,
) -> Context:
    """The request's context; `platform_only` names the endpoint when merchant keys may
    not use it (their 403 says so)."""
    state = state_of(request)
    scope = principal.scope
    if scope.kind == "merchant":
        if platform_only:
            raise ApiError(
                "ANA_AUTH_003",
                f"{platform_only} covers the whole platform; this key is limited to merchant "
                f"{scope.merchant_id}",
            )
        if merchant_id is not None and merchant_id != scope.merchant_id:
            raise ApiError(
                "ANA_AUTH_003",
                f"this key sees merchant {scope.merchant_id} only, not {merchant_id}",
                params=[("merchant_id", "another merchant")],
            )
        subject = Subject(scope.merchant_id)
    else:
        if platform_only and merchant_id is not None:
            raise ApiError(
                "ANA_VAL_002",
                f"merchant_id: {platform_only} has no per-merchant figures",
                params=[("merchant_id", "not available here")],
            )
        subject = Subject(merchant_id)
    tz = state.zones.zone(timezone) if timezone else state.settings.tz
    return Context(state, principal, subject, tz, state.clock())


async def reject_nul_characters(request: Request) -> None:
    """Refuse NUL in any parameter or JSON body field: PostgreSQL text cannot hold it
    (a DataError, so a 500, otherwise)."""
    for name, value in (*request.query_params.multi_items(), *request.path_params.items()):
        if isinstance(value, str) and "\x00" in value:
            raise invalid(name, "must not contain NUL (0x00) characters")
    if request.method in ("POST", "PUT", "PATCH"):
        # FastAPI has read (and cached) the body and found it valid JSON by now.
        raw = await request.body()
        try:
            document = json.loads(raw) if raw else None
        except ValueError:
            return  # the body's validation reports it
        if (where := _nul_in(document, "body")) is not None:
            raise invalid(where, "must not contain NUL (0x00) characters")


def _nul_in(value: object, path: str) -> str | None:
    """The path of the first string (value or object key) holding NUL, if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, inner in value.items():
            if "\x00" in key:
                return path
            if (found := _nul_in(inner, f"{path}.{key}")) is not None:
                return found
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            if (found := _nul_in(inner, f"{path}.{index}")) is not None:
                return found
    return None
