"""Rendering a month's reports into reports.monthly_reports, and reading them back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from analytics_platform.reports.build import build_report
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


def render_report(
    conn: psycopg.Connection,
    month: ReportMonth,
    merchant_id: str | None,
    rendered_at: datetime,
    reason: str,
) -> StoredReport:
    """Builds, renders and stores one report (in the caller's transaction)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            read_sql("reports/report_of.sql"),
            {"month": month.first_day, "merchant": merchant_id or ""},
        )
        previous = cur.fetchone()
    rendering = Rendering(
        rendered_at=rendered_at,
        reason=reason,
        first_rendered_at=previous["first_rendered_at"] if previous else rendered_at,
    )
    report = build_report(conn, month, merchant_id, rendering)
    document_json = report.model_dump_json()
    html = render_html(report)
    etag = etag_of(document_json, html)
    conn.execute(
        read_sql("reports/store_report.sql"),
        {
            "month": month.first_day,
            "merchant": merchant_id or "",
            "document": Jsonb(report.model_dump(mode="json")),
            "html": html,
            "etag": etag,
            "rendered_at": rendered_at,
            "render_reason": reason,
        },
    )
    return StoredReport(merchant_id, report, document_json, html, etag)


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
    commits, without paying a commit (a WAL flush) per report."""
    targets: list[str | None] = (
        [None, *active_merchants(conn, month)] if merchants is None else list(merchants)
    )
    stored = []
    for first in range(0, len(targets), COMMIT_EVERY):
        with conn.transaction():
            for index, merchant in enumerate(targets[first : first + COMMIT_EVERY], first):
                stored.append(render_report(conn, month, merchant, rendered_at, reason))
                if progress:
                    progress(index + 1, len(targets), merchant)
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
