"""The rollup tests' side of the story: raw rows in, and every mart computed independently.

Buckets are cut in Python with zoneinfo (not with SQL's date_trunc) and metrics are
computed with polars over the same events, then compared with what the SQL wrote. Money is
kept in integer cents here, so sums are exact without trusting anyone's decimal type.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import psycopg
from psycopg import sql

from analytics_platform.automation.planner import PlannedRun, plan_runs
from analytics_platform.events import TOPICS, EventDecoder
from analytics_platform.ingestion.loader import RawLoader
from analytics_platform.migrations import migrate
from analytics_platform.rollups.bookkeeping import due_buckets
from analytics_platform.rollups.families import FAMILIES, KYC_LOOKBACK, MARTS, Grain, Mart
from analytics_platform.rollups.runner import materialize_window

from .conftest import PostgresCluster, settings_for

EVENT_DEFAULTS = {"schema_version": 1}
TABLE_TOPICS = {spec.table: name for name, spec in TOPICS.items()}
RAW_TABLES = tuple(spec.table for spec in TOPICS.values())


# ------------------------------------------------------------------ buckets, in Python
def bucket_start(ts: datetime, grain: Grain, tz: ZoneInfo) -> datetime:
    local = ts.astimezone(tz)
    if grain is Grain.HOURLY:
        # replace() keeps `fold`, so the repeated hour of a DST fall-back stays itself.
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = local.date()
    if grain is Grain.WEEKLY:
        day -= timedelta(days=day.weekday())
    elif grain is Grain.MONTHLY:
        day = day.replace(day=1)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def bucket_end(start: datetime, grain: Grain, tz: ZoneInfo) -> datetime:
    if grain is Grain.HOURLY:
        return start + timedelta(hours=1)
    local = start.astimezone(tz).date()
    if grain is Grain.DAILY:
        nxt = local + timedelta(days=1)
    elif grain is Grain.WEEKLY:
        nxt = local + timedelta(days=7)
    else:
        nxt = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)


# ------------------------------------------------------------------ a database per module
@contextmanager
def migrated_database(cluster: PostgresCluster) -> Iterator[str]:
    """A migrated database for a whole test module (hypothesis examples and module-scoped
    fixtures share it; `reset` empties it between examples)."""
    url = cluster.create_database()
    try:
        migrate(settings_for(database_url=url))
        yield url
    finally:
        cluster.drop_database(url)


def transaction(at: datetime, **fields: object) -> dict:
    """One valid raw.transactions row, `fields` overriding the defaults."""
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": at,
        "user_id": "u1",
        "transaction_id": "t1",
        "amount": Decimal("10.00"),
        "currency": "IDR",
        "transaction_type": "PAYMENT",
        "category": "food",
        "status": "SUCCESS",
        "payment_method": "CARD",
        "retry_count": 0,
        "processing_ms": 100,
        "merchant_id": "m1",
        **fields,
    }


def reset(conn: psycopg.Connection) -> None:
    """Empty every table a rollup test writes. DELETE, not TRUNCATE: the tables hold a few
    rows, and TRUNCATE of dozens of raw partitions costs half a second each time."""
    tables = [*RAW_TABLES, "ingest.touched_hours", "marts.rollup_buckets"]
    tables += [m.table for m in MARTS]
    with conn.transaction():
        for table in tables:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(*table.split("."))))


# ------------------------------------------------------------------ loading raw rows
@dataclass
class RawLoaders:
    """One ingestion loader per raw table: rows go in the way ingestion writes them
    (duplicates dropped, ingest.touched_hours recorded in the reporting zone)."""

    tz: ZoneInfo
    loaders: dict[str, RawLoader] = field(default_factory=dict)

    def loader(self, table: str) -> RawLoader:
        if table not in self.loaders:
            spec = TOPICS[TABLE_TOPICS[table]]
            decoder = EventDecoder(spec, datetime(2024, 1, 1, tzinfo=UTC), timedelta(days=1))
            self.loaders[table] = RawLoader(spec, spec.name, "tests", decoder, self.tz)
        return self.loaders[table]

    def insert(self, conn: psycopg.Connection, table: str, events: Sequence[dict]) -> int:
        """Insert events (dicts of event columns); returns the rows that were new."""
        if not events:
            return 0
        loader = self.loader(table)
        columns = loader.spec.event_columns
        rows = [
            (*({**EVENT_DEFAULTS, **e}.get(c) for c in columns), 0, offset)
            for offset, e in enumerate(events)
        ]
        loader.ensure_partitions(conn, rows)
        with conn.transaction():
            hours = loader.insert_rows(conn, rows)
        return sum(h.rows for h in hours.values())


def unique_events(events: Iterable[dict]) -> list[dict]:
    """What raw keeps of a stream with duplicates: one row per (event_id, occurred_at)."""
    seen: dict[tuple[Any, Any], dict] = {}
    for event in events:
        seen.setdefault((event["event_id"], event["occurred_at"]), event)
    return list(seen.values())


# ------------------------------------------------------------------ driving runs
def closed_through(latest: datetime, tz: ZoneInfo) -> dict[Grain, datetime]:
    """Per grain, the end of the bucket holding `latest`: every bucket with an event has
    closed by then. (The sensor uses one `now - grace` for every grain; per grain the same
    buckets get computed, without hundreds of empty hours up to the end of a month.)"""
    return {g: bucket_end(bucket_start(latest, g, tz), g, tz) for g in Grain}


def run_until_nothing_due(
    conn: psycopg.Connection, tz: str, closed_before: dict[Grain, datetime], max_rounds: int = 10
) -> list[list[PlannedRun]]:
    """Do what the automation's planner asks, tick after tick, until nothing is due;
    returns the runs of each round."""
    rounds: list[list[PlannedRun]] = []
    for _ in range(max_rounds):
        due = [b for m in MARTS for b in due_buckets(conn, m, tz, closed_before[m.grain])]
        planned = plan_runs(due, [])
        if not planned:
            return rounds
        for run in planned:
            for mart in run.marts:
                materialize_window(conn, mart, run.start, run.end, tz)
        rounds.append(planned)
    raise AssertionError(f"the automation did not converge in {max_rounds} rounds")


# ------------------------------------------------------------------ reading marts
def mart_rows(conn: psycopg.Connection, mart: Mart) -> dict[tuple, dict[str, Any]]:
    cursor = conn.execute(f"SELECT * FROM {mart.table}")
    names = [d.name for d in cursor.description or ()]
    key = mart.family.key
    rows = {}
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        rows[tuple(row[k] for k in key)] = {n: v for n, v in row.items() if n not in key}
    return rows


# ------------------------------------------------------------------ expected marts
def _frame(events: Sequence[dict], grain: Grain, tz: ZoneInfo, schema: dict) -> pl.DataFrame:
    rows = [
        {**{k: e.get(k) for k in schema}, "bucket": bucket_start(e["occurred_at"], grain, tz)}
        for e in events
    ]
    return pl.DataFrame(rows, schema={**schema, "bucket": pl.Datetime("us", "UTC")})


@dataclass(frozen=True)
class Col:
    """In a grouping set's key: the value of this grouped column (else a literal)."""

    name: str


