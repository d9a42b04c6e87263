"""The report as one self-contained HTML page (jinja2, autoescaped) and its ETag."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from analytics_platform.reports.charts import bar_chart
from analytics_platform.reports.model import MonthlyReport

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# Charts of revenue per currency: the busiest few, so the page stays a few A4 pages.
CHARTED_CURRENCIES = 2


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _charts(report: MonthlyReport) -> dict[str, object]:
    who = report.merchant_id or "the platform"
    days = [d.day.strftime("%d") for d in report.daily]
    totals: dict[str, list[float]] = {}
    for index, day in enumerate(report.daily):
        for money in day.revenue:
            totals.setdefault(money.currency, [0.0] * len(report.daily))[index] = float(
                Decimal(money.amount)
            )
    busiest = sorted(totals, key=lambda c: (-sum(totals[c]), c))[:CHARTED_CURRENCIES]
    return {
        "transactions": bar_chart(
            days, [d.transactions for d in report.daily], f"Daily transactions of {who}"
        ),
        "revenue": [
            (c, bar_chart(days, totals[c], f"Daily revenue of {who} in {c}")) for c in busiest
        ],
        "hours": bar_chart(
            [f"{h.hour:02d}" for h in report.peak_hours],
            [h.transactions for h in report.peak_hours],
            f"Transactions of {who} per hour of the day ({report.timezone})",
        ),
        "merchants": bar_chart(
            [m.value for m in report.top_merchants],
            [m.transactions for m in report.top_merchants],
            "Top merchants by transactions",
        )
        if report.top_merchants
        else None,
    }


def render_html(report: MonthlyReport) -> str:
    template = environment().get_template("monthly_report.html")
    return template.render(report=report, charts=_charts(report))


def etag_of(document_json: str, html: str) -> str:
    digest = hashlib.sha256(document_json.encode())
    digest.update(b"\0")
    digest.update(html.encode())
    return digest.hexdigest()[:32]
