"""Response and request models of the API (camelCase on the wire, like the seed services).

Money is a decimal string per currency (amounts in different currencies never add up);
rates and percentages are percent values rounded to 2 decimals; times are ISO 8601 in
the requested `timezone`. Every bucket is half-open, [bucketStart, bucketEnd).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


Money = dict[str, Decimal]
_MONEY_EXAMPLE = {"IDR": "1520000.00", "USD": "310.50"}


class WindowOut(ApiModel):
    """A half-open time window [start, end)."""

    start: datetime = Field(examples=["2026-05-01T00:00:00+07:00"])
    end: datetime = Field(examples=["2026-05-08T00:00:00+07:00"])


class Totals(ApiModel):
    """Transactions of a window or bucket."""

    transaction_count: int = Field(description="transactions of any status", examples=[450])
    success_count: int = Field(examples=[425])
    failed_count: int = Field(examples=[15])
    expired_count: int = Field(examples=[4])
    pending_count: int = Field(examples=[5])
    refunded_count: int = Field(examples=[1])
    success_rate: float | None = Field(
        description="percent SUCCESS / (SUCCESS + FAILED + EXPIRED); null when none",
        examples=[95.72],
    )
    revenue: Money = Field(
        description="sum of SUCCESS amounts per currency", examples=[_MONEY_EXAMPLE]
    )
    average_value: Money = Field(
        description="revenue / SUCCESS count per currency, rounded to 2 decimals",
        examples=[{"IDR": "3576.47"}],
    )
    unique_payers: int | None = Field(
        description="distinct users with a SUCCESS transaction; null where the marts "
        "cannot tell it exactly (a merchant paid in several currencies in one bucket, or "
        "a sum of buckets)",
        examples=[127],
    )


class Payment(ApiModel):
    occurred_at: datetime = Field(examples=["2026-05-07T14:21:09.120000+07:00"])
    transaction_id: str = Field(examples=["6f1c2f7e-2d4e-4c1e-9d55-0b6f0a7f0d11"])
    user_id: str = Field(examples=["usr_1042"])
    merchant_id: str | None = Field(examples=["mch_42"])
    amount: Decimal = Field(examples=["125000.00"])
    currency: str = Field(examples=["IDR"])
    payment_method: str = Field(examples=["QRIS"])
    category: str = Field(examples=["food"])


class Live(ApiModel):
    pending_transactions: int = Field(description="PENDING transactions today so far", examples=[5])
    recent_payments: list[Payment] = Field(
        description="latest successful payments today, newest first (paginated)"
    )
    next_cursor: str | None = Field(description="pass as `cursor` for older payments")


class Realtime(ApiModel):
    """The open hour and today so far, fresh to within one ingest tick."""

    as_of: datetime = Field(description="the reading's time; raw events up to it count")
    marts_through: datetime = Field(
        description="today's closed hours before this come from the hourly marts, the "
        "rest from raw events"
    )
    current_hour: Totals
    today: Totals
    live: Live

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "asOf": "2026-05-07T14:25:00+07:00",
                    "martsThrough": "2026-05-07T14:00:00+07:00",
                    "currentHour": {
                        "transactionCount": 45,
                        "successCount": 42,
                        "failedCount": 3,
                        "expiredCount": 0,
                        "pendingCount": 0,
                        "refundedCount": 0,
                        "successRate": 93.33,
                        "revenue": {"IDR": "125000.00"},
                        "averageValue": {"IDR": "2976.19"},
                        "uniquePayers": 40,
                    },
                    "today": {
                        "transactionCount": 450,
                        "successCount": 425,
                        "failedCount": 20,
                        "expiredCount": 0,
                        "pendingCount": 5,
                        "refundedCount": 0,
                        "successRate": 95.51,
                        "revenue": {"IDR": "1250000.00"},
                        "averageValue": {"IDR": "2941.18"},
                        "uniquePayers": 127,
                    },
                    "live": {"pendingTransactions": 5, "recentPayments": [], "nextCursor": None},
                }
            ]
        }
    )


class Change(ApiModel):
    """A figure of the current period so far against the same span of the previous one."""

    current: float = Field(examples=[12.5])
    previous: float = Field(examples=[10.2])
    change: float = Field(examples=[2.3])
    change_percent: float | None = Field(
        description="change / previous in percent; null when previous is 0", examples=[22.55]
    )
    direction: Literal["up", "down", "flat"] = Field(examples=["up"])


class CountChange(ApiModel):
    """Like Change, for a count: whole numbers, the change too."""

    current: int = Field(examples=[450])
    previous: int = Field(examples=[400])
    change: int = Field(examples=[50])
    change_percent: float | None = Field(
        description="change / previous in percent; null when previous is 0", examples=[12.5]
    )
    direction: Literal["up", "down", "flat"] = Field(examples=["up"])


class MoneyChange(ApiModel):
    """Like Change, for money; an average is null in a period without successes."""

    current: Decimal | None = Field(examples=["1520000.00"])
    previous: Decimal | None = Field(examples=["1210000.00"])
    change: Decimal | None = Field(examples=["310000.00"])
    change_percent: float | None = Field(examples=[25.62])
    direction: Literal["up", "down", "flat"] = Field(examples=["up"])


class Periods(ApiModel):
    today: Change
    this_week: Change
    this_month: Change


class CountPeriods(ApiModel):
    today: CountChange
    this_week: CountChange
    this_month: CountChange


class MoneyPeriods(ApiModel):
    today: MoneyChange
    this_week: MoneyChange
    this_month: MoneyChange


class DashboardWindows(ApiModel):
    today: WindowOut
    this_week: WindowOut
    this_month: WindowOut
    previous_today: WindowOut
    previous_this_week: WindowOut
    previous_this_month: WindowOut


def _change(current: float, previous: float) -> dict[str, object]:
    change = round(current - previous, 2)
    return {
        "current": current,
        "previous": previous,
        "change": change,
        "changePercent": round(100 * change / previous, 2),
        "direction": "up" if change > 0 else "down",
    }


def _money_change(current: str, previous: str) -> dict[str, object]:
    figures = _change(float(current), float(previous))
    return {
        **figures,
        "current": current,
        "previous": previous,
        "change": f"{figures['change']:.2f}",
    }


def _dashboard_example() -> dict[str, object]:
    def window(start: str, end: str) -> dict[str, str]:
        return {"start": f"{start}+07:00", "end": f"{end}+07:00"}

    def periods(make: object, *values: tuple[object, object]) -> dict[str, object]:
        names = ("today", "thisWeek", "thisMonth")
        return {n: make(*v) for n, v in zip(names, values, strict=True)}  # type: ignore[operator]

    return {
        "asOf": "2026-05-07T14:00:00+07:00",
        "windows": {
            "today": window("2026-05-07T00:00:00", "2026-05-07T14:00:00"),
            "thisWeek": window("2026-05-04T00:00:00", "2026-05-07T14:00:00"),
            "thisMonth": window("2026-05-01T00:00:00", "2026-05-07T14:00:00"),
            "previousToday": window("2026-05-06T00:00:00", "2026-05-06T14:00:00"),
            "previousThisWeek": window("2026-04-27T00:00:00", "2026-04-30T14:00:00"),
            "previousThisMonth": window("2026-04-01T00:00:00", "2026-04-07T14:00:00"),
        },
        "revenue": {
            "IDR": periods(
                _money_change,
                ("12500000.00", "10200000.00"),
                ("40100000.00", "38000000.00"),
                ("71000000.00", "75500000.00"),
            )
        },
        "transactions": periods(_change, (450, 400), (1650, 1600), (2900, 3050)),
        "successRate": periods(_change, (95.5, 94.1), (95.2, 95.0), (95.3, 95.6)),
        "averageValue": {
            "IDR": periods(
                _money_change,
                ("29069.77", "27127.66"),
                ("25538.85", "24904.95"),
                ("25717.97", "25914.17"),
            )
        },
    }


class Dashboard(ApiModel):
    """Today, this week and this month so far (closed hours) against the same elapsed
    time of yesterday, last week and last month."""

    as_of: datetime = Field(description="end of the closed hours compared (current hour start)")
    windows: DashboardWindows
    revenue: dict[str, MoneyPeriods] = Field(description="per currency")
    transactions: CountPeriods
    success_rate: Periods = Field(description="percent; change in percentage points")
    average_value: dict[str, MoneyPeriods] = Field(description="per currency")

    model_config = ConfigDict(json_schema_extra={"examples": [_dashboard_example()]})


class SeriesPoint(Totals):
    bucket_start: datetime = Field(examples=["2026-05-07T09:00:00+07:00"])
    bucket_end: datetime = Field(examples=["2026-05-07T10:00:00+07:00"])


class Trends(ApiModel):
    period: Literal["today", "week", "month"] = Field(examples=["week"])
    interval: Literal["hour", "day"] = Field(examples=["day"])
    window: WindowOut
    items: list[SeriesPoint]
    next_cursor: str | None = Field(examples=[None])


class PeakHour(ApiModel):
    hour: int = Field(description="hour of day in the requested timezone", examples=[14])
    label: str = Field(examples=["2 PM"])
    transaction_count: int = Field(examples=[1250])
    success_count: int = Field(examples=[1190])
    revenue: Money = Field(examples=[{"IDR": "35500000.00"}])


class PeakTimes(ApiModel):
    days: int = Field(examples=[30])
    window: WindowOut
    peak_hour: int | None = Field(description="hour with the most transactions", examples=[14])
    peak_times: list[PeakHour] = Field(description="the 24 hours of the day, in order")


class RateTotals(ApiModel):
    transaction_count: int = Field(examples=[3200])
    success_count: int = Field(examples=[3010])
    failed_count: int = Field(examples=[150])
    expired_count: int = Field(examples=[40])
    success_rate: float | None = Field(examples=[94.06])


class DailyRate(RateTotals):
    bucket_start: datetime = Field(examples=["2026-05-06T00:00:00+07:00"])
    bucket_end: datetime = Field(examples=["2026-05-07T00:00:00+07:00"])


class SuccessRate(ApiModel):
    days: int = Field(examples=[7])
    window: WindowOut
    overall: RateTotals
    items: list[DailyRate]
    next_cursor: str | None = Field(examples=[None])


class FailureReason(ApiModel):
    reason: str = Field(examples=["INSUFFICIENT_FUNDS"])
    count: int = Field(examples=[20])
    percentage: float = Field(description="share of the failures, percent", examples=[44.44])
    retries: int = Field(description="retries of these failed transactions", examples=[9])


class HourCount(ApiModel):
    hour: int = Field(examples=[14])
    label: str = Field(examples=["2 PM"])
    count: int = Field(examples=[7])


class RetryPatterns(ApiModel):
    retried_transactions: int = Field(examples=[20])
    average_retries: float | None = Field(
        description="retries per retried transaction", examples=[1.8]
    )
    successful_retries: int = Field(description="retried, then SUCCESS", examples=[12])
    failed_retries: int = Field(description="retried, and not SUCCESS", examples=[8])


class FailureAnalysis(ApiModel):
    total_failed: int = Field(examples=[45])
    failure_rate: float | None = Field(
        description="FAILED / all transactions, percent", examples=[4.5]
    )
    common_reasons: list[FailureReason]
    failures_by_hour: list[HourCount]
    retry_patterns: RetryPatterns


class Failures(ApiModel):
    days: int = Field(examples=[30])
    window: WindowOut
    analysis: FailureAnalysis


class LatencyFigures(ApiModel):
    transaction_count: int = Field(examples=[3200])
    average: float | None = Field(description="mean processing time, ms", examples=[452.3])
    median: float | None = Field(examples=[401.0])
    p95: float | None = Field(examples=[1130.5])
    p99: float | None = Field(examples=[2210.0])


class LatencySummary(LatencyFigures):
    exact: bool = Field(
        description="percentiles are exact when the window is one bucket of one mart row; "
        "otherwise they are the transaction-weighted mean of the exact daily ones",
        examples=[False],
    )


class DailyLatency(LatencyFigures):
    bucket_start: datetime
    bucket_end: datetime


class Latency(ApiModel):
    days: int = Field(examples=[7])
    window: WindowOut
    latency: LatencySummary
    items: list[DailyLatency]
    next_cursor: str | None = Field(examples=[None])


class WebhookFigures(ApiModel):
    deliveries: int = Field(description="delivery attempts", examples=[980])
    successful: int = Field(description="DELIVERED", examples=[940])
    failed: int = Field(description="FAILED (gave up)", examples=[10])
    pending: int = Field(description="RETRYING (will retry)", examples=[30])
    success_rate: float | None = Field(
        description="DELIVERED / (DELIVERED + FAILED), percent", examples=[98.95]
    )
    retry_attempts: int = Field(description="attempts after the first", examples=[35])
    average_latency_ms: float | None = Field(examples=[210.4])


class WebhookEventType(WebhookFigures):
    event_type: str = Field(examples=["payment.succeeded"])


class WebhookMetrics(WebhookFigures):
    days: int = Field(examples=[30])
    window: WindowOut
    by_event_type: list[WebhookEventType]


class CurrencyFlows(ApiModel):
    currency: str = Field(examples=["IDR"])
    inflow: Decimal = Field(description="TOPUP, TRANSFER_IN, REFUND", examples=["500000.00"])
    outflow: Decimal = Field(
        description="PAYMENT, TRANSFER_OUT, WITHDRAWAL, BILL_PAYMENT", examples=["320000.00"]
    )
    net: Decimal = Field(examples=["180000.00"])
    inflow_count: int = Field(examples=[4])
    outflow_count: int = Field(examples=[21])


class UserCurrency(CurrencyFlows):
    total_transactions: int = Field(examples=[25])
    total_amount: Decimal = Field(description="inflow + outflow", examples=["820000.00"])
    average_transaction: Decimal | None = Field(examples=["32800.00"])


class RfmScores(ApiModel):
    """A user's RFM measures and scores as of the end of `day` (docs/customer-scores.md)."""

    day: date = Field(description="the day the scores are as of", examples=["2026-05-31"])
    currency: str = Field(description="main currency: monetary is in it", examples=["IDR"])
    recency_days: int = Field(description="days since the last purchase", examples=[3])
    frequency: int = Field(description="successful purchases in the look-back", examples=[12])
    monetary: Decimal = Field(
        description="their amount in the main currency", examples=["1520000.00"]
    )
    last_purchase_day: date = Field(examples=["2026-05-28"])
    r_score: int = Field(ge=1, le=5, examples=[5])
    f_score: int = Field(ge=1, le=5, examples=[4])
    m_score: int = Field(ge=1, le=5, examples=[4])
    segment: str = Field(examples=["Champions"])


