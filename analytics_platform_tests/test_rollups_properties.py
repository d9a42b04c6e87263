"""Property tests: every metric of every mart at every grain equals an independent
computation over the same events, in UTC, in America/New_York across both DST changes and
in Asia/Kolkata (a half-hour offset), with duplicates and late arrivals.

Each example loads a random event set the way ingestion writes it (duplicates dropped,
touched hours recorded), lets the automation's own planner drive the runs until nothing is
due, loads the late events, converges again, and compares all 27 marts with
`rollup_reference` (buckets cut by zoneinfo, metrics by polars).
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.families import MARTS

from .conftest import PostgresCluster
from .rollup_reference import (
    RawLoaders,
    closed_through,
    differences,
    expected_mart,
    mart_rows,
    migrated_database,
    reset,
    run_until_nothing_due,
    unique_events,
)

# (zone, an instant near the edges that matter there)
SCENARIOS = [
    ("UTC", datetime(2024, 3, 31, 22, 0, tzinfo=UTC)),  # Sunday 31 March: week and month end
    ("America/New_York", datetime(2024, 3, 10, 7, 0, tzinfo=UTC)),  # 02:00 EST -> 03:00 EDT
    ("America/New_York", datetime(2024, 11, 3, 6, 0, tzinfo=UTC)),  # 02:00 EDT -> 01:00 EST
    ("Asia/Kolkata", datetime(2024, 4, 30, 18, 30, tzinfo=UTC)),  # 1 May 00:00 IST
]
SPREAD = timedelta(days=2)


@pytest.fixture(scope="module")
def db(postgres_cluster: PostgresCluster) -> Iterator[psycopg.Connection]:
    """One migrated database for the module, emptied by each example (hypothesis and
    function-scoped fixtures do not mix)."""
    with (
        migrated_database(postgres_cluster) as url,
        connect(url, autocommit=True) as conn,
    ):
        yield conn


# ------------------------------------------------------------------------ strategies
@st.composite
def instants(draw: st.DrawFn, anchor: datetime) -> datetime:
    """Mostly anywhere within SPREAD of the anchor; often on a half-hour edge, a
    microsecond either side, where bucketing mistakes show."""
    if draw(st.booleans()):
        edge = anchor + timedelta(minutes=30 * draw(st.integers(-96, 96)))
        return edge + timedelta(microseconds=draw(st.sampled_from([-1, 0, 1])))
    span = int(SPREAD.total_seconds() * 1_000_000)
    return anchor + timedelta(microseconds=draw(st.integers(-span, span)))


USERS = st.sampled_from(["u1", "u2", "u3", "u4", "u5"])
MERCHANTS = st.sampled_from(["m1", "m2", "m3"])


@st.composite
def transaction(draw: st.DrawFn, at: datetime) -> dict:
    status = draw(st.sampled_from(["SUCCESS", "FAILED", "EXPIRED", "PENDING", "REFUNDED"]))
    cents = draw(st.integers(1, 10**9))
    reason = st.sampled_from(["TIMEOUT", "CARD_DECLINED", "INSUFFICIENT_FUNDS"])
    return {
        "occurred_at": at,
        "user_id": draw(USERS),
        "transaction_id": "t",
        "amount": Decimal(cents) / 100,
        "amount_cents": cents,
        "currency": draw(st.sampled_from(["IDR", "USD"])),
        "transaction_type": draw(
            st.sampled_from(
                [
                    "PAYMENT",
                    "TRANSFER_IN",
                    "TRANSFER_OUT",
                    "TOPUP",
                    "WITHDRAWAL",
                    "REFUND",
                    "BILL_PAYMENT",
                ]
            )
        ),
        "category": draw(st.sampled_from(["food", "travel", "bills"])),
        "status": status,
        "payment_method": draw(st.sampled_from(["CARD", "WALLET", "QRIS"])),
        "retry_count": draw(st.integers(0, 3)),
        "processing_ms": draw(st.integers(0, 5_000)),
        "merchant_id": draw(st.none() | MERCHANTS),
        # Required when FAILED; an EXPIRED one may carry a reason too (not a failure).
        "failure_reason": draw(reason if status == "FAILED" else st.none() | reason),
    }


@st.composite
def activity(draw: st.DrawFn, at: datetime) -> dict:
    return {
        "occurred_at": at,
        "user_id": draw(USERS),
        "activity_type": draw(st.sampled_from(["login", "view_screen", "logout"])),
        "session_id": draw(st.none() | st.sampled_from(["s1", "s2", "s3", "s4"])),
        "device_type": draw(st.none() | st.sampled_from(["android", "ios"])),
        "duration_seconds": draw(st.none() | st.integers(0, 7_200)),
    }


@st.composite
def webhook(draw: st.DrawFn, at: datetime) -> dict:
    return {
        "occurred_at": at,
        "merchant_id": draw(MERCHANTS),
        "webhook_event_type": draw(st.sampled_from(["payment.succeeded", "refund.created"])),
        "status": draw(st.sampled_from(["DELIVERED", "FAILED", "RETRYING"])),
        "attempt": draw(st.integers(1, 4)),
        "latency_ms": draw(st.integers(0, 3_000)),
        "http_status": draw(st.none() | st.sampled_from([200, 500])),
    }


@st.composite
def lifecycle(draw: st.DrawFn, at: datetime) -> dict:
    return {
        "occurred_at": at,
        "user_id": draw(USERS),
        "event_type": draw(
            st.sampled_from(
                ["user.registered", "user.kyc_submitted", "user.kyc_verified", "user.kyc_rejected"]
            )
        ),
        "kyc_level": draw(st.none() | st.integers(0, 3)),
        "country": draw(st.none() | st.sampled_from(["ID", "SG"])),
    }


EVENT_STRATEGIES = {
    "raw.transactions": transaction,
    "raw.user_activity": activity,
    "raw.webhook_deliveries": webhook,
    "raw.user_events": lifecycle,
}


@st.composite
def stream(draw: st.DrawFn, table: str, anchor: datetime) -> list[tuple[dict, bool]]:
    """Events of one table, each flagged late or not, with some delivered twice."""
    make = EVENT_STRATEGIES[table]
    events = []
    for _ in range(draw(st.integers(0, 30))):
        event = draw(make(draw(instants(anchor))))
        event["event_id"] = uuid.uuid4()
        events.append((event, draw(st.integers(0, 3)) == 0))
    if events:
        # Redelivery: the same event again, on time or late.
        for index in draw(st.lists(st.integers(0, len(events) - 1), max_size=4)):
            events.append((events[index][0], draw(st.booleans())))
    return events


# No shrinking: an example costs about half a second, so shrinking a failure would run
# for minutes (past the suite's timeout). The failure message names the mart, bucket,
# column and both values, and print_blob gives the @reproduce_failure line to replay it.
@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=st.sampled_from(SCENARIOS), data=st.data())
def test_every_mart_at_every_grain_equals_an_independent_computation(db, scenario, data):
    zone, anchor = scenario
    tz = ZoneInfo(zone)
    reset(db)
    streams = {table: data.draw(stream(table, anchor), label=table) for table in EVENT_STRATEGIES}
    everything = [e for events in streams.values() for e, _ in events]
    if not everything:
        return
    closed_before = closed_through(max(e["occurred_at"] for e in everything), tz)

    loaders = RawLoaders(tz)
    for table, events in streams.items():
        loaders.insert(db, table, [e for e, late in events if not late])
    run_until_nothing_due(db, zone, closed_before)
    for table, events in streams.items():
        loaders.insert(db, table, [e for e, late in events if late])
    run_until_nothing_due(db, zone, closed_before)

    raw = {table: unique_events(e for e, _ in events) for table, events in streams.items()}
    problems = {}
    for mart in MARTS:
        wrong = differences(mart_rows(db, mart), expected_mart(mart, raw, tz))
        if wrong:
            problems[mart.name] = wrong
    assert not problems, f"{zone}: {problems}"
