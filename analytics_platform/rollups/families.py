"""The metric families and grains: which marts exist, their keys, columns and meaning.

A mart is one family at one grain, table `marts.<family>_<grain>`, filled by the family's
SQL template `sql/rollups/<family>.sql` (or, for weeks and months of a family that has
one, its long-bucket template). The column lists here mirror
`sql/migrations/008_marts_rollups.sql` (a test holds them equal) and feed the assets'
column schemas and descriptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Grain(StrEnum):
    """A bucket size, cut in the reporting time zone (weeks start on Monday)."""

    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"

    @property
    def unit(self) -> str:
        """The PostgreSQL date_trunc unit of the grain."""
        return _UNITS[self]

    @property
    def finer(self) -> Grain | None:
        """The grain whose buckets add up to this one's (weeks and months both from days,
        since weeks do not nest in months); None for hours, the finest."""
        return _FINER[self]


_UNITS = {
    Grain.HOURLY: "hour",
    Grain.DAILY: "day",
    Grain.WEEKLY: "week",
    Grain.MONTHLY: "month",
}
_FINER: dict[Grain, Grain | None] = {
    Grain.HOURLY: None,
    Grain.DAILY: Grain.HOURLY,
    Grain.WEEKLY: Grain.DAILY,
    Grain.MONTHLY: Grain.DAILY,
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    key: bool = False
    nullable: bool = False


def _key(name: str, description: str) -> Column:
    return Column(name, "text", description, key=True)


BUCKET_START = Column(
    "bucket_start",
    "timestamptz",
    "start of the bucket in REPORTING_TIMEZONE (local hour, midnight, Monday or 1st)",
    key=True,
)


def _count(name: str, description: str) -> Column:
    return Column(name, "bigint", description)


@dataclass(frozen=True)
class Family:
    """One metric family: its raw source, meaning and mart columns (key columns first).

    `lookback` is how far before a bucket its SQL reads raw (zero: only the bucket). Late
    events that far back make the bucket stale too. `long_bucket_sql`, when set, is the
    template for weeks and months: the same rows computed in memory bounded whatever the
    bucket holds, where the main template's is proportional to it. `grains` are the grains
    the family has a mart at (all four unless a grain would only cost space).
    """

    name: str
    raw_table: str
    description: str
    columns: tuple[Column, ...]
    lookback: timedelta = timedelta(0)
    long_bucket_sql: str | None = None
    grains: tuple[Grain, ...] = tuple(Grain)

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key)

    @property
    def sql_file(self) -> str:
        return f"rollups/{self.name}.sql"

    @property
    def check_file(self) -> str:
        return f"rollups/checks/{self.name}.sql"


@dataclass(frozen=True)
class Mart:
    """One family at one grain: a table and a Dagster asset."""

    family: Family
    grain: Grain

    @property
    def name(self) -> str:
        return f"{self.family.name}_{self.grain}"

    @property
    def bounded_memory(self) -> bool:
        """Whether this mart uses its family's long-bucket template (weeks, months)."""
        long = self.grain in (Grain.WEEKLY, Grain.MONTHLY)
        return long and self.family.long_bucket_sql is not None

    @property
    def sql_file(self) -> str:
        """The SQL template this mart is computed with (see Family.long_bucket_sql)."""
        if self.bounded_memory:
            return f"rollups/{self.family.long_bucket_sql}.sql"
        return self.family.sql_file

    @property
    def schema_table(self) -> tuple[str, str]:
        return ("marts", self.name)

    @property
    def table(self) -> str:
        return f"marts.{self.name}"

    @property
    def finer(self) -> Mart | None:
        finer = self.grain.finer
        if finer is None or finer not in self.family.grains:
            return None
        return Mart(self.family, finer)