class UserMetrics(ApiModel):
    user_id: str = Field(examples=["usr_1042"])
    window: WindowOut
    total_transactions: int = Field(description="successful transactions", examples=[25])
    first_active_day: datetime | None
    last_transaction_date: datetime | None = Field(
        description="start of the last day with a successful transaction"
    )
    active_days: int = Field(examples=[11])
    currencies: list[UserCurrency]
    profile: UserProfile | None = Field(
        default=None,
        description="customers/user_profiles as of its latest day before the window's end "
        "(None: no profile yet)",
        examples=[None],
    )
    rfm: RfmScores | None = Field(
        default=None,
        examples=[None],
        description="RFM scores and segment on the newest scored day (null: no purchase in "
        "its look-back, or no scores yet)",
    )


class UserProfile(ApiModel):
    as_of: date = Field(
        description="the day the profile is as of (end of it)", examples=["2026-05-31"]
    )
    kyc_status: Literal["none", "pending", "verified", "rejected"] = Field(
        description="from the user's latest KYC event", examples=["verified"]
    )
    kyc_level: int | None = Field(examples=[2])
    registered_at: datetime | None
    country: str | None = Field(description="of the registration", examples=["ID"])
    account_age_days: int | None = Field(
        description="days from the local day of registration to as_of", examples=[120]
    )
    first_seen_at: datetime
    last_activity_at: datetime = Field(description="the user's latest event of any kind")
    first_success_at: datetime | None
    last_success_at: datetime | None
    main_currency: str | None = Field(
        description="the currency of most successful transactions", examples=["IDR"]
    )


