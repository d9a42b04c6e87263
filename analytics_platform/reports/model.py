"""The monthly report's JSON document: the API's response model and the template's input.

Amounts are decimal strings with their currency (never floats, never summed across
currencies); counts are integers; rates and percents are decimal strings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

REPORT_TYPE = "monthly.summary.1"


class Money(BaseModel):
    amount: str = Field(description="decimal string in major units", examples=["1234.50"])
    currency: str = Field(examples=["USD"])


class Figure(BaseModel):
    """One summary number against the previous month."""

    name: str
    value: str | None
    currency: str | None = Field(None, description="set when the figure is an amount")
    previous: str | None = None
    change: str | None = Field(None, description="value - previous")
    percent: str | None = Field(None, description="change / previous * 100, one decimal")


class Day(BaseModel):
    day: date
    transactions: int
    successful: int
    failed: int
    revenue: list[Money]


class PeakHour(BaseModel):
    hour: int = Field(ge=0, le=23, description="local hour of the day in the report's zone")
    transactions: int


class Ranked(BaseModel):
    """A merchant, category or payment method over the month."""

    value: str
    transactions: int
    successful: int
    success_rate: str | None
    revenue: list[Money]


class Failure(BaseModel):
    reason: str
    count: int
    share: str
    affected_users: int


class Latency(BaseModel):
    currency: str = Field(description="'' = all currencies")
    p50_ms: float
    p95_ms: float
    p99_ms: float


class Webhooks(BaseModel):
    deliveries: int
    delivered: int
    failed: int
    retrying: int
    success_rate: str | None
    latency_avg_ms: str
    latency_p50_ms: float
    latency_p95_ms: float
    previous_deliveries: int | None


class Segment(BaseModel):
    segment: str
    users: int


class RfmSegments(BaseModel):
    as_of: date = Field(description="the day the segment table's scores are as of")
    segments: list[Segment]


class Customers(BaseModel):
    registrations: int
    previous_registrations: int | None
    kyc_submitted: int
    kyc_verified: int
    kyc_rejected: int
    verification_rate: str | None
    rfm: RfmSegments | None = Field(
        None, description="absent when no RFM scores exist up to the month's end"
    )


class WalletTieOut(BaseModel):
    currency: str
    wallets: int
    opening: str
    credits: str
    debits: str
    closing: str
    difference: str = Field(description="opening + credits - debits - closing; 0 ties out")
    ties_out: bool


class RevenueTieOut(BaseModel):
    currency: str
    daily_sum: str = Field(description="sum of the report's daily rows")
    month_total: str = Field(description="the report's summary revenue (the monthly mart)")
    ties_out: bool


class CountTieOut(BaseModel):
    daily_sum: int
    month_total: int
    ties_out: bool


class Reconciliation(BaseModel):
    ties_out: bool
    revenue: list[RevenueTieOut]
    transactions: CountTieOut
    wallets: list[WalletTieOut] = Field(description="platform report only")


class Source(BaseModel):
    """A mart materialization the report read (marts.rollup_buckets)."""

    mart: str
    buckets: int
    rows: int
    materialized_at: datetime


class Rendering(BaseModel):
    rendered_at: datetime
    reason: str = Field(description="'scheduled', 'manual' or why it was re-rendered")
    first_rendered_at: datetime | None = None


class MonthlyReport(BaseModel):
    report_type: Literal["monthly.summary.1"] = REPORT_TYPE
    month: str = Field(pattern=r"^\d{4}-\d{2}$", examples=["2026-02"])
    timezone: str
    scope: Literal["platform", "merchant"]
    merchant_id: str | None
    period_start: datetime
    period_end: datetime
    rendering: Rendering
    summary: list[Figure]
    daily: list[Day]
    peak_hours: list[PeakHour]
    top_merchants: list[Ranked] = Field(description="platform report only")
    top_categories: list[Ranked] = Field(description="platform report only")
    payment_methods: list[Ranked] = Field(description="platform report only")
    failures: list[Failure]
    latency: list[Latency]
    webhooks: Webhooks | None
    customers: Customers | None = Field(description="platform report only")
    reconciliation: Reconciliation
    sources: list[Source]
    notes: list[str]
