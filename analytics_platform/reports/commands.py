"""`analytics-platform report render`: a month's reports written to a folder.

Registered by cli.py (`add_report_commands`). Renders exactly what reports/monthly stores
(and stores it too, with reason 'manual'), then writes `<month>/<name>.json` and
`<month>/<name>.html` per report, `platform` and one per merchant.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from analytics_platform.settings import Settings


def report_errors() -> tuple[type[BaseException], ...]:
    """Errors a user can fix: printed as one line by cli.main, never as a traceback."""
    from analytics_platform.reports.months import InvalidMonth

    return (InvalidMonth,)


def file_stem(merchant_id: str | None) -> str:
    """A file name for a merchant id that cannot leave the folder or clash with 'platform'."""
    if merchant_id is None:
        return "platform"
    return "merchant-" + re.sub(r"[^A-Za-z0-9_.-]", "_", merchant_id).lstrip(".")


def cmd_report_render(args: argparse.Namespace, settings: Settings) -> int:
    from analytics_platform.reports.months import ReportMonth
    from analytics_platform.reports.store import render_month
    from analytics_platform.resources.warehouse import connect

    month = ReportMonth.parse(args.month, settings.reporting_timezone)
    folder = Path(args.out) / month.label
    folder.mkdir(parents=True, exist_ok=True)

    def progress(done: int, total: int, merchant: str | None) -> None:
        if done == total or done % 50 == 0 or sys.stderr.isatty():
            print(f"\r{done}/{total} reports ({merchant or 'platform'})", end="", file=sys.stderr)
        if done == total:
            print(file=sys.stderr)

    with connect(settings.database_url, autocommit=True) as conn:
        stored = render_month(
            conn,
            month,
            datetime.now(UTC),
            "manual",
            merchants=[args.merchant] if args.merchant else None,
            progress=progress,
        )
    for report in stored:
        stem = folder / file_stem(report.merchant_id)
        stem.with_suffix(".json").write_text(report.document_json)
        stem.with_suffix(".html").write_text(report.html)
    untied = [s.merchant_id or "platform" for s in stored if not s.document.reconciliation.ties_out]
    print(f"wrote {len(stored)} reports of {month.label} to {folder}")
    if untied:
        print(f"do NOT tie out: {', '.join(untied)}", file=sys.stderr)
        return 1
    return 0


def add_report_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="render monthly reports to files")
    actions = report.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    render = actions.add_parser(
        "render",
        help="render a month's reports (platform and every active merchant) as JSON and HTML",
    )
    render.add_argument("--month", required=True, help="YYYY-MM (reporting time zone)")
    render.add_argument("--merchant", help="only this merchant's report")
    render.add_argument("--out", required=True, help="folder; files go to OUT/YYYY-MM/")
    render.set_defaults(handler=cmd_report_render)