class SpendingTrendsRequest(ApiModel):
    user_id: str | None = Field(
        default=None,
        description="the user; omitted: the whole platform",
        examples=["usr_1042"],
        min_length=1,
        max_length=200,
    )
    months: int = Field(
        default=6, ge=1, le=24, description="calendar months, this one included", examples=[6]
    )
    timezone: str | None = Field(
        default=None, description="IANA zone for the times in the response", examples=["UTC"]
    )


class SpendingMonth(ApiModel):
    month: str = Field(examples=["2026-05"])
    bucket_start: datetime
    currency: str = Field(examples=["IDR"])
    spending: Decimal = Field(description="outflow", examples=["320000.00"])
    income: Decimal = Field(description="inflow", examples=["500000.00"])
    net: Decimal = Field(examples=["180000.00"])
    transactions: int = Field(examples=[25])
    spending_change_percent: float | None = Field(
        description="against the whole month before, same currency (for a month still "
        "running, see complete and sameDaysChangePercent)",
        examples=[-12.5],
    )
    complete: bool = Field(description="false: the month so far (complete days)", examples=[False])
    same_days_previous_spending: Decimal | None = Field(
        default=None,
        description="one user: the month before over the same days (days 1..d, the whole "
        "month once this one is complete), from customers/spending",
        examples=["280000.00"],
    )
    same_days_change_percent: float | None = Field(
        default=None,
        description="spending against same_days_previous_spending",
        examples=[14.29],
    )


