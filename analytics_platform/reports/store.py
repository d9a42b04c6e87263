"""Rendering a month's reports into reports.monthly_reports, and reading them back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from analytics_platform.reports.build import build_report, query_rows, read_month
from analytics_platform.reports.model import MonthlyReport, Rendering
from analytics_platform.reports.months import ReportMonth
from analytics_platform.reports.render import etag_of, render_html
from analytics_platform.resources.warehouse import read_sql

# Reports per transaction when rendering a month.
COMMIT_EVERY = 100


@dataclass(frozen=True)
class StoredReport:
    merchant_id: str | None
    document: MonthlyReport
    document_json: str
    html: str
    etag: str


def active_merchants(conn: psycopg.Connection, month: ReportMonth) -> list[str]:
    rows = conn.execute(read_sql("reports/active_merchants.sql"), month.params(None))
    return [merchant for (merchant,) in rows]


def _store(conn: psycopg.Connection, month: ReportMonth, batch: list[StoredReport]) -> None:
    rendering = batch[0].document.rendering if batch else None
    with conn.cursor() as cur:
        cur.executemany(
            read_sql("reports/store_report.sql"),
            [
                {
                    "month": month.first_day,
                    "merchant": s.merchant_id or "",
                    # The JSON text as it is: PostgreSQL parses it into jsonb, without
                    # a second serialization in Python.
                    "document": s.document_json,
                    "html": s.html,
                    "etag": s.etag,
                    "rendered_at": rendering.rendered_at if rendering else None,
                    "render_reason": rendering.reason if rendering else None,
                }
                for s in batch
            ],
        )


def render_month(
    conn: psycopg.Connection,
    month: ReportMonth,
    rendered_at: datetime,
    reason: str,
    merchants: list[str] | None = None,
    progress: Callable[[int, int, str | None], None] | None = None,
) -> list[StoredReport]:
    """The platform's report and each merchant's (default: every merchant active in the
    month), committed COMMIT_EVERY reports at a time: a long month shows progress as it
    commits, without paying a commit (a WAL flush) per report. The marts are read once
    for all of them (build.read_month), at the start, in one snapshot."""
    targets: list[str | None] = (
        [None, *active_merchants(conn, month)] if merchants is None else list(merchants)
    )
    with conn.transaction():
        if conn.autocommit:
            # One snapshot for every section of every report: a rollup committing
            # meanwhile cannot make the daily rows and the month's total disagree.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        marts = read_month(conn, month, (targets[0] or "") if len(targets) == 1 else None)
        first_rendered = {
            r["merchant_id"]: r["first_rendered_at"]
            for r in query_rows(conn, "renderings_of_month", {"month": month.first_day})
        }
    stored: list[StoredReport] = []
    for first in range(0, len(targets), COMMIT_EVERY):
        batch = []
        for index, merchant in enumerate(targets[first : first + COMMIT_EVERY], first):
            rendering = Rendering(
                rendered_at=rendered_at,
                reason=reason,
                first_rendered_at=first_rendered.get(merchant or "", rendered_at),
            )
            report = build_report(marts, merchant, rendering)
            document_json = report.model_dump_json()
            html = render_html(report)
            batch.append(
                StoredReport(merchant, report, document_json, html, etag_of(document_json, html))
            )
            if progress:
                progress(index + 1, len(targets), merchant)
        with conn.transaction():
            _store(conn, month, batch)
        stored.extend(batch)
    return stored


def stored_reports(conn: psycopg.Connection, month: ReportMonth) -> list[MonthlyReport]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(read_sql("reports/reports_of_month.sql"), {"month": month.first_day})
        return [MonthlyReport.model_validate(r["document"]) for r in cur.fetchall()]


def stored_report(
    conn: psycopg.Connection, month: ReportMonth, merchant_id: str | None
) -> dict[str, Any] | None:
    """One stored report as the connection's scope may see it (None: absent or hidden)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            read_sql("reports/report_of.sql"),
            {"month": month.first_day, "merchant": merchant_id or ""},
        )
        return cur.fetchone()