TRANSACTIONS = Family(
    "transactions",
    "raw.transactions",
    "Transactions per bucket and dimension: counts by status, success rate "
    "(SUCCESS / (SUCCESS + FAILED + EXPIRED)), revenue (SUCCESS amounts), average value, "
    "unique payers, refunds, retries and exact processing latency percentiles.",
    (
        BUCKET_START,
        _key(
            "dimension",
            "platform, merchant, category, transaction_type or payment_method",
        ),
        _key(
            "dimension_value",
            "the merchant id, category, ... ('' on platform rows); transactions without a "
            "merchant appear only in the other dimensions",
        ),
        _key(
            "currency",
            "ISO 4217 code; '' = all currencies (platform only, money columns NULL there)",
        ),
        _count("transaction_count", "transactions of any status"),
        _count("success_count", "status SUCCESS"),
        _count("failed_count", "status FAILED"),
        _count("expired_count", "status EXPIRED"),
        _count("pending_count", "status PENDING"),
        _count("refunded_count", "status REFUNDED (payments later refunded)"),
        Column(
            "success_rate",
            "numeric",
            "SUCCESS / (SUCCESS + FAILED + EXPIRED); NULL when none of those",
            nullable=True,
        ),
        Column(
            "revenue",
            "numeric",
            "sum of SUCCESS amounts; NULL on the all-currency row",
            nullable=True,
        ),
        Column(
            "average_value",
            "numeric",
            "revenue / success_count; NULL without successes or across currencies",
            nullable=True,
        ),
        _count("refund_count", "successful REFUND transactions"),
        Column(
            "refund_amount",
            "numeric",
            "amount of the successful REFUND transactions; NULL across currencies",
            nullable=True,
        ),
        _count("unique_payers", "distinct users with a SUCCESS transaction in the bucket"),
        _count("retries", "sum of retry_count"),
        _count("retried_count", "transactions with retry_count > 0"),
        _count("retried_success_count", "retried transactions that ended SUCCESS"),
        Column("latency_avg_ms", "numeric", "mean processing_ms"),
        Column("latency_p50_ms", "double precision", "median processing_ms (interpolated)"),
        Column("latency_p95_ms", "double precision", "95th percentile of processing_ms"),
        Column("latency_p99_ms", "double precision", "99th percentile of processing_ms"),
    ),
    long_bucket_sql="transactions_sorted",
)

FAILURES = Family(
    "failures",
    "raw.transactions",
    "FAILED transactions per bucket, dimension and failure reason, with the reason's "
    "share of the failures of the same bucket, dimension and value.",
    (
        BUCKET_START,
        _key("dimension", "platform, merchant or payment_method"),
        _key("dimension_value", "the merchant id or payment method ('' on platform rows)"),
        _key("failure_reason", "failure_reason of the transactions"),
        _count("failure_count", "FAILED transactions"),
        Column(
            "failure_share",
            "numeric",
            "failure_count / all failures of the same bucket, dimension and value",
        ),
        _count("affected_users", "distinct users with such a failure"),
        _count("retries", "sum of retry_count of the failed transactions"),
    ),
)

CASHFLOW = Family(
    "cashflow",
    "raw.transactions",
    "Money in and out of wallets (SUCCESS transactions) per bucket, user and currency; "
    "inflow: TOPUP, TRANSFER_IN, REFUND; outflow: PAYMENT, TRANSFER_OUT, WITHDRAWAL, "
    "BILL_PAYMENT.",
    (
        BUCKET_START,
        _key("user_id", "the user; '' = the whole platform"),
        _key("currency", "ISO 4217 code"),
        Column("inflow", "numeric", "amount of TOPUP, TRANSFER_IN and REFUND"),
        Column("outflow", "numeric", "amount of PAYMENT, TRANSFER_OUT, WITHDRAWAL, BILL_PAYMENT"),
        Column("net", "numeric", "inflow - outflow"),
        _count("inflow_count", "transactions bringing money in"),
        _count("outflow_count", "transactions taking money out"),
    ),
)

ACTIVITY = Family(
    "activity",
    "raw.user_activity",
    "App activity per bucket and device type: distinct active users (DAU/WAU/MAU at "
    "daily/weekly/monthly grain, never a sum of smaller windows), distinct sessions, "
    "events, and the length of the sessions that ended (their `logout` event).",
    (
        BUCKET_START,
        _key("device_type", "device type; '' = all devices (also events without one)"),
        _count("active_users", "distinct users with an event in the bucket"),
        _count("sessions", "distinct session ids seen in the bucket"),
        _count("events", "activity events"),
        _count("sessions_ended", "logout events"),
        Column(
            "avg_session_seconds",
            "numeric",
            "mean duration_seconds of the logout events; NULL without any",
            nullable=True,
        ),
    ),
)

