"""Monthly reports over the API world's February (a complete month after a partial
January): the numbers equal the marts and tie out, a tampered number fails the check,
data is escaped in the HTML and its SVG, and the page prints on A4 in Chromium."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from dagster import DefaultScheduleStatus, DefaultSensorStatus, materialize

from analytics_platform.assets.reports import REASON_TAG, month_problems, monthly_reports
from analytics_platform.reports import store
from analytics_platform.reports.build import read_month
from analytics_platform.reports.due import ROLLUPS_IN, DueMonth, due_months
from analytics_platform.reports.model import MonthlyReport, Ranked
from analytics_platform.reports.months import ReportMonth
from analytics_platform.reports.reconciliation import verify
from analytics_platform.reports.render import render_html
from analytics_platform.reports.store import StoredReport, render_month

from .api_world import NOW, World

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "reports"
CHROMIUM = Path("/usr/bin/chromium")
PDFTOPPM = Path("/usr/bin/pdftoppm")


@pytest.fixture(scope="module")
def february(world: World) -> Iterator[tuple[ReportMonth, list[StoredReport]]]:
    month = ReportMonth.parse("2026-02", world.settings.reporting_timezone)
    # The real clock, not the world's NOW: a report is stale when a mart it read was
    # materialized after it, and the world's marts were materialized just now.
    with psycopg.connect(world.url, autocommit=True) as conn:
        stored = render_month(conn, month, datetime.now(UTC), "scheduled")
    yield month, stored


def platform_of(stored: list[StoredReport]) -> MonthlyReport:
    return next(s.document for s in stored if s.merchant_id is None)


def test_a_month_renders_the_platform_and_every_active_merchant(world: World, february) -> None:
    month, stored = february
    merchants = world.query(
        "SELECT count(DISTINCT merchant_id) AS n FROM raw.transactions "
        "WHERE merchant_id IS NOT NULL AND occurred_at >= %s AND occurred_at < %s",
        (month.start, month.end),
    )[0]["n"]
    assert len(stored) == merchants + 1
    rows = world.query(
        "SELECT count(*) AS n FROM reports.monthly_reports WHERE month = %s", (month.first_day,)
    )
    assert rows[0]["n"] == len(stored)


def test_worker_processes_render_and_store_the_same_reports_in_the_same_order(
    world: World, february, monkeypatch: pytest.MonkeyPatch
) -> None:
    month, _ = february
    at = datetime.now(UTC)
    with psycopg.connect(world.url, autocommit=True) as conn:
        inline = render_month(conn, month, at, "manual")
        # Every month in workers, in batches of two: several batches per worker.
        monkeypatch.setattr(store, "PARALLEL_FROM", 1)
        monkeypatch.setattr(store, "COMMIT_EVERY", 2)
        parallel = render_month(conn, month, at, "manual")
    assert len(inline) > 4
    assert [(s.merchant_id, s.document_json, s.html, s.etag) for s in parallel] == [
        (s.merchant_id, s.document_json, s.html, s.etag) for s in inline
    ]
    assert parallel[1].document == inline[1].document
    rows = world.query(
        "SELECT merchant_id, etag FROM reports.monthly_reports WHERE month = %s",
        (month.first_day,),
    )
    assert {(r["merchant_id"], r["etag"]) for r in rows} == {
        (s.merchant_id or "", s.etag) for s in parallel
    }


def test_sections_read_beside_on_the_exported_snapshot_equal_those_read_in_one_session(
    world: World, february
) -> None:
    month, _ = february
    read = {}
    with psycopg.connect(world.url, autocommit=True) as conn:
        for level in ("READ COMMITTED", "REPEATABLE READ"):  # only the latter reads beside
            with conn.transaction():
                conn.execute(f"SET TRANSACTION ISOLATION LEVEL {level} READ ONLY")
                read[level] = read_month(conn, month, None)
    assert read["REPEATABLE READ"] == read["READ COMMITTED"]
    assert read["READ COMMITTED"].hours and read["READ COMMITTED"].daily


def test_platform_report_numbers_are_the_monthly_mart_and_tie_out(world: World, february) -> None:
    month, stored = february
    report = platform_of(stored)
    mart = world.query(
        "SELECT currency, revenue, transaction_count FROM marts.transactions_monthly "
        "WHERE bucket_start = %s AND dimension = 'platform'",
        (month.start,),
    )
    revenue = {f.currency: Decimal(f.value) for f in report.summary if f.name == "revenue"}
    assert revenue == {r["currency"]: r["revenue"] for r in mart if r["currency"]}
    total = next(f for f in report.summary if f.name == "transactions")
    assert int(total.value) == next(r["transaction_count"] for r in mart if r["currency"] == "")
    assert len(report.daily) == 28
    assert report.reconciliation.ties_out
    assert report.reconciliation.wallets and all(w.ties_out for w in report.reconciliation.wallets)
    assert {s.mart for s in report.sources} >= {"transactions_monthly", "transactions_daily"}
    assert report.customers is not None and report.customers.registrations >= 0
    with psycopg.connect(world.url, autocommit=True) as conn:
        assert verify(conn, report) == []


def test_merchant_report_is_that_merchants_mart_rows(world: World, february) -> None:
    month, stored = february
    report = next(s.document for s in stored if s.merchant_id == world.merchant)
    mart = world.query(
        "SELECT currency, revenue FROM marts.transactions_monthly "
        "WHERE bucket_start = %s AND dimension = 'merchant' AND dimension_value = %s",
        (month.start, world.merchant),
    )
    revenue = {f.currency: Decimal(f.value) for f in report.summary if f.name == "revenue"}
    assert revenue == {r["currency"]: r["revenue"] for r in mart if r["revenue"] is not None}
    assert report.reconciliation.ties_out and report.top_merchants == []
    assert report.webhooks is not None and report.webhooks.deliveries > 0


def test_a_tampered_daily_revenue_fails_the_tie_out_check(world: World, february) -> None:
    month, _ = february
    assert month_problems(world.url, month) == (month_problems(world.url, month)[0], [])
    tamper = (
        "UPDATE reports.monthly_reports SET document = jsonb_set(document, "
        "'{daily,3,revenue,0,amount}', to_jsonb((((document #>> '{daily,3,revenue,0,amount}')"
        "::numeric) + %s)::text)) WHERE month = %s AND merchant_id = ''"
    )
    world.query(tamper + " RETURNING 1", (Decimal("0.01"), month.first_day))
    try:
        _, problems = month_problems(world.url, month)
        assert len(problems) == 1 and problems[0].startswith("platform 2026-02 revenue")
    finally:
        world.query(tamper + " RETURNING 1", (Decimal("-0.01"), month.first_day))
    assert month_problems(world.url, month)[1] == []


def test_merchant_ids_are_escaped_in_the_html_and_its_svg(february) -> None:
    _, stored = february
    hostile = '<script>alert("x")</script>'
    report = platform_of(stored).model_copy(
        update={
            "merchant_id": hostile,
            "top_merchants": [
                Ranked(value=hostile, transactions=5, successful=4, success_rate="0.8", revenue=[])
            ],
        }
    )
    html = render_html(report)
    assert "<script" not in html
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL)
    assert any("&lt;script&gt;" in svg for svg in svgs)
    assert "&lt;script&gt;alert(" in html.split("<svg")[0]


@pytest.mark.skipif(
    not CHROMIUM.exists() or not PDFTOPPM.exists(),
    reason="needs Debian's chromium and poppler-utils (.ci/run installs both)",
)
def test_platform_report_prints_on_a_few_a4_pages_in_chromium(february, tmp_path: Path) -> None:
    _, stored = february
    page = tmp_path / "report.html"
    page.write_text(next(s.html for s in stored if s.merchant_id is None))
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}", page.as_uri(),
        ],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, flags=re.MULTILINE).group(1))
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", info, flags=re.MULTILINE)
    assert 2 <= pages <= 6
    assert (round(float(size.group(1))), round(float(size.group(2)))) == (595, 842)  # A4
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "platform-2026-02-page1"
    subprocess.run(
        [
            str(PDFTOPPM),
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(png),
        ],
        check=True,
        timeout=60,
    )
    assert png.with_suffix(".png").stat().st_size > 20_000


def test_api_serves_the_platform_report_to_admin_keys_with_an_etag(world: World, february) -> None:
    with world.client() as client:
        client.headers["X-API-Key"] = world.admin_key
        answer = client.get("/api/v1/analytics/reports/monthly", params={"month": "2026-02"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["scope"] == "platform" and body["reconciliation"]["ties_out"]
        assert all(isinstance(m["amount"], str) for d in body["daily"] for m in d["revenue"])
        again = client.get(
            "/api/v1/analytics/reports/monthly",
            params={"month": "2026-02"},
            headers={"If-None-Match": answer.headers["etag"]},
        )
        assert again.status_code == 304
        html = client.get(
            "/api/v1/analytics/reports/monthly", params={"month": "2026-02", "format": "html"}
        )
        assert html.headers["content-type"].startswith("text/html")
        assert "<svg" in html.text and html.headers["etag"] != answer.headers["etag"]
        missing = client.get("/api/v1/analytics/reports/monthly", params={"month": "2025-01"})
        assert missing.status_code == 404 and missing.json()["code"] == "ANA_RPT_001"


def test_merchant_keys_get_only_their_own_report(world: World, february) -> None:
    with world.client() as client:
        client.headers["X-API-Key"] = world.merchant_key
        own = client.get("/api/v1/analytics/reports/monthly", params={"month": "2026-02"})
        assert own.status_code == 200 and own.json()["merchant_id"] == world.merchant
        other = client.get(
            "/api/v1/analytics/reports/monthly",
            params={"month": "2026-02", "merchant_id": world.other_merchant},
        )
        assert other.status_code == 403


def test_export_streams_one_csv_row_per_transaction_in_the_keys_scope(world: World) -> None:
    window = {"start": "2026-02-01", "end": "2026-03-01"}
    expected = world.query(
        "SELECT count(*) FILTER (WHERE merchant_id = %s) AS merchant, count(*) AS total "
        "FROM raw.transactions WHERE occurred_at >= '2026-02-01Z' AND occurred_at < '2026-03-01Z'",
        (world.merchant,),
    )[0]
    with world.client() as client:
        client.headers["X-API-Key"] = world.admin_key
        answer = client.get("/api/v1/analytics/exports/transactions", params=window)
        assert answer.status_code == 200, answer.text
        lines = answer.text.splitlines()
        header = lines[0].split(",")
        assert {"occurred_at_utc", "occurred_at_reporting_zone", "amount"} <= set(header)
        assert len(lines) - 1 == expected["total"]
        client.headers["X-API-Key"] = world.merchant_key
        rows = client.get(
            "/api/v1/analytics/exports/transactions", params={**window, "format": "json"}
        ).text.splitlines()
        assert len(rows) == expected["merchant"] > 0
        assert all(f'"merchant_id":"{world.merchant}"' in row for row in rows)


def test_openapi_documents_the_report_schema_and_both_export_formats(client) -> None:
    spec = client.get("/openapi.json").json()
    report = spec["paths"]["/api/v1/analytics/reports/monthly"]["get"]["responses"]
    assert report["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/MonthlyReport")
    assert "404" in report and "text/html" in report["200"]["content"]
    export = spec["paths"]["/api/v1/analytics/exports/transactions"]["get"]["responses"]
    assert {"text/csv", "application/x-ndjson"} <= set(export["200"]["content"])


def test_report_render_command_writes_one_merchants_files(
    world: World, february, tmp_path: Path, capsys
) -> None:
    from analytics_platform.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", world.url)
        code = main(
            [
                "report",
                "render",
                "--month",
                "2026-02",
                "--merchant",
                world.merchant,
                "--out",
                str(tmp_path),
            ]
        )
    assert code == 0, capsys.readouterr().err
    written = sorted(p.name for p in (tmp_path / "2026-02").iterdir())
    assert written == [f"merchant-{world.merchant}.html", f"merchant-{world.merchant}.json"]
    assert "1/1 reports" in capsys.readouterr().err
    rendering = world.query(
        "SELECT render_reason, first_rendered_at FROM reports.monthly_reports "
        "WHERE month = '2026-02-01' AND merchant_id = %s",
        (world.merchant,),
    )[0]
    first = next(s for s in february[1] if s.merchant_id == world.merchant)
    assert rendering == {
        "render_reason": "manual",
        "first_rendered_at": first.document.rendering.rendered_at,
    }


def test_due_months_are_closed_unrendered_months_and_months_with_late_data(
    world: World, february
) -> None:
    month, _ = february
    tz = world.settings.reporting_timezone
    with psycopg.connect(world.url, autocommit=True) as conn:
        before = due_months(conn, NOW, tz)
        # January is closed and rolled up but has no report; February has one.
        assert DueMonth(date(2026, 1, 1), ROLLUPS_IN) in before
        assert all(d.month != month.first_day for d in before)
        # Late data re-ran February 14th: the automation re-materialized the day, then
        # the month; both are newer than the report.
        later = datetime.now(UTC) + timedelta(days=1)
        buckets = {
            "transactions_daily": datetime(2026, 2, 14, tzinfo=ZoneInfo(tz)),
            "transactions_monthly": month.start,
        }
        originals = {
            mart: conn.execute(
                "SELECT materialized_at FROM marts.rollup_buckets "
                "WHERE mart = %s AND bucket_start = %s",
                (mart, bucket),
            ).fetchone()[0]
            for mart, bucket in buckets.items()
        }
        stamp = (
            "UPDATE marts.rollup_buckets SET materialized_at = %s "
            "WHERE mart = %s AND bucket_start = %s"
        )
        conn.execute(stamp, (later, "transactions_daily", buckets["transactions_daily"]))
        try:
            # The month is not ready until its monthly bucket is newer than the day.
            assert all(d.month != month.first_day for d in due_months(conn, NOW, tz))
            conn.execute(
                stamp,
                (later + timedelta(seconds=1), "transactions_monthly", month.start),
            )
            late = [d for d in due_months(conn, NOW, tz) if d.month == month.first_day]
        finally:
            for mart, bucket in buckets.items():
                conn.execute(stamp, (originals[mart], mart, bucket))
    assert len(late) == 1
    assert late[0].reason.startswith("late data: transactions_daily 2026-02-14 re-materialized")


def test_the_asset_renders_a_month_from_dagster_and_its_check_passes(
    world: World, february, monkeypatch: pytest.MonkeyPatch
) -> None:
    month, stored = february
    monkeypatch.setenv("DATABASE_URL", world.url)
    result = materialize(
        [monthly_reports], partition_key="2026-02-01", tags={REASON_TAG: "late data: test"}
    )
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.description
    [materialization] = result.asset_materializations_for_node(monthly_reports.op.name)
    reports = world.query(
        "SELECT count(*) AS n, min(render_reason) AS reason, "
        "bool_and(first_rendered_at = %s) AS first_kept "
        "FROM reports.monthly_reports WHERE month = %s",
        (stored[0].document.rendering.rendered_at, month.first_day),
    )[0]
    assert materialization.metadata["dagster/row_count"].value == reports["n"]
    assert reports["reason"] == "late data: test" and reports["first_kept"]


def test_the_report_schedule_and_late_data_sensor_run_by_default() -> None:
    from analytics_platform.definitions import defs

    schedule = defs.resolve_schedule_def("monthly_reports_schedule")
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    sensor = defs.resolve_sensor_def("monthly_reports_late_data")
    assert sensor.default_status == DefaultSensorStatus.RUNNING


def _raw_breakdown(world: World, month: ReportMonth, column: str, merchant: str | None) -> list:
    """(value, transactions, successful, {currency: revenue}) counted on raw transactions,
    busiest first: the independent side of the breakdown tests."""
    rows = world.query(
        f"SELECT {column} AS value, currency, count(*) AS n, "
        "count(*) FILTER (WHERE status = 'SUCCESS') AS ok, "
        "coalesce(sum(amount) FILTER (WHERE status = 'SUCCESS'), 0) AS revenue "
        "FROM raw.transactions WHERE occurred_at >= %s AND occurred_at < %s "
        "AND (%s::text IS NULL OR merchant_id = %s) GROUP BY 1, 2",
        (month.start, month.end, merchant, merchant),
    )
    values: dict[str, list] = {}
    for r in rows:
        entry = values.setdefault(r["value"], [r["value"], 0, 0, {}])
        entry[1] += r["n"]
        entry[2] += r["ok"]
        entry[3][r["currency"]] = r["revenue"]
    return sorted(values.values(), key=lambda e: (-e[1], e[0]))


def _as_raw(ranked: list[Ranked]) -> list:
    return [
        [r.value, r.transactions, r.successful, {m.currency: Decimal(m.amount) for m in r.revenue}]
        for r in ranked
    ]


def test_merchant_report_ranks_its_categories_and_payment_methods_as_raw_counts_them(
    world: World, february
) -> None:
    month, stored = february
    mine = next(s for s in stored if s.merchant_id == world.merchant)
    report = mine.document
    categories = _raw_breakdown(world, month, "category", world.merchant)
    methods = _raw_breakdown(world, month, "payment_method", world.merchant)
    assert report.top_categories and report.payment_methods
    assert _as_raw(report.top_categories) == categories[:10]
    assert _as_raw(report.payment_methods) == methods[:10]
    total = sum(c[1] for c in categories)
    assert [b.transactions_sum for b in report.reconciliation.breakdowns] == [total, total]
    assert all(b.ties_out for b in report.reconciliation.breakdowns)
    top = report.payment_methods[0]
    assert Decimal(top.share) == (Decimal(top.transactions) / total).quantize(Decimal("0.0001"))
    assert "<h2>Top categories</h2>" in mine.html and "<h2>Payment methods</h2>" in mine.html
    assert f"<td>{categories[0][0]}</td>" in mine.html.split("<h2>Payment methods</h2>")[0]


def test_platform_payment_methods_are_every_transactions_method(world: World, february) -> None:
    month, stored = february
    report = platform_of(stored)
    methods = _raw_breakdown(world, month, "payment_method", None)
    assert _as_raw(report.payment_methods) == methods[:10]
    assert [b.dimension for b in report.reconciliation.breakdowns] == ["category", "payment_method"]
    assert all(b.ties_out for b in report.reconciliation.breakdowns)


def test_a_tampered_breakdown_fails_the_tie_out_check(world: World, february) -> None:
    month, _ = february
    tamper = (
        "UPDATE reports.monthly_reports SET document = jsonb_set(document, "
        "'{reconciliation,breakdowns,1,transactions_sum}', to_jsonb("
        "(document #>> '{reconciliation,breakdowns,1,transactions_sum}')::bigint + %s)) "
        "WHERE month = %s AND merchant_id = %s RETURNING 1"
    )
    world.query(tamper, (1, month.first_day, world.merchant))
    try:
        _, problems = month_problems(world.url, month)
        assert len(problems) == 1 and problems[0].startswith(f"{world.merchant} 2026-02 payment")
    finally:
        world.query(tamper, (-1, month.first_day, world.merchant))
    assert month_problems(world.url, month)[1] == []


@pytest.mark.parametrize(
    ("scope", "who"),
    [("admin", None), ("merchant", "merchant"), ("merchant", "other_merchant"), ("", None)],
)
def test_the_export_view_shows_each_scope_exactly_its_rows(world: World, scope, who) -> None:
    merchant = getattr(world, who) if who else ""
    with psycopg.connect(world.url) as conn:
        conn.execute(
            "SELECT set_config('app.scope', %s, true), set_config('app.merchant_id', %s, true)",
            (scope, merchant),
        )
        (seen,) = conn.execute(
            "SELECT count(*) FROM api.export_transactions WHERE occurred_at >= %s",
            (datetime(2026, 2, 1, tzinfo=UTC),),
        ).fetchone()
    expected = world.query(
        "SELECT count(*) AS n FROM raw.transactions WHERE occurred_at >= %s "
        "AND (%s = 'admin' OR (%s = 'merchant' AND merchant_id = %s))",
        (datetime(2026, 2, 1, tzinfo=UTC), scope, scope, merchant),
    )[0]["n"]
    assert seen == expected and (expected > 0) == (scope != "")