class TopMerchant(ApiModel):
    merchant_id: str = Field(examples=["mch_17"])
    spending: Decimal = Field(examples=["120000.00"])
    transactions: int = Field(examples=[3])


class SpendingCategory(ApiModel):
    month: str = Field(examples=["2026-05"])
    currency: str = Field(examples=["IDR"])
    category: str = Field(examples=["food"])
    spending: Decimal = Field(examples=["120000.00"])
    transactions: int = Field(examples=[3])
    month_share: float | None = Field(
        description="of the month's spending in the currency, percent", examples=[37.5]
    )
    previous_spending: Decimal | None = Field(
        description="the month before over the same days (NULL: no spending then)",
        examples=["140000.00"],
    )
    change_amount: Decimal | None = Field(examples=["-20000.00"])
    change_percent: float | None = Field(examples=[-12.5])
    compared_through: date = Field(
        description="last day of the month before compared", examples=["2026-04-17"]
    )
    top_merchants: list[TopMerchant] = Field(description="at most 5, largest first")


class SpendingTrends(ApiModel):
    user_id: str | None = Field(examples=["usr_1042"])
    window: WindowOut
    months: list[SpendingMonth]
    as_of: date | None = Field(
        default=None,
        description="the day customers/spending is as of (one user only)",
        examples=["2026-05-17"],
    )
    categories: list[SpendingCategory] = Field(
        default_factory=list, description="one user: per month, currency and category"
    )


