"""The monthly report's JSON document: the API's response model and the template's input.

Amounts are decimal strings with their currency (never floats, never summed across
currencies); counts are integers; rates and percents are decimal strings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

REPORT_TYPE = "monthly.summary.1"


def example_of(model: type[BaseModel]) -> dict[str, object]:
    """An example object for the OpenAPI document, from the examples of its fields."""
    return {name: field.examples[0] for name, field in model.model_fields.items() if field.examples}


class Money(BaseModel):
    amount: str = Field(description="decimal string in major units", examples=["1234.50"])
    currency: str = Field(examples=["USD"])


class Figure(BaseModel):
    """One summary number against the previous month."""

    name: str = Field(examples=["revenue"])
    value: str | None = Field(examples=["1234.50"])
    currency: str | None = Field(
        None, description="set when the figure is an amount", examples=["IDR"]
    )
    previous: str | None = Field(None, examples=["1100.00"])
    change: str | None = Field(None, description="value - previous", examples=["134.50"])
    percent: str | None = Field(
        None, description="change / previous * 100, one decimal", examples=["12.2"]
    )


class Day(BaseModel):
    day: date = Field(examples=["2026-02-14"])
    transactions: int = Field(examples=[412])
    successful: int = Field(examples=[390])
    failed: int = Field(examples=[14])
    revenue: list[Money]


class PeakHour(BaseModel):
    hour: int = Field(
        ge=0, le=23, description="local hour of the day in the report's zone", examples=[18]
    )
    transactions: int = Field(examples=[812])


class Ranked(BaseModel):
    """A merchant, category or payment method over the month."""

    value: str = Field(examples=["mch_0042"])
    transactions: int = Field(examples=[1520])
    share: str | None = Field(
        None,
        description="transactions / the report's transactions of the month, 4 decimals",
        examples=["0.1520"],
    )
    successful: int = Field(examples=[1461])
    success_rate: str | None = Field(examples=["0.9612"])
    revenue: list[Money]


class Failure(BaseModel):
    reason: str = Field(examples=["INSUFFICIENT_FUNDS"])
    count: int = Field(examples=[122])
    share: str = Field(examples=["0.3547"])
    affected_users: int = Field(examples=[97])


class Latency(BaseModel):
    currency: str = Field(description="'' = all currencies", examples=["", "IDR"])
    p50_ms: float = Field(examples=[410.0])
    p95_ms: float = Field(examples=[1210.5])
    p99_ms: float = Field(examples=[2305.0])


class Webhooks(BaseModel):
    deliveries: int = Field(examples=[2210])
    delivered: int = Field(examples=[2102])
    failed: int = Field(examples=[64])
    retrying: int = Field(examples=[44])
    success_rate: str | None = Field(examples=["0.9704"])
    latency_avg_ms: str = Field(examples=["182.4"])
    latency_p50_ms: float = Field(examples=[140.0])
    latency_p95_ms: float = Field(examples=[520.0])
    previous_deliveries: int | None = Field(examples=[1980])


class Segment(BaseModel):
    segment: str = Field(examples=["Champions"])
    users: int = Field(examples=[212])


class RfmSegments(BaseModel):
    as_of: date = Field(
        description="the day the segment table's scores are as of", examples=["2026-02-28"]
    )
    segments: list[Segment]


class Customers(BaseModel):
    registrations: int = Field(examples=[310])
    previous_registrations: int | None = Field(examples=[288])
    kyc_submitted: int = Field(examples=[240])
    kyc_verified: int = Field(examples=[201])
    kyc_rejected: int = Field(examples=[19])
    verification_rate: str | None = Field(examples=["0.9136"])
    rfm: RfmSegments | None = Field(
        None,
        description="absent when no RFM scores exist up to the month's end",
        examples=[{"as_of": "2026-02-28", "segments": [example_of(Segment)]}],
    )


class WalletTieOut(BaseModel):
    currency: str = Field(examples=["IDR"])
    wallets: int = Field(examples=[5120])
    opening: str = Field(examples=["81250000.00"])
    credits: str = Field(examples=["40500000.00"])
    debits: str = Field(examples=["38250000.00"])
    closing: str = Field(examples=["83500000.00"])
    difference: str = Field(
        description="opening + credits - debits - closing; 0 ties out", examples=["0.00"]
    )
    ties_out: bool = Field(examples=[True])


class RevenueTieOut(BaseModel):
    currency: str = Field(examples=["IDR"])
    daily_sum: str = Field(description="sum of the report's daily rows", examples=["3363795891.00"])
    month_total: str = Field(
        description="the report's summary revenue (the monthly mart)", examples=["3363795891.00"]
    )
    ties_out: bool = Field(examples=[True])


class CountTieOut(BaseModel):
    daily_sum: int = Field(examples=[9866])
    month_total: int = Field(examples=[9866])
    ties_out: bool = Field(examples=[True])


class BreakdownTieOut(BaseModel):
    """A breakdown over every value (not only the listed top ones) against the month: each
    transaction has exactly one category and one payment method, so both add up to it."""

    dimension: Literal["category", "payment_method"] = Field(examples=["payment_method"])
    values: int = Field(description="how many categories or methods", examples=[4])
    transactions_sum: int = Field(examples=[9866])
    month_transactions: int = Field(description="the summary's transactions", examples=[9866])
    revenue_sum: list[Money] = Field(description="per currency, over every value")
    ties_out: bool = Field(
        description="transactions and every currency's revenue equal the summary's",
        examples=[True],
    )


class Reconciliation(BaseModel):
    ties_out: bool = Field(examples=[True])
    revenue: list[RevenueTieOut]
    transactions: CountTieOut
    breakdowns: list[BreakdownTieOut] = Field(
        default_factory=list, description="categories and payment methods"
    )
    wallets: list[WalletTieOut] = Field(description="platform report only")


class Source(BaseModel):
    """A mart materialization the report read (marts.rollup_buckets)."""

    mart: str = Field(examples=["transactions_daily"])
    buckets: int = Field(examples=[28])
    rows: int = Field(examples=[1904])
    materialized_at: datetime


class Rendering(BaseModel):
    rendered_at: datetime
    reason: str = Field(
        description="'scheduled', 'manual' or why it was re-rendered",
        examples=[
            "late data: transactions_daily 2026-02-14 re-materialized at 2026-03-09 02:10:00+00"
        ],
    )
    first_rendered_at: datetime | None = None


class MonthlyReport(BaseModel):
    report_type: Literal["monthly.summary.1"] = Field(REPORT_TYPE, examples=["monthly.summary.1"])
    month: str = Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-02"])
    timezone: str = Field(examples=["Asia/Jakarta"])
    scope: Literal["platform", "merchant"] = Field(examples=["merchant"])
    merchant_id: str | None = Field(examples=["mch_0042"])
    period_start: datetime
    period_end: datetime
    rendering: Rendering
    summary: list[Figure]
    daily: list[Day]
    peak_hours: list[PeakHour]
    top_merchants: list[Ranked] = Field(description="platform report only")
    top_categories: list[Ranked] = Field(
        description="the platform's or the merchant's categories, busiest first (at most 10)"
    )
    payment_methods: list[Ranked] = Field(
        description="the platform's or the merchant's payment methods, busiest first"
    )
    failures: list[Failure]
    latency: list[Latency]
    webhooks: Webhooks | None = Field(
        description="absent when the merchant had no deliveries", examples=[example_of(Webhooks)]
    )
    customers: Customers | None = Field(
        description="platform report only", examples=[example_of(Customers)]
    )
    reconciliation: Reconciliation
    sources: list[Source]
    notes: list[str] = Field(examples=[["Webhooks: the merchant had no deliveries in the month."]])
