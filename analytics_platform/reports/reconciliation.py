"""Tie-outs in the spirit of Stripe's balance summary: every report number that can be
derived from another is, and the report says whether they agree.

- revenue: the sum of the daily rows = the month's total (the monthly mart), per currency;
- transactions: the sum of the daily counts = the month's count;
- wallets (platform): opening + credits - debits = closing, per currency, from the
  wallet-balance events.

`reconcile` computes the block when a report is built; `verify` re-derives every tie-out
from a stored document and the monthly mart as it is now, so a number changed anywhere
(in the document, or in the mart after the report was built) fails the asset check.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

from analytics_platform.reports.model import (
    CountTieOut,
    Day,
    MonthlyReport,
    Reconciliation,
    RevenueTieOut,
    WalletTieOut,
)
from analytics_platform.reports.months import ReportMonth
from analytics_platform.resources.warehouse import read_sql


def _daily_revenue(days: list[Day]) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for day in days:
        for money in day.revenue:
            sums[money.currency] += Decimal(money.amount)
    return sums


def _wallets(conn: psycopg.Connection, month: ReportMonth) -> list[WalletTieOut]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(read_sql("reports/wallet_reconciliation.sql"), month.params(None))
        rows = cur.fetchall()
    tie_outs = []
    for r in rows:
        difference = r["opening"] + r["credits"] - r["debits"] - r["closing"]
        tie_outs.append(
            WalletTieOut(
                currency=r["currency"],
                wallets=r["wallets"],
                opening=format(r["opening"], "f"),
                credits=format(r["credits"], "f"),
                debits=format(r["debits"], "f"),
                closing=format(r["closing"], "f"),
                difference=format(difference, "f"),
                ties_out=difference == 0,
            )
        )
    return tie_outs


def reconcile(
    conn: psycopg.Connection,
    month: ReportMonth,
    merchant_id: str | None,
    days: list[Day],
    month_rows: list[dict],
) -> Reconciliation:
    current = [r for r in month_rows if r["bucket_start"] == month.start]
    month_revenue = {
        r["currency"]: r["revenue"] for r in current if r["currency"] and r["revenue"] is not None
    }
    daily = _daily_revenue(days)
    revenue = [
        RevenueTieOut(
            currency=currency,
            daily_sum=format(daily.get(currency, Decimal(0)), "f"),
            month_total=format(total, "f"),
            ties_out=daily.get(currency, Decimal(0)) == total,
        )
        for currency, total in sorted(month_revenue.items())
    ]
    counted = [r for r in current if r["currency"] == ""] if not merchant_id else current
    month_count = sum(r["transaction_count"] for r in counted)
    daily_count = sum(d.transactions for d in days)
    transactions = CountTieOut(
        daily_sum=daily_count, month_total=month_count, ties_out=daily_count == month_count
    )
    wallets = _wallets(conn, month) if not merchant_id else []
    return Reconciliation(
        ties_out=transactions.ties_out
        and all(r.ties_out for r in revenue)
        and all(w.ties_out for w in wallets)
        and set(daily) <= set(month_revenue),
        revenue=revenue,
        transactions=transactions,
        wallets=wallets,
    )


def verify(conn: psycopg.Connection, report: MonthlyReport) -> list[str]:
    """What does not tie out in a stored report (empty when everything does)."""
    problems: list[str] = []
    who = report.merchant_id or "platform"
    month = ReportMonth.parse(report.month, report.timezone)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(read_sql("reports/month_totals.sql"), month.params(report.merchant_id))
        mart = {r["currency"]: r for r in cur.fetchall() if r["bucket_start"] == month.start}
    summary_revenue = {
        f.currency: Decimal(f.value) for f in report.summary if f.name == "revenue" and f.value
    }
    daily = _daily_revenue(report.daily)
    for currency in sorted(set(summary_revenue) | set(daily) | {c for c in mart if c}):
        in_mart = mart.get(currency, {}).get("revenue")
        values = (daily.get(currency), summary_revenue.get(currency), in_mart)
        if len(set(values)) != 1:
            problems.append(
                f"{who} {report.month} revenue {currency}: daily rows sum to {values[0]}, "
                f"the summary says {values[1]}, the monthly mart holds {values[2]}"
            )
    counted = [r for c, r in mart.items() if (c == "") == (report.merchant_id is None)]
    mart_count = sum(r["transaction_count"] for r in counted)
    summary_count = next(int(f.value or 0) for f in report.summary if f.name == "transactions")
    daily_count = sum(d.transactions for d in report.daily)
    if not daily_count == summary_count == mart_count:
        problems.append(
            f"{who} {report.month} transactions: daily rows sum to {daily_count}, the "
            f"summary says {summary_count}, the monthly mart holds {mart_count}"
        )
    for wallet in report.reconciliation.wallets:
        difference = (
            Decimal(wallet.opening)
            + Decimal(wallet.credits)
            - Decimal(wallet.debits)
            - Decimal(wallet.closing)
        )
        if difference != 0:
            problems.append(
                f"{who} {report.month} wallets {wallet.currency}: opening {wallet.opening} "
                f"+ credits {wallet.credits} - debits {wallet.debits} != closing "
                f"{wallet.closing} (off by {difference})"
            )
    return problems