class CashflowRequest(ApiModel):
    user_id: str | None = Field(
        default=None,
        description="the user; omitted: the whole platform",
        examples=["usr_1042"],
        min_length=1,
        max_length=200,
    )
    start: str | None = Field(
        default=None,
        description="window start (ISO 8601 date or time; without offset: in `timezone`)",
        examples=["2026-04-01"],
    )
    end: str | None = Field(
        default=None, description="window end, exclusive", examples=["2026-05-01"]
    )
    interval: Literal["hour", "day", "week", "month"] = Field(
        default="day", description="bucket size (hour: platform only)", examples=["day"]
    )
    timezone: str | None = Field(default=None, examples=["Asia/Jakarta"])
    cursor: str | None = Field(default=None, description="nextCursor of the previous page")
    limit: int = Field(default=100, ge=1, le=1000, description="items per page")


class CashflowPoint(CurrencyFlows):
    bucket_start: datetime
    bucket_end: datetime


class Cashflow(ApiModel):
    user_id: str | None = Field(examples=["usr_1042"])
    interval: str = Field(examples=["day"])
    window: WindowOut
    totals: list[CurrencyFlows]
    items: list[CashflowPoint]
    next_cursor: str | None = Field(examples=[None])


class ActivityPoint(ApiModel):
    bucket_start: datetime
    bucket_end: datetime
    active_users: int = Field(description="DAU / WAU / MAU", examples=[5120])
    sessions: int = Field(examples=[8800])
    events: int = Field(examples=[61000])
    sessions_ended: int = Field(examples=[7900])
    avg_session_seconds: float | None = Field(examples=[312.5])


