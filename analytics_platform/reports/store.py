"""Rendering a month's reports into reports.monthly_reports, and reading them back."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import psycopg
from psycopg.rows import dict_row

from analytics_platform.reports.build import MonthMarts, build_report, query_rows, read_month
from analytics_platform.reports.model import MonthlyReport, Rendering
from analytics_platform.reports.months import ReportMonth
from analytics_platform.reports.render import etag_of, render_html
from analytics_platform.resources.warehouse import read_sql

# Reports per transaction when rendering a month.
COMMIT_EVERY = 100
# A month with at least this many reports renders in worker processes, one per core: a
# report is about 5 ms of Python (pydantic models, jinja2), 10-12 s for 2,000 merchants on
# one core. Below it (tests, one merchant) starting the workers would cost more.
PARALLEL_FROM = 400


@dataclass(frozen=True)
class StoredReport:
    merchant_id: str | None
    document_json: str
    html: str
    etag: str

    @cached_property
    def document(self) -> MonthlyReport:
        """The document, parsed from its JSON on first use: worker processes hand back
        text, which crosses between processes far cheaper than the models."""
        return MonthlyReport.model_validate_json(self.document_json)


def active_merchants(conn: psycopg.Connection, month: ReportMonth) -> list[str]:
    rows = conn.execute(read_sql("reports/active_merchants.sql"), month.params(None))
    return [merchant for (merchant,) in rows]


def _store(
    conn: psycopg.Connection,
    month: ReportMonth,
    batch: list[StoredReport],
    rendered_at: datetime,
    reason: str,
) -> None:
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
                    "rendered_at": rendered_at,
                    "render_reason": reason,
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
    for all of them (build.read_month), at the start, in one snapshot; a large month's
    reports are built and rendered by a worker process per core while this process
    stores the batches already rendered, in order."""
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
    batches = [
        [
            (merchant, first_rendered.get(merchant or "", rendered_at))
            for merchant in targets[first : first + COMMIT_EVERY]
        ]
        for first in range(0, len(targets), COMMIT_EVERY)
    ]
    stored: list[StoredReport] = []
    for batch in _rendered(marts, batches, rendered_at, reason):
        with conn.transaction():
            _store(conn, month, batch, rendered_at, reason)
        for report in batch:
            stored.append(report)
            if progress:
                progress(len(stored), len(targets), report.merchant_id)
    return stored


_Batch = list[tuple[str | None, datetime]]
# The month's mart rows in a worker process: inherited from the parent at fork, not sent.
_worker_marts: MonthMarts | None = None


def _rendered(
    marts: MonthMarts, batches: list[_Batch], rendered_at: datetime, reason: str
) -> Iterator[list[StoredReport]]:
    """The batches' reports, in order; rendered by one worker process per core (forked,
    so they share the parent's mart rows) when the month is large and fork exists."""
    workers = min(os.cpu_count() or 1, len(batches))
    reports = sum(len(batch) for batch in batches)
    forks = "fork" in multiprocessing.get_all_start_methods()
    if workers < 2 or reports < PARALLEL_FROM or not forks:
        for batch in batches:
            yield _render_batch(marts, batch, rendered_at, reason)
        return
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_hold_marts,
        initargs=(marts,),
    ) as pool:
        yield from pool.map(
            _render_batch_of_worker,
            batches,
            [rendered_at] * len(batches),
            [reason] * len(batches),
        )


def _hold_marts(marts: MonthMarts) -> None:
    global _worker_marts
    _worker_marts = marts


def _render_batch_of_worker(
    batch: _Batch, rendered_at: datetime, reason: str
) -> list[StoredReport]:
    if _worker_marts is None:
        raise RuntimeError("a report worker started without the month's mart rows")
    return _render_batch(_worker_marts, batch, rendered_at, reason)


def _render_batch(
    marts: MonthMarts, batch: _Batch, rendered_at: datetime, reason: str
) -> list[StoredReport]:
    rendered = []
    for merchant, first_rendered_at in batch:
        rendering = Rendering(
            rendered_at=rendered_at, reason=reason, first_rendered_at=first_rendered_at
        )
        report = build_report(marts, merchant, rendering)
        document_json = report.model_dump_json()
        html = render_html(report)
        rendered.append(StoredReport(merchant, document_json, html, etag_of(document_json, html)))
    return rendered


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
