"""Tie-outs in the spirit of Stripe's balance summary: every report number that can be
derived from another is, and the report says whether they agree.

- revenue: the sum of the daily rows = the month's total (the monthly mart), per currency;
- transactions: the sum of the daily counts = the month's count;
- breakdowns: the transactions and revenue of every category, and of every payment
  method, add up to the month's (each transaction has one of each);
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
    BreakdownTieOut,
    CountTieOut,
    Day,
    Figure,
    Money,
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


def wallet_tie_outs(conn: psycopg.Connection, month: ReportMonth) -> list[WalletTieOut]:
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


def breakdown_tie_outs(rows: list[dict], summary: list[Figure]) -> list[BreakdownTieOut]:
    """Categories and payment methods (all of them, from the breakdown mart rows) against
    the summary's transactions and revenue."""
    month_transactions = next(int(f.value or 0) for f in summary if f.name == "transactions")
    month_revenue = {
        f.currency: Decimal(f.value) for f in summary if f.name == "revenue" and f.value
    }
    tie_outs = []
    for dimension in ("category", "payment_method"):
        picked = [r for r in rows if r["dimension"] == dimension]
        revenue: dict[str, Decimal] = defaultdict(Decimal)
        for r in picked:
            if r["revenue"] is not None:
                revenue[r["currency"]] += r["revenue"]
        transactions = sum(r["transaction_count"] for r in picked)
        tie_outs.append(
            BreakdownTieOut(
                dimension=dimension,
                values=len({r["dimension_value"] for r in picked}),
                transactions_sum=transactions,
                month_transactions=month_transactions,
                revenue_sum=[
                    Money(amount=format(amount, "f"), currency=currency)
                    for currency, amount in sorted(revenue.items())
                ],
                ties_out=_breakdown_ties_out(
                    transactions, month_transactions, revenue, month_revenue
                ),
            )
        )
    return tie_outs


def _breakdown_ties_out(
    transactions: int,
    month_transactions: int,
    revenue: dict[str, Decimal],
    month_revenue: dict[str, Decimal],
) -> bool:
    # A currency with no successful transaction has revenue 0 in the breakdown and none
    # in the summary; both mean nothing was earned.
    currencies = set(revenue) | set(month_revenue)
    return transactions == month_transactions and all(
        revenue.get(c, Decimal(0)) == month_revenue.get(c, Decimal(0)) for c in currencies
    )


def reconcile(
    month: ReportMonth,
    merchant_id: str | None,
    days: list[Day],
    month_rows: list[dict],
    breakdowns: list[BreakdownTieOut],
    wallets: list[WalletTieOut],
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
    return Reconciliation(
        ties_out=transactions.ties_out
        and all(r.ties_out for r in revenue)
        and all(b.ties_out for b in breakdowns)
        and all(w.ties_out for w in wallets)
        and set(daily) <= set(month_revenue),
        revenue=revenue,
        transactions=transactions,
        breakdowns=breakdowns,
        wallets=wallets,
    )


def _month_totals(
    conn: psycopg.Connection, month: ReportMonth, scope: str | None
) -> dict[str, list[dict]]:
    """The monthly mart's rows of the month per scope ('' = platform; None = every scope)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(read_sql("reports/month_totals.sql"), {**month.params(None), "scope": scope})
        rows: dict[str, list[dict]] = defaultdict(list)
        for r in cur.fetchall():
            if r["bucket_start"] == month.start:
                rows[r["scope"]].append(r)
        return rows


def verify(conn: psycopg.Connection, report: MonthlyReport) -> list[str]:
    """What does not tie out in a stored report (empty when everything does)."""
    month = ReportMonth.parse(report.month, report.timezone)
    scope = report.merchant_id or ""
    return problems_of(report, _month_totals(conn, month, scope).get(scope, []))


def verify_month(
    conn: psycopg.Connection, month: ReportMonth, reports: list[MonthlyReport]
) -> list[str]:
    """verify() for every report of a month, reading the monthly mart once."""
    totals = _month_totals(conn, month, None)
    return [p for r in reports for p in problems_of(r, totals.get(r.merchant_id or "", []))]


def problems_of(report: MonthlyReport, mart_rows: list[dict]) -> list[str]:
    """What does not tie out in a report against its scope's monthly mart rows now."""
    problems: list[str] = []
    who = report.merchant_id or "platform"
    mart = {r["currency"]: r for r in mart_rows}
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
    for breakdown in report.reconciliation.breakdowns:
        revenue = {m.currency: Decimal(m.amount) for m in breakdown.revenue_sum}
        if not _breakdown_ties_out(
            breakdown.transactions_sum, summary_count, revenue, summary_revenue
        ):
            problems.append(
                f"{who} {report.month} {breakdown.dimension}: transactions sum to "
                f"{breakdown.transactions_sum} and revenue to {revenue}, the summary says "
                f"{summary_count} and {summary_revenue}"
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