class ActiveUsers(ApiModel):
    grain: Literal["day", "week", "month"] = Field(examples=["day"])
    device_type: str | None = Field(examples=[None])
    window: WindowOut
    items: list[ActivityPoint]
    next_cursor: str | None = Field(examples=[None])


class FunnelFigures(ApiModel):
    registrations: int = Field(examples=[320])
    kyc_submitted: int = Field(examples=[270])
    kyc_verified: int = Field(examples=[230])
    kyc_rejected: int = Field(examples=[25])
    submission_rate: float | None = Field(
        description="kycSubmitted / registrations, percent", examples=[84.38]
    )
    verification_rate: float | None = Field(
        description="verified / (verified + rejected), percent", examples=[90.2]
    )


class FunnelPoint(FunnelFigures):
    bucket_start: datetime
    bucket_end: datetime
    median_seconds_to_verify: float | None = Field(examples=[14400.0])


class Funnel(ApiModel):
    interval: Literal["day", "week", "month"] = Field(examples=["week"])
    country: str | None = Field(examples=["ID"])
    window: WindowOut
    totals: FunnelFigures
    items: list[FunnelPoint]
    next_cursor: str | None = Field(examples=[None])


class RevenueTotal(ApiModel):
    currency: str = Field(examples=["IDR"])
    revenue: Decimal = Field(examples=["152000000.00"])
    success_count: int = Field(examples=[42000])


class RevenuePoint(ApiModel):
    bucket_start: datetime
    bucket_end: datetime
    group: str | None = Field(
        description="merchant id, category or payment method (with group_by)",
        examples=["mch_42"],
    )
    currency: str = Field(examples=["IDR"])
    revenue: Decimal = Field(examples=["1520000.00"])
    transaction_count: int = Field(examples=[450])
    success_count: int = Field(examples=[425])
    average_value: Decimal | None = Field(examples=["3576.47"])
    refund_count: int = Field(examples=[2])
    refund_amount: Decimal = Field(examples=["40000.00"])


class Revenue(ApiModel):
    interval: Literal["hour", "day", "week", "month"] = Field(examples=["day"])
    group_by: Literal["merchant", "category", "payment_method"] | None = Field(examples=[None])
    window: WindowOut
    totals: list[RevenueTotal]
    items: list[RevenuePoint]
    next_cursor: str | None = Field(examples=[None])


