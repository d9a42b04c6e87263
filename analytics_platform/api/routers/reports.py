"""Reports and exports: the stored monthly reports (reports/monthly) and the itemized
transaction export, streamed from PostgreSQL (months retention dropped from raw come from
the archive, printed by PostgreSQL all the same: api/export_archive.py).

Both read under the key's scope in the database (row-level security on
reports.monthly_reports, the security-barrier view api.export_transactions), so a merchant
key can never read another merchant's report or rows whatever the parameters say.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from analytics_platform.api.deps import Auth, EndParam, StartParam, context
from analytics_platform.api.errors import ApiError, error_responses, invalid
from analytics_platform.api.periods import parse_instant
from analytics_platform.api.threaded_stream import threaded_stream
from analytics_platform.api.transaction_export import TransactionExport, producers
from analytics_platform.reports.model import MonthlyReport
from analytics_platform.reports.months import InvalidMonth, ReportMonth

router = APIRouter(tags=["reports"])

# The longest export window in one request: a few months of rows stream fine, a decade
# is a mistake.
MAX_EXPORT_DAYS = 93


def _merchant_scope(principal: Any, merchant_id: str | None) -> str | None:
    scope = principal.scope
    return scope.merchant_id if scope.kind == "merchant" else merchant_id


@router.get(
    "/reports/monthly",
    response_model=MonthlyReport,
    responses={
        **error_responses("ANA_VAL_002", "ANA_AUTH_003", "ANA_RPT_001"),
        200: {
            "content": {"text/html": {"schema": {"type": "string"}}},
            "description": "the report document, or its HTML rendering (format=html)",
        },
    },
    summary="A month's report (platform or merchant) as JSON or print-ready HTML",
)
async def monthly_report(
    request: Request,
    principal: Auth,
    month: Annotated[str, Query(description="YYYY-MM", examples=["2026-02"], max_length=7)],
    format: Annotated[Literal["json", "html"], Query(description="json or html")] = "json",
    merchant_id: Annotated[
        str | None,
        Query(
            description="admin keys: this merchant's report instead of the platform's; "
            "merchant keys: their own (default)",
            max_length=200,
        ),
    ] = None,
) -> Response:
    """The report rendered by reports/monthly for the month (reporting zone): the same
    document the HTML shows, with its reconciliation block and the marts it read. The
    ETag is the rendering's: it changes when the month is re-rendered with new numbers."""
    ctx = context(request, principal, None, merchant_id)
    try:
        report_month = ReportMonth.parse(month, ctx.state.settings.reporting_timezone)
    except InvalidMonth as error:
        raise invalid("month", str(error)) from None
    merchant = _merchant_scope(principal, merchant_id)
    db = ctx.state.db
    async with db.scoped(principal.scope) as conn:
        rows = await db.rows(
            conn,
            "reports/report_of.sql",
            {"month": report_month.first_day, "merchant": merchant or ""},
        )
    if not rows:
        raise ApiError(
            "ANA_RPT_001",
            f"no report of {report_month.label} for {merchant or 'the platform'} has been "
            "rendered (reports/monthly renders a month once its rollups are in)",
        )
    row = rows[0]
    etag = f'"{row["etag"]}-{format}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=300"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if format == "html":
        return HTMLResponse(row["html"], headers=headers)
    return Response(
        MonthlyReport.model_validate(row["document"]).model_dump_json(),
        media_type="application/json",
        headers=headers,
    )


@router.get(
    "/exports/transactions",
    responses={
        **error_responses("ANA_VAL_002", "ANA_VAL_003"),
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
            "description": "one row per transaction (docs/reports.md lists the columns)",
        },
    },
    summary="Itemized transactions for accounting, streamed as CSV or JSON lines",
)
async def export_transactions(
    request: Request,
    principal: Auth,
    start: StartParam = None,
    end: EndParam = None,
    format: Annotated[Literal["csv", "json"], Query(description="csv or json (lines)")] = "csv",
) -> StreamingResponse:
    """Every transaction with occurred_at in [start, end) visible to the key, oldest first,
    amounts in major units, times in UTC (`*_utc`) and in the reporting zone
    (`*_reporting_zone`, the zone in the Reporting-Timezone header). Streamed: rows leave
    PostgreSQL through COPY (CSV) or a server-side cursor (JSON) as they are read, an hour
    per statement, from two worker threads on connections of their own taking turns
    (api/transaction_export.py); rows of months retention dropped are read from the
    archive a UTC day at a time."""
    ctx = context(request, principal)
    if start is None or end is None:
        raise invalid("start" if start is None else "end", "required (e.g. 2026-02-01)")
    begin = parse_instant(start, ctx.tz, "start")
    finish = parse_instant(end, ctx.tz, "end")
    if not begin < finish <= begin + timedelta(days=MAX_EXPORT_DAYS):
        raise invalid(
            "end", f"must be after start and at most {MAX_EXPORT_DAYS} days later", "ANA_VAL_003"
        )
    zone_name = ctx.state.settings.reporting_timezone
    export = TransactionExport(
        start=begin,
        end=finish,
        zone=zone_name,
        scope=principal.scope,
        format=format,
        archive_url=ctx.state.settings.archive_url,
    )
    body = threaded_stream(producers(ctx.state.db, export), name="transaction-export")
    name = f"transactions_{begin.date().isoformat()}_{finish.date().isoformat()}"
    headers = {"Reporting-Timezone": zone_name, "Cache-Control": "no-store"}
    if format == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return StreamingResponse(body, media_type="text/csv", headers=headers)
    return StreamingResponse(body, media_type="application/x-ndjson", headers=headers)