WEBHOOKS = Family(
    "webhooks",
    "raw.webhook_deliveries",
    "Webhook delivery attempts per bucket, merchant and webhook event type: outcomes, "
    "success rate (DELIVERED / (DELIVERED + FAILED)), retries and exact latency "
    "percentiles.",
    (
        BUCKET_START,
        _key("merchant_id", "the merchant; '' = all merchants"),
        _key("webhook_event_type", "the webhook event type; '' = all types"),
        _count("deliveries", "delivery attempts"),
        _count("delivered_count", "status DELIVERED"),
        _count("failed_count", "status FAILED (gave up)"),
        _count("retrying_count", "status RETRYING (attempt failed, will retry)"),
        Column(
            "success_rate",
            "numeric",
            "DELIVERED / (DELIVERED + FAILED); NULL when neither",
            nullable=True,
        ),
        _count("retry_attempts", "attempts after the first (attempt > 1)"),
        Column("latency_avg_ms", "numeric", "mean latency_ms"),
        Column("latency_p50_ms", "double precision", "median latency_ms (interpolated)"),
        Column("latency_p95_ms", "double precision", "95th percentile of latency_ms"),
    ),
)

# A KYC decision more than a week after its submission is not a review time but a lost
# case; bounding the lookup also bounds which late events can change a bucket.
KYC_LOOKBACK = timedelta(days=7)

USER_LIFECYCLE = Family(
    "user_lifecycle",
    "raw.user_events",
    "Registrations and KYC per bucket and country: submitted, verified, rejected, "
    "verification rate and the median time from a user's latest KYC submission (within "
    "the 7 days before) to its verification.",
    (
        BUCKET_START,
        _key("country", "country on the event; '' = all (also events without one)"),
        _count("registrations", "user.registered events"),
        _count("kyc_submitted", "user.kyc_submitted events"),
        _count("kyc_verified", "user.kyc_verified events"),
        _count("kyc_rejected", "user.kyc_rejected events"),
        Column(
            "verification_rate",
            "numeric",
            "verified / (verified + rejected); NULL when neither",
            nullable=True,
        ),
        Column(
            "median_seconds_to_verify",
            "double precision",
            "median seconds from the user's latest kyc_submitted (within 7 days) to the "
            "verification",
            nullable=True,
        ),
    ),
    lookback=KYC_LOOKBACK,
)

MERCHANT_BREAKDOWN = Family(
    "merchant_breakdown",
    "raw.transactions",
    "Each merchant's transactions per bucket by category and by payment method, per "
    "currency: counts by outcome and revenue (SUCCESS amounts). The transactions marts "
    "count merchants, categories and payment methods each on their own; this is their "
    "cross, which the merchants' monthly reports rank. No hourly grain: per merchant and "
    "hour it would hold about as many rows as raw, and nothing reads it.",
    (
        BUCKET_START,
        _key("merchant_id", "the merchant (transactions without one are not here)"),
        _key("dimension", "category or payment_method"),
        _key("dimension_value", "the category or payment method"),
        _key("currency", "ISO 4217 code"),
        _count("transaction_count", "transactions of any status"),
        _count("success_count", "status SUCCESS"),
        _count("failed_count", "status FAILED"),
        _count("expired_count", "status EXPIRED"),
        Column("revenue", "numeric", "sum of SUCCESS amounts"),
    ),
    grains=(Grain.DAILY, Grain.WEEKLY, Grain.MONTHLY),
)

FAMILIES: tuple[Family, ...] = (
    TRANSACTIONS,
    FAILURES,
    CASHFLOW,
    ACTIVITY,
    WEBHOOKS,
    USER_LIFECYCLE,
    MERCHANT_BREAKDOWN,
)
MARTS: tuple[Mart, ...] = tuple(Mart(f, g) for g in Grain for f in FAMILIES if g in f.grains)


class UnknownMartError(KeyError):
    """A mart name that is not `<family>_<grain>` of the known families and grains."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown mart {name!r}; known: {', '.join(m.name for m in MARTS)}")


def mart(name: str) -> Mart:
    for candidate in MARTS:
        if candidate.name == name:
            return candidate
    raise UnknownMartError(name)