class Liveness(BaseModel):
    status: Literal["ok"] = Field(examples=["ok"])


class Readiness(BaseModel):
    status: Literal["ready", "not ready"] = Field(examples=["ready"])
    database: bool = Field(examples=[True])
    newest_hour_end: datetime | None = Field(examples=["2026-05-07T14:00:00Z"])
    lag_minutes: float | None = Field(examples=[25.0])
    max_lag_minutes: int = Field(examples=[180])
    problems: list[str] = Field(examples=[[]])


class CohortCell(ApiModel):
    cohort_start: date = Field(
        description="local week (Monday) or month of registration", examples=["2026-03-01"]
    )
    period: int = Field(description="weeks or months since the cohort's start", examples=[2])
    currency: str = Field(description="'' for payers in any currency", examples=[""])
    cohort_size: int = Field(examples=[1200])
    active_users: int = Field(description="users with any event in the period", examples=[640])
    paying_users: int = Field(examples=[410])
    revenue: Decimal | None = Field(
        description="per currency; null for ''", examples=["1250000.00"]
    )
    retention_rate: float = Field(description="active / size, percent", examples=[53.33])


class Cohorts(ApiModel):
    grain: Literal["week", "month"] = Field(examples=["month"])
    as_of: date | None = Field(
        description="the day customers/cohorts is as of", examples=["2026-05-17"]
    )
    window: WindowOut
    items: list[CohortCell]
    next_cursor: str | None = Field(examples=[None])


class RetentionPoint(ApiModel):
    cohort_start: date = Field(examples=["2026-03-01"])
    period: int = Field(examples=[2])
    cohort_size: int = Field(examples=[1200])
    active_users: int = Field(examples=[640])
    retention_rate: float = Field(examples=[53.33])


class Retention(ApiModel):
    grain: Literal["week", "month"] = Field(examples=["month"])
    as_of: date | None = Field(examples=["2026-05-17"])
    window: WindowOut
    items: list[RetentionPoint]
    next_cursor: str | None = Field(examples=[None])


# ------------------------------------------------------------- customers: RFM scores
class RfmUser(ApiModel):
    user_id: str = Field(examples=["usr_1042"])
    currency: str = Field(description="main currency", examples=["IDR"])
    recency_days: int = Field(examples=[3])
    frequency: int = Field(examples=[12])
    monetary: Decimal = Field(examples=["1520000.00"])
    last_purchase_day: date = Field(examples=["2026-05-28"])
    r_score: int = Field(examples=[5])
    f_score: int = Field(examples=[4])
    m_score: int = Field(examples=[4])
    segment: str = Field(examples=["Champions"])


class RfmPage(ApiModel):
    day: date | None = Field(
        description="the scored day read (null: no scores yet)", examples=["2026-05-31"]
    )
    lookback_days: int | None = Field(examples=[365])
    items: list[RfmUser]
    next_cursor: str | None = Field(examples=[None])


class SegmentRevenue(ApiModel):
    currency: str = Field(examples=["IDR"])
    revenue: Decimal = Field(
        description="the look-back's purchases of the segment's users", examples=["98000.00"]
    )
    share: float | None = Field(description="share of the currency's total, 0-1", examples=[0.4])


class SegmentFigures(ApiModel):
    segment: str = Field(examples=["At Risk"])
    users: int = Field(examples=[120])
    user_share: float | None = Field(
        description="share of the day's customers, 0-1", examples=[0.1]
    )
    avg_r_score: float = Field(examples=[1.6])
    avg_f_score: float = Field(examples=[3.2])
    avg_m_score: float = Field(examples=[3.5])
    avg_recency_days: float = Field(examples=[140.5])
    avg_frequency: float = Field(examples=[6.1])
    revenue: list[SegmentRevenue]


