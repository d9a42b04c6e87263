"""Property tests: RFM scores, segments and transitions equal an independent polars
computation (rfm_reference) on generated worlds: ties, one-time buyers, users without
purchases, other transaction types and statuses, late events re-run as a range, DST days
(America/New_York) and half-hour zones (Asia/Kolkata, Australia/Adelaide)."""

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from analytics_platform.customers.rfm import materialize_rfm
from analytics_platform.customers.segments import load_rules
from analytics_platform.customers.transitions import materialize_transitions

from .conftest import PostgresCluster
from .rfm_reference import expected_scores, expected_transitions
from .rollup_reference import RawLoaders, migrated_database, transaction

RULES = load_rules()
# (zone, first day): the days cover a DST change or sit in a half-hour zone.
SCENARIOS = [
    ("America/New_York", date(2024, 3, 7)),  # 10 March: 23-hour day
    ("America/New_York", date(2024, 10, 31)),  # 3 November: 25-hour day
    ("Asia/Kolkata", date(2024, 4, 27)),
    ("Australia/Adelaide", date(2024, 4, 4)),  # 7 April: +10:30 -> +9:30
]
DAYS = 7
LOOKBACK = 3
TABLES = [
    "raw.transactions",
    "customers.rfm_daily_purchases",
    "customers.rfm_purchase_days",
    "customers.rfm_state",
    "customers.rfm_state_days",
    "customers.rfm_scores",
    "customers.rfm_breakpoints",
    "customers.rfm_score_days",
    "customers.segment_transitions",
    "customers.segment_transition_days",
]


@pytest.fixture(scope="module")
def db(postgres_cluster: PostgresCluster) -> Iterator[psycopg.Connection]:
    with (
        migrated_database(postgres_cluster) as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        yield conn


@st.composite
def purchase(draw: st.DrawFn, first: datetime) -> dict:
    # On the hour or half hour often (day edges in every zone), else anywhere.
    minutes = draw(st.integers(-12 * 60, (DAYS + 1) * 24 * 60))
    at = first + timedelta(minutes=minutes // 30 * 30 if draw(st.booleans()) else minutes)
    at += timedelta(microseconds=draw(st.sampled_from([-1, 0, 1, 0])))
    status = draw(st.sampled_from(["SUCCESS", "SUCCESS", "SUCCESS", "FAILED", "REFUNDED"]))
    return transaction(
        at,
        event_id=uuid.uuid4(),
        user_id=draw(st.sampled_from([f"u{i}" for i in range(8)])),
        # Few distinct amounts: ties in monetary are common.
        amount=Decimal(draw(st.sampled_from([100, 250, 1000, 1001, 99999]))) / 100,
        currency=draw(st.sampled_from(["IDR", "IDR", "USD"])),
        transaction_type=draw(
            st.sampled_from(["PAYMENT", "BILL_PAYMENT", "TRANSFER_OUT", "TOPUP", "WITHDRAWAL"])
        ),
        status=status,
        failure_reason="TIMEOUT" if status == "FAILED" else None,
    )


def stored_scores(conn: psycopg.Connection, day: date) -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT user_id, currency, recency_days, frequency, monetary, r_score, f_score,"
        " m_score, segment FROM customers.rfm_scores WHERE day = %s",
        (day,),
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def stored_transitions(conn: psycopg.Connection, day: date) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        "SELECT from_segment, to_segment, users FROM customers.segment_transitions"
        " WHERE day = %s AND since = 'previous_day'",
        (day,),
    )
    return {(r[0], r[1]): r[2] for r in rows}


@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=st.sampled_from(SCENARIOS), data=st.data())
def test_scores_segments_and_transitions_equal_an_independent_computation(db, scenario, data):
    zone, first_day = scenario
    tz = ZoneInfo(zone)
    with db.transaction():
        for table in TABLES:
            db.execute(f"DELETE FROM {table}")
    start = datetime.combine(first_day, datetime.min.time(), tz).astimezone(UTC)
    events = data.draw(st.lists(purchase(start), max_size=40), label="events")
    # Late events land in the days run here (a late event before them would re-run a
    # partition this test does not have).
    late = [
        e
        for e in events
        if first_day <= e["occurred_at"].astimezone(tz).date() < first_day + timedelta(DAYS)
        and data.draw(st.integers(0, 4), label="late") == 0
    ]
    on_time = [e for e in events if e not in late]
    days = [first_day + timedelta(days=d) for d in range(DAYS)]
    loaders = RawLoaders(tz)
    loaders.insert(db, "raw.transactions", on_time)
    for day in days:
        materialize_rfm(db, day, day, zone, LOOKBACK, RULES)
    # A re-run of a day in the middle, with later days already built, writes the rows it
    # wrote the first time: its state comes from the previous day's, never a later one.
    middle = days[DAYS // 2]
    first_time = stored_scores(db, middle)
    rerun = materialize_rfm(db, middle, middle, zone, LOOKBACK, RULES)
    assert stored_scores(db, middle) == first_time, f"{zone} {middle} re-run"
    assert [d.method for d in rerun.days] == ["incremental"]
    loaders.insert(db, "raw.transactions", late)
    # Late events re-run the days from the earliest touched one, as one range run.
    touched = [e["occurred_at"].astimezone(tz).date() for e in late]
    rerun_from = max(min(touched, default=days[-1]), days[0])
    materialize_rfm(db, rerun_from, days[-1], zone, LOOKBACK, RULES)
    materialize_transitions(db, days[0], days[-1], days[0])

    previous: dict[str, tuple] = {}
    for day in days:
        expected = expected_scores(events, tz, day, LOOKBACK, RULES)
        assert stored_scores(db, day) == expected, f"{zone} {day}"
        assert stored_transitions(db, day) == expected_transitions(previous, expected), day
        previous = expected