KeySpec = dict[str, "str | Col"]


def _groups(
    frame: pl.DataFrame,
    sets: Sequence[KeySpec],
    aggregations: Sequence[pl.Expr],
) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    """Per grouping set (mart key column -> literal or grouped Col): each group's key
    (bucket_start first, then the mart's key order) and aggregated values.

    Rows whose grouped columns are NULL belong to no group of that set, like in the SQL.
    """
    for spec in sets:
        columns = [v.name for v in spec.values() if isinstance(v, Col)]
        part = frame
        for column in columns:
            part = part.filter(pl.col(column).is_not_null())
        if part.is_empty():
            continue
        for row in part.group_by(["bucket", *columns]).agg(aggregations).iter_rows(named=True):
            key = {"bucket_start": row["bucket"]}
            for name, value in spec.items():
                key[name] = row[value.name] if isinstance(value, Col) else value
            yield key, row


def _ratio(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


def _money(cents: int) -> Decimal:
    return Decimal(cents) / 100


def _quantile(column: str, q: float) -> pl.Expr:
    return pl.col(column).quantile(q, interpolation="linear")


TRANSACTION_SCHEMA = {
    "user_id": pl.Utf8,
    "amount_cents": pl.Int64,
    "currency": pl.Utf8,
    "transaction_type": pl.Utf8,
    "category": pl.Utf8,
    "status": pl.Utf8,
    "payment_method": pl.Utf8,
    "retry_count": pl.Int64,
    "processing_ms": pl.Int64,
    "merchant_id": pl.Utf8,
    "failure_reason": pl.Utf8,
}


def expected_transactions(events: Sequence[dict], grain: Grain, tz: ZoneInfo) -> dict:
    frame = _frame(events, grain, tz, TRANSACTION_SCHEMA)
    status = pl.col("status")
    success = status == "SUCCESS"
    refund = success & (pl.col("transaction_type") == "REFUND")
    aggregations = [
        pl.len().alias("n"),
        success.sum().alias("success"),
        (status == "FAILED").sum().alias("failed"),
        (status == "EXPIRED").sum().alias("expired"),
        (status == "PENDING").sum().alias("pending"),
        (status == "REFUNDED").sum().alias("refunded"),
        pl.col("amount_cents").filter(success).sum().alias("revenue"),
        refund.sum().alias("refunds"),
        pl.col("amount_cents").filter(refund).sum().alias("refund_amount"),
        pl.col("user_id").filter(success).n_unique().alias("payers"),
        pl.col("retry_count").sum().alias("retries"),
        (pl.col("retry_count") > 0).sum().alias("retried"),
        ((pl.col("retry_count") > 0) & success).sum().alias("retried_success"),
        pl.col("processing_ms").mean().alias("avg"),
        _quantile("processing_ms", 0.5).alias("p50"),
        _quantile("processing_ms", 0.95).alias("p95"),
        _quantile("processing_ms", 0.99).alias("p99"),
    ]
    sets: list[KeySpec] = [
        {"dimension": "platform", "dimension_value": "", "currency": ""},
        {"dimension": "platform", "dimension_value": "", "currency": Col("currency")},
    ]
    for dimension, column in [
        ("merchant", "merchant_id"),
        ("category", "category"),
        ("transaction_type", "transaction_type"),
        ("payment_method", "payment_method"),
    ]:
        sets.append(
            {"dimension": dimension, "dimension_value": Col(column), "currency": Col("currency")}
        )
    expected = {}
    for key, v in _groups(frame, sets, aggregations):
        per_currency = key["currency"] != ""
        revenue = _money(v["revenue"]) if per_currency else None
        expected[tuple(key.values())] = {
            "transaction_count": v["n"],
            "success_count": v["success"],
            "failed_count": v["failed"],
            "expired_count": v["expired"],
            "pending_count": v["pending"],
            "refunded_count": v["refunded"],
            "success_rate": _ratio(v["success"], v["success"] + v["failed"] + v["expired"]),
            "revenue": revenue,
            "average_value": (
                Fraction(v["revenue"], 100 * v["success"])
                if per_currency and v["success"]
                else None
            ),
            "refund_count": v["refunds"],
            "refund_amount": _money(v["refund_amount"]) if per_currency else None,
            "unique_payers": v["payers"],
            "retries": v["retries"],
            "retried_count": v["retried"],
            "retried_success_count": v["retried_success"],
            "latency_avg_ms": v["avg"],
            "latency_p50_ms": v["p50"],
            "latency_p95_ms": v["p95"],
            "latency_p99_ms": v["p99"],
        }
    return expected


def expected_failures(events: Sequence[dict], grain: Grain, tz: ZoneInfo) -> dict:
    failed = [e for e in events if e["status"] == "FAILED"]
    frame = _frame(failed, grain, tz, TRANSACTION_SCHEMA)
    aggregations = [
        pl.len().alias("n"),
        pl.col("user_id").n_unique().alias("users"),
        pl.col("retry_count").sum().alias("retries"),
    ]
    reason = Col("failure_reason")
    sets: list[KeySpec] = [
        {"dimension": "platform", "dimension_value": "", "failure_reason": reason},
        {"dimension": "merchant", "dimension_value": Col("merchant_id"), "failure_reason": reason},
        {
            "dimension": "payment_method",
            "dimension_value": Col("payment_method"),
            "failure_reason": reason,
        },
    ]
    groups = list(_groups(frame, sets, aggregations))
    totals: dict[tuple, int] = {}
    for key, v in groups:
        owner = (key["bucket_start"], key["dimension"], key["dimension_value"])
        totals[owner] = totals.get(owner, 0) + v["n"]
    return {
        tuple(key.values()): {
            "failure_count": v["n"],
            "failure_share": Fraction(
                v["n"], totals[(key["bucket_start"], key["dimension"], key["dimension_value"])]
            ),
            "affected_users": v["users"],
            "retries": v["retries"],
        }
        for key, v in groups
    }


_INFLOW = ("TOPUP", "TRANSFER_IN", "REFUND")


def expected_cashflow(events: Sequence[dict], grain: Grain, tz: ZoneInfo) -> dict:
    moved = [e for e in events if e["status"] == "SUCCESS"]
    frame = _frame(moved, grain, tz, TRANSACTION_SCHEMA)
    inflow = pl.col("transaction_type").is_in(_INFLOW)
    aggregations = [
        pl.col("amount_cents").filter(inflow).sum().alias("inflow"),
        pl.col("amount_cents").filter(~inflow).sum().alias("outflow"),
        inflow.sum().alias("inflow_count"),
        (~inflow).sum().alias("outflow_count"),
    ]
    sets: list[KeySpec] = [{"user_id": "", "currency": Col("currency")}]
    if grain is not Grain.HOURLY:
        sets.append({"user_id": Col("user_id"), "currency": Col("currency")})
    return {
        tuple(key.values()): {
            "inflow": _money(v["inflow"]),
            "outflow": _money(v["outflow"]),
            "net": _money(v["inflow"] - v["outflow"]),
            "inflow_count": v["inflow_count"],
            "outflow_count": v["outflow_count"],
        }
        for key, v in _groups(frame, sets, aggregations)
    }


ACTIVITY_SCHEMA = {
    "user_id": pl.Utf8,
    "activity_type": pl.Utf8,
    "session_id": pl.Utf8,
    "device_type": pl.Utf8,
    "duration_seconds": pl.Int64,
}


def expected_activity(events: Sequence[dict], grain: Grain, tz: ZoneInfo) -> dict:
    frame = _frame(events, grain, tz, ACTIVITY_SCHEMA)
    logout = pl.col("activity_type") == "logout"
    aggregations = [
        pl.col("user_id").n_unique().alias("users"),
        pl.col("session_id").drop_nulls().n_unique().alias("sessions"),
        pl.len().alias("events"),
        logout.sum().alias("ended"),
        pl.col("duration_seconds").filter(logout).mean().alias("avg_session"),
    ]
    sets: list[KeySpec] = [{"device_type": ""}, {"device_type": Col("device_type")}]
    return {
        tuple(key.values()): {
            "active_users": v["users"],
            "sessions": v["sessions"],
            "events": v["events"],
            "sessions_ended": v["ended"],
            "avg_session_seconds": v["avg_session"],
        }
        for key, v in _groups(frame, sets, aggregations)
    }


WEBHOOK_SCHEMA = {
    "merchant_id": pl.Utf8,
    "webhook_event_type": pl.Utf8,
    "status": pl.Utf8,
    "attempt": pl.Int64,
    "latency_ms": pl.Int64,
}


def expected_webhooks(events: Sequence[dict], grain: Grain, tz: ZoneInfo) -> dict:
    frame = _frame(events, grain, tz, WEBHOOK_SCHEMA)
    status = pl.col("status")
    aggregations = [
        pl.len().alias("n"),
        (status == "DELIVERED").sum().alias("delivered"),
        (status == "FAILED").sum().alias("failed"),
        (status == "RETRYING").sum().alias("retrying"),
        (pl.col("attempt") > 1).sum().alias("retries"),
        pl.col("latency_ms").mean().alias("avg"),
        _quantile("latency_ms", 0.5).alias("p50"),
        _quantile("latency_ms", 0.95).alias("p95"),
    ]
    merchant, kind = "merchant_id", "webhook_event_type"
    sets: list[KeySpec] = [
        {merchant: "", kind: ""},
        {merchant: Col(merchant), kind: ""},
        {merchant: "", kind: Col(kind)},
        {merchant: Col(merchant), kind: Col(kind)},
    ]
    return {
        tuple(key.values()): {
            "deliveries": v["n"],
            "delivered_count": v["delivered"],
            "failed_count": v["failed"],
            "retrying_count": v["retrying"],
            "success_rate": _ratio(v["delivered"], v["delivered"] + v["failed"]),
            "retry_attempts": v["retries"],
            "latency_avg_ms": v["avg"],
            "latency_p50_ms": v["p50"],
            "latency_p95_ms": v["p95"],
        }
        for key, v in _groups(frame, sets, aggregations)
    }


LIFECYCLE_SCHEMA = {
    "user_id": pl.Utf8,
    "event_type": pl.Utf8,
    "country": pl.Utf8,
    "seconds_to_verify": pl.Float64,
}


def _with_seconds_to_verify(events: Sequence[dict], everything: Sequence[dict]) -> list[dict]:
    """Each verification with the seconds since its user's latest submission at or before
    it and at most KYC_LOOKBACK earlier, looked up among all events in raw (also those
    outside the window)."""
    submissions: dict[str, list[datetime]] = {}
    for e in everything:
        if e["event_type"] == "user.kyc_submitted":
            submissions.setdefault(e["user_id"], []).append(e["occurred_at"])
    out = []
    for e in events:
        seconds = None
        if e["event_type"] == "user.kyc_verified":
            at = e["occurred_at"]
            earlier = [s for s in submissions.get(e["user_id"], []) if at - KYC_LOOKBACK <= s <= at]
            if earlier:
                seconds = (at - max(earlier)).total_seconds()
        out.append({**e, "seconds_to_verify": seconds})
    return out


def expected_user_lifecycle(events: Sequence[dict], grain: Grain, tz: ZoneInfo) -> dict:
    frame = _frame(_with_seconds_to_verify(events, events), grain, tz, LIFECYCLE_SCHEMA)
    kind = pl.col("event_type")
    aggregations = [
        (kind == "user.registered").sum().alias("registered"),
        (kind == "user.kyc_submitted").sum().alias("submitted"),
        (kind == "user.kyc_verified").sum().alias("verified"),
        (kind == "user.kyc_rejected").sum().alias("rejected"),
        _quantile("seconds_to_verify", 0.5).alias("median"),
    ]
    sets: list[KeySpec] = [{"country": ""}, {"country": Col("country")}]
    return {
        tuple(key.values()): {
            "registrations": v["registered"],
            "kyc_submitted": v["submitted"],
            "kyc_verified": v["verified"],
            "kyc_rejected": v["rejected"],
            "verification_rate": _ratio(v["verified"], v["verified"] + v["rejected"]),
            "median_seconds_to_verify": v["median"],
        }
        for key, v in _groups(frame, sets, aggregations)
    }


def expected_merchant_breakdown(events: Sequence[dict], grain: Grain, tz: ZoneInfo) -> dict:
    frame = _frame(events, grain, tz, TRANSACTION_SCHEMA)
    status = pl.col("status")
    aggregations = [
        pl.len().alias("n"),
        (status == "SUCCESS").sum().alias("success"),
        (status == "FAILED").sum().alias("failed"),
        (status == "EXPIRED").sum().alias("expired"),
        pl.col("amount_cents").filter(status == "SUCCESS").sum().alias("revenue"),
    ]
    sets: list[KeySpec] = [
        {
            "merchant_id": Col("merchant_id"),
            "dimension": dimension,
            "dimension_value": Col(dimension),
            "currency": Col("currency"),
        }
        for dimension in ("category", "payment_method")
    ]
    return {
        tuple(key.values()): {
            "transaction_count": v["n"],
            "success_count": v["success"],
            "failed_count": v["failed"],
            "expired_count": v["expired"],
            "revenue": _money(v["revenue"]),
        }
        for key, v in _groups(frame, sets, aggregations)
    }


Expectation = Callable[[Sequence[dict], Grain, ZoneInfo], dict]
EXPECTED: dict[str, tuple[str, Expectation]] = {
    "transactions": ("raw.transactions", expected_transactions),
    "failures": ("raw.transactions", expected_failures),
    "cashflow": ("raw.transactions", expected_cashflow),
    "activity": ("raw.user_activity", expected_activity),
    "webhooks": ("raw.webhook_deliveries", expected_webhooks),
    "user_lifecycle": ("raw.user_events", expected_user_lifecycle),
    "merchant_breakdown": ("raw.transactions", expected_merchant_breakdown),
}
assert set(EXPECTED) == {f.name for f in FAMILIES}


def expected_mart(mart: Mart, events_by_table: dict[str, list[dict]], tz: ZoneInfo) -> dict:
    table, expectation = EXPECTED[mart.family.name]
    return expectation(events_by_table.get(table, []), mart.grain, tz)


# ------------------------------------------------------------------ comparing
def _same(actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, int) and not isinstance(expected, bool):
        return actual == expected
    if isinstance(expected, Decimal):
        return Decimal(actual) == expected
    # Rates, averages and percentiles: the SQL's numeric division and double interpolation
    # against exact fractions and polars' doubles.
    return math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-9)


def differences(actual: dict, expected: dict, limit: int = 8) -> list[str]:
    """Human-readable differences between two marts keyed alike (empty: identical)."""
    problems = [f"missing row {k}" for k in expected.keys() - actual.keys()]
    problems += [f"unexpected row {k}" for k in actual.keys() - expected.keys()]
    for key in expected.keys() & actual.keys():
        for column, want in expected[key].items():
            got = actual[key][column]
            if not _same(got, want):
                problems.append(f"{key} {column}: got {got!r}, expected {want!r}")
    return sorted(problems)[:limit]