class SegmentMove(ApiModel):
    since: str = Field(description="previous_day or 30_days_before", examples=["previous_day"])
    base_day: date = Field(examples=["2026-05-30"])
    from_segment: str = Field(
        description="'(none)': not a customer on the base day", examples=["Need Attention"]
    )
    to_segment: str = Field(description="'(none)': no longer a customer", examples=["At Risk"])
    users: int = Field(examples=[14])


class Segments(ApiModel):
    day: date | None = Field(examples=["2026-05-31"])
    customers: int = Field(examples=[1200])
    items: list[SegmentFigures]
    transitions: list[SegmentMove] = Field(description="the day's moves (stayers left out)")


class Insight(ApiModel):
    value: int | None = Field(examples=[130])
    previous: int | None = Field(description="the same figure 30 days before", examples=[100])
    change: int | None = Field(examples=[30])
    change_percent: float | None = Field(examples=[30.0])


class Insights(ApiModel):
    day: date | None = Field(examples=["2026-05-31"])
    previous_day: date | None = Field(examples=["2026-05-01"])
    customers: Insight = Field(description="users with a purchase in the look-back")
    active: Insight = Field(description="users with a purchase in the last 30 days")
    new: Insight = Field(description="customers now who were not 30 days before")
    at_risk: Insight = Field(description="users in At Risk or Can't Lose Them")


# ------------------------------------------------------------- recommendations
RecommendationType = Literal[
    "SAVINGS_GOAL",
    "BUDGET_ALERT",
    "SPENDING_TREND",
    "NEW_FEATURE",
    "PROMOTION",
    "INVESTMENT",
    "INACTIVITY_REMINDER",
]


class Recommendation(ApiModel):
    """A row of recommendations/daily (PayU's recommendation, extended)."""

    recommendation_id: UUID = Field(
        description="stable across re-runs of its day (derived from day, user and type); "
        "pass it to the dismiss endpoint",
        examples=["0b5e3c52-8a3f-5d0e-9c61-4f0b1d2a7e14"],
    )
    recommendation_type: RecommendationType = Field(examples=["INACTIVITY_REMINDER"])
    title: str = Field(examples=["We miss you"])
    description: str = Field(
        description="with the user's own numbers",
        examples=["Your last payment was 16 days ago; you made 0 payments in the last 7 days."],
    )
    action_url: str = Field(examples=["/wallet/home"])
    priority: int = Field(description="1-5, 5 the most urgent", examples=[4])
    score: float = Field(description="the model's (or rule's) score, 0-1", examples=[0.71])
    reason: dict[str, Any] = Field(
        description="the evidence: top features or the figures behind it",
        examples=[{"probability_quiet": 0.71, "recency_days": 16.2}],
    )
    model_name: str = Field(
        description="the model, or `baseline:<rule>` when a rule scored",
        examples=["inactivity"],
    )
    model_version: int | None = Field(description="null for a rule", examples=[3])
    day: date = Field(description="the day it was computed as of", examples=["2026-05-31"])
    created_at: datetime
    expires_at: datetime


class Recommendations(ApiModel):
    user_id: str = Field(examples=["usr_1042"])
    recommendations: list[Recommendation] = Field(
        description="active ones (not expired, not dismissed within the cool-down), one per "
        "type, highest priority first"
    )
    count: int = Field(examples=[1])


class Dismissal(ApiModel):
    recommendation_id: UUID = Field(examples=["0b5e3c52-8a3f-5d0e-9c61-4f0b1d2a7e14"])
    recommendation_type: RecommendationType = Field(examples=["INACTIVITY_REMINDER"])
    dismissed_at: datetime
    hidden_until: datetime = Field(
        description="recommendations of this type stay hidden for the user until then "
        "(RECOMMENDATION_DISMISS_COOLDOWN_DAYS after the dismissal)"
    )
    already_dismissed: bool = Field(
        description="true when the type was already dismissed within the cool-down: "
        "nothing new was recorded",
        examples=[False],
    )
