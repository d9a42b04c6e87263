"""The monthly report of the platform or one merchant, read from the marts.

Nothing here reads raw transactions: every number is a mart row (or a sum of mart rows)
as the API serves it, and the report lists the mart materializations it read. The one
exception the issue asks for is the wallet tie-out, which is computed from the
wallet-balance events because no mart holds balances.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from analytics_platform.reports.model import (
    Customers,
    Day,
    Failure,
    Figure,
    Latency,
    MonthlyReport,
    PeakHour,
    Ranked,
    Rendering,
    RfmSegments,
    Segment,
    Source,
    WalletTieOut,
    Webhooks,
)
from analytics_platform.reports.months import ReportMonth
from analytics_platform.reports.reconciliation import (
    breakdown_tie_outs,
    reconcile,
    wallet_tie_outs,
)
from analytics_platform.resources.warehouse import SESSION_OPTIONS, read_sql

TOP = 10
PLATFORM_MARTS = (
    "transactions_monthly",
    "transactions_daily",
    "transactions_hourly",
    "failures_monthly",
    "webhooks_monthly",
    "user_lifecycle_monthly",
    "merchant_breakdown_monthly",
)
_STATUS_FIGURES = (
    ("transactions", "transaction_count"),
    ("successful", "success_count"),
    ("failed", "failed_count"),
    ("expired", "expired_count"),
    ("pending", "pending_count"),
    ("refunded", "refunded_count"),
)
_MONEY_FIGURES = (
    ("revenue", "revenue"),
    ("average value", "average_value"),
    ("refund amount", "refund_amount"),
)


def query_rows(conn: psycopg.Connection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(read_sql(f"reports/{name}.sql"), params)
        return cur.fetchall()


def _by_scope(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["scope"]].append(row)
    return grouped


@dataclass(frozen=True)
class MonthMarts:
    """Every mart row a month's reports read, per report scope ('' = the platform, else a
    merchant id), read with one set-based query per section for all scopes at once: a
    month of 2,000 merchants costs a few queries, not a few per merchant."""

    month: ReportMonth
    totals: dict[str, list[dict[str, Any]]]
    daily: dict[str, list[dict[str, Any]]]
    hours: dict[str, list[dict[str, Any]]]
    failures: dict[str, list[dict[str, Any]]]
    webhooks: dict[str, list[dict[str, Any]]]
    breakdown: dict[str, list[dict[str, Any]]]
    sources: list[Source]
    customers: Customers | None
    wallets: list[WalletTieOut]


# The sections of every scope that cost the server most at a month's scale (6M
# transactions over 2,000 merchants: the hourly mart's 700k rows of the month grouped by
# scope and hour, the daily mart's 100k rows sorted), each read on a connection of its
# own beside the others.
_SIDE_SECTIONS = ("peak_hours", "daily")


def read_month(conn: psycopg.Connection, month: ReportMonth, scope: str | None) -> MonthMarts:
    """The marts' rows for one scope ('' = platform, a merchant id) or, with scope None,
    for every scope of the month.

    For every scope, inside a REPEATABLE READ transaction (render_month's), the heaviest
    sections are read at the same time on connections that import this transaction's
    snapshot: the same rows as reading them here, in a third of the wait (the server's
    work, most of the reads, spreads over the cores)."""
    params = {**month.params(None), "scope": scope}
    platform = scope is None or scope == ""
    side: dict[str, Future[list[dict[str, Any]]]] = {}
    with ThreadPoolExecutor(max_workers=len(_SIDE_SECTIONS)) as pool:
        if scope is None and _repeatable_read(conn):
            (snapshot,) = conn.execute("SELECT pg_export_snapshot()").fetchone() or (None,)
            side = {
                name: pool.submit(_read_in_snapshot, conn, snapshot, name, params)
                for name in _SIDE_SECTIONS
            }

        def section(name: str) -> dict[str, list[dict[str, Any]]]:
            rows = side[name].result() if name in side else query_rows(conn, name, params)
            return _by_scope(rows)

        totals = section("month_totals")
        failures = section("failures")
        webhooks = section("webhooks")
        breakdown = section("breakdown")
        sources = [
            Source(**r)
            for r in query_rows(
                conn,
                "marts_read",
                {"marts": list(PLATFORM_MARTS), "from": month.previous_start, "to": month.end},
            )
        ]
        customers = _customers(conn, params, month) if platform else None
        wallets = wallet_tie_outs(conn, month) if platform else []
        return MonthMarts(
            month=month,
            totals=totals,
            daily=section("daily"),
            hours=section("peak_hours"),
            failures=failures,
            webhooks=webhooks,
            breakdown=breakdown,
            sources=sources,
            customers=customers,
            wallets=wallets,
        )


def _repeatable_read(conn: psycopg.Connection) -> bool:
    (level,) = conn.execute("SHOW transaction_isolation").fetchone() or ("",)
    return conn.info.transaction_status == TransactionStatus.INTRANS and level in (
        "repeatable read",
        "serializable",
    )


def _read_in_snapshot(
    conn: psycopg.Connection, snapshot: str, name: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Section `name` read on a new connection (same server, user and session settings
    as `conn`) in the transaction snapshot `conn` exported."""
    with (
        psycopg.connect(
            conn.info.dsn, password=conn.info.password, autocommit=True, options=SESSION_OPTIONS
        ) as side,
        side.transaction(),
    ):
        side.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        side.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        return query_rows(side, name, params)


def text(value: Decimal | int | float | None) -> str | None:
    """A decimal string without exponent (Decimal('1E+2') would print as 1E+2)."""
    if value is None:
        return None
    return format(Decimal(str(value)), "f")


def figure(
    name: str, value: Decimal | int | None, previous: Decimal | int | None, currency: str | None
) -> Figure:
    change = percent = None
    if value is not None and previous is not None:
        change = text(Decimal(value) - Decimal(previous))
        if previous != 0:
            ratio = (Decimal(value) - Decimal(previous)) / Decimal(previous) * 100
            percent = text(ratio.quantize(Decimal("0.1")))
    return Figure(
        name=name,
        value=text(value),
        currency=currency,
        previous=text(previous),
        change=change,
        percent=percent,
    )


def _summary(month_rows: list[dict], month: ReportMonth, merchant: str) -> list[Figure]:
    current = [r for r in month_rows if r["bucket_start"] == month.start]
    previous = [r for r in month_rows if r["bucket_start"] == month.previous_start]

    def counts(rows: list[dict]) -> dict[str, int] | None:
        if not rows:
            return None
        if not merchant:  # the platform's '' row counts across currencies
            rows = [r for r in rows if r["currency"] == ""]
        return {column: sum(r[column] for r in rows) for _, column in _STATUS_FIGURES}

    now, before = counts(current), counts(previous)
    figures = [
        figure(name, now[column] if now else 0, before[column] if before else None, None)
        for name, column in _STATUS_FIGURES
    ]
    rate_now = _rate(now)
    rate_before = _rate(before)
    figures.append(figure("success rate", rate_now, rate_before, None))
    before_by_currency = {r["currency"]: r for r in previous if r["currency"]}
    for row in (r for r in current if r["currency"]):
        old = before_by_currency.get(row["currency"], {})
        for name, column in _MONEY_FIGURES:
            value, before = row[column], old.get(column)
            if column == "average_value":  # a mean: cents, not the division's 20 digits
                value, before = _cents(value), _cents(before)
            figures.append(figure(name, value, before, row["currency"]))
        figures.append(
            figure("unique payers", row["unique_payers"], old.get("unique_payers"), row["currency"])
        )
        figures.append(
            figure("refunds", row["refund_count"], old.get("refund_count"), row["currency"])
        )
    return figures


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


def _rate(counts: dict[str, int] | None) -> Decimal | None:
    """SUCCESS / (SUCCESS + FAILED + EXPIRED), as the marts define success_rate."""
    if not counts:
        return None
    outcomes = counts["success_count"] + counts["failed_count"] + counts["expired_count"]
    if not outcomes:
        return None
    return (Decimal(counts["success_count"]) / outcomes).quantize(Decimal("0.0001"))


def _days(daily_rows: list[dict], month: ReportMonth, merchant: str) -> list[Day]:
    by_day: dict[datetime, list[dict]] = defaultdict(list)
    for row in daily_rows:
        by_day[row["bucket_start"]].append(row)
    days = []
    for start, rows in sorted(by_day.items()):
        counted = [r for r in rows if r["currency"] == ""] if not merchant else rows
        days.append(
            Day(
                day=start.astimezone(month.start.tzinfo).date(),
                transactions=sum(r["transaction_count"] for r in counted),
                successful=sum(r["success_count"] for r in counted),
                failed=sum(r["failed_count"] for r in counted),
                revenue=[
                    {"amount": text(r["revenue"]), "currency": r["currency"]}
                    for r in rows
                    if r["currency"] and r["revenue"] is not None
                ],
            )
        )
    return days


def _ranked(rows: list[dict], dimension: str, month_transactions: int) -> list[Ranked]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["dimension"] == dimension:
            grouped[row["dimension_value"]].append(row)
    ranked = []
    for value, value_rows in grouped.items():
        transactions = sum(r["transaction_count"] for r in value_rows)
        successful = sum(r["success_count"] for r in value_rows)
        ranked.append(
            Ranked(
                value=value,
                transactions=transactions,
                share=_ratio(transactions, month_transactions),
                successful=successful,
                success_rate=_ratio(successful, transactions),
                revenue=[
                    {"amount": text(r["revenue"]), "currency": r["currency"]}
                    for r in value_rows
                    if r["revenue"] is not None
                ],
            )
        )
    ranked.sort(key=lambda r: (-r.transactions, r.value))
    return ranked[:TOP]


def _ratio(part: int, whole: int) -> str | None:
    return text((Decimal(part) / whole).quantize(Decimal("0.0001"))) if whole else None


def _webhooks(rows: list[dict], month: ReportMonth) -> Webhooks | None:
    current = next((r for r in rows if r["bucket_start"] == month.start), None)
    previous = next((r for r in rows if r["bucket_start"] == month.previous_start), None)
    if current is None:
        return None
    return Webhooks(
        deliveries=current["deliveries"],
        delivered=current["delivered_count"],
        failed=current["failed_count"],
        retrying=current["retrying_count"],
        success_rate=text(current["success_rate"]),
        latency_avg_ms=text(Decimal(current["latency_avg_ms"]).quantize(Decimal("0.1"))),
        latency_p50_ms=current["latency_p50_ms"],
        latency_p95_ms=current["latency_p95_ms"],
        previous_deliveries=previous["deliveries"] if previous else None,
    )


def _customers(conn: psycopg.Connection, params: dict, month: ReportMonth) -> Customers | None:
    rows = query_rows(conn, "lifecycle", params)
    current = next((r for r in rows if r["bucket_start"] == month.start), None)
    previous = next((r for r in rows if r["bucket_start"] == month.previous_start), None)
    if current is None:
        return None
    return Customers(
        registrations=current["registrations"],
        previous_registrations=previous["registrations"] if previous else None,
        kyc_submitted=current["kyc_submitted"],
        kyc_verified=current["kyc_verified"],
        kyc_rejected=current["kyc_rejected"],
        verification_rate=text(current["verification_rate"]),
        rfm=_rfm(conn, params),
    )


def _rfm(conn: psycopg.Connection, params: dict) -> RfmSegments | None:
    """Segments from the customers' score table, when that table exists and has a day."""
    (exists,) = conn.execute("SELECT to_regclass('customers.rfm_scores') IS NOT NULL").fetchone()
    if not exists:
        return None
    rows = query_rows(conn, "rfm_segments", params)
    if not rows:
        return None
    return RfmSegments(
        as_of=rows[0]["day"],
        segments=[Segment(segment=r["segment"], users=r["users"]) for r in rows],
    )


def build_report(marts: MonthMarts, merchant_id: str | None, rendering: Rendering) -> MonthlyReport:
    """The report of the month for the platform (merchant_id None) or one merchant, from
    the mart rows read for it."""
    month = marts.month
    merchant = merchant_id or ""
    month_rows = marts.totals.get(merchant, [])
    daily = _days(marts.daily.get(merchant, []), month, merchant)
    breakdown = marts.breakdown.get(merchant, [])
    summary = _summary(month_rows, month, merchant)
    month_transactions = int(summary[0].value or 0)
    latency = [
        Latency(
            currency=r["currency"],
            p50_ms=r["latency_p50_ms"],
            p95_ms=r["latency_p95_ms"],
            p99_ms=r["latency_p99_ms"],
        )
        for r in month_rows
        if r["bucket_start"] == month.start
    ]
    return MonthlyReport(
        month=month.label,
        timezone=month.timezone,
        scope="merchant" if merchant else "platform",
        merchant_id=merchant_id,
        period_start=month.start,
        period_end=month.end,
        rendering=rendering,
        summary=summary,
        daily=daily,
        peak_hours=[
            PeakHour(hour=r["hour"], transactions=r["transaction_count"])
            for r in marts.hours.get(merchant, [])
        ],
        top_merchants=_ranked(breakdown, "merchant", month_transactions),
        top_categories=_ranked(breakdown, "category", month_transactions),
        payment_methods=_ranked(breakdown, "payment_method", month_transactions),
        failures=[
            Failure(
                reason=r["failure_reason"],
                count=r["failure_count"],
                share=text(Decimal(r["failure_share"]).quantize(Decimal("0.0001"))),
                affected_users=r["affected_users"],
            )
            for r in marts.failures.get(merchant, [])
        ],
        latency=latency,
        webhooks=_webhooks(marts.webhooks.get(merchant, []), month),
        customers=None if merchant else marts.customers,
        reconciliation=reconcile(
            month,
            merchant_id,
            daily,
            month_rows,
            breakdown_tie_outs(breakdown, summary),
            [] if merchant else marts.wallets,
        ),
        sources=marts.sources,
        notes=[],
    )
