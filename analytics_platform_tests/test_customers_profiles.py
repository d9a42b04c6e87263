"""Property tests: user profiles, spending and cohorts as of every day equal an independent
computation from the raw events (`customer_reference`, polars and zoneinfo), in UTC,
across both DST changes, and at half-hour offsets (Asia/Kolkata, America/St_Johns), with
users who never pay, one-time buyers, ties, duplicates and late events.

Each example loads events the way ingestion writes them, lets the customer automation's
own planning (`due_days`, `plan_range`) drive the runs until nothing is due, loads the
late events, converges again, and compares every day.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from psycopg import sql

from analytics_platform.customers import cohorts, profiles, spending
from analytics_platform.customers.days import (
    PreviousDayMissingError,
    day_of,
    due_days,
    plan_range,
)
from analytics_platform.resources import warehouse
from analytics_platform.resources.warehouse import read_sql

from .conftest import PostgresCluster
from .customer_reference import (
    expected_cohorts,
    expected_profiles,
    expected_spending,
)
from .rollup_reference import RawLoaders, migrated_database, unique_events

ASSETS = [profiles.ASSET, spending.ASSET, cohorts.ASSET]
MATERIALIZE = [
    profiles.materialize_user_profiles,
    spending.materialize_spending,
    cohorts.materialize_cohorts,
]
TABLES = [
    "raw.transactions",
    "raw.user_activity",
    "raw.user_events",
    "ingest.touched_hours",
    "marts.customer_days",
    "marts.customer_profiles",
    "marts.customer_profile_currencies",
    "marts.customer_spending",
    "marts.customer_cohorts",
    "customers.cohort_registrations",
    "customers.cohort_user_days",
    "customers.cohort_state_days",
]
# (zone, an instant near the edges that matter there: month ends, DST changes)
SCENARIOS = [
    ("UTC", datetime(2024, 2, 29, 23, 0, tzinfo=UTC)),
    ("America/St_Johns", datetime(2024, 3, 10, 5, 30, tzinfo=UTC)),  # 02:00 NST -> 03:00 NDT
    ("America/New_York", datetime(2024, 11, 3, 6, 0, tzinfo=UTC)),  # 02:00 EDT -> 01:00 EST
    ("Asia/Kolkata", datetime(2024, 4, 30, 18, 30, tzinfo=UTC)),  # 1 May 00:00 IST
]
SPREAD = timedelta(days=3)


@pytest.fixture(scope="module")
def db(postgres_cluster: PostgresCluster) -> Iterator[psycopg.Connection]:
    with (
        migrated_database(postgres_cluster) as url,
        # The platform's session options (UTC, no JIT), as every asset's connection has.
        warehouse.connect(url, autocommit=True) as conn,
    ):
        yield conn


def reset(conn: psycopg.Connection) -> None:
    with conn.transaction():
        for table in TABLES:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(*table.split("."))))


# ------------------------------------------------------------------------ strategies
@st.composite
def instants(draw: st.DrawFn, anchor: datetime, month_before: bool) -> datetime:
    """Near the anchor or (when `month_before`) a month before it, so comparisons of a
    partial month with the same days of the month before have something to compare;
    often on a half-hour edge."""
    if month_before and draw(st.booleans()):
        anchor -= timedelta(days=29)
    if draw(st.booleans()):
        edge = anchor + timedelta(minutes=30 * draw(st.integers(-240, 240)))
        return edge + timedelta(microseconds=draw(st.sampled_from([-1, 0, 1])))
    span = int(SPREAD.total_seconds() * 1_000_000)
    return anchor + timedelta(microseconds=draw(st.integers(-span, span)))


# u5 and u6 never transact; u4 mostly pays once (draws pick it rarely).
PAYERS = st.sampled_from(["u1", "u1", "u2", "u2", "u3", "u4"])
USERS = st.sampled_from(["u1", "u2", "u3", "u4", "u5", "u6"])


@st.composite
def transaction(draw: st.DrawFn, at: datetime) -> dict:
    status = draw(st.sampled_from(["SUCCESS", "SUCCESS", "FAILED", "PENDING"]))
    # Few distinct amounts: ties between merchants and months.
    cents = draw(st.sampled_from([100, 250, 1000, 99_999]) | st.integers(1, 10**8))
    return {
        "occurred_at": at,
        "user_id": draw(PAYERS),
        "transaction_id": "t",
        "amount": Decimal(cents) / 100,
        "amount_cents": cents,
        "currency": draw(st.sampled_from(["IDR", "IDR", "USD"])),
        "transaction_type": draw(
            st.sampled_from(["PAYMENT", "PAYMENT", "TOPUP", "TRANSFER_OUT", "REFUND"])
        ),
        "category": draw(st.sampled_from(["food", "travel"])),
        "status": status,
        "payment_method": "CARD",
        "retry_count": 0,
        "processing_ms": 10,
        "merchant_id": draw(st.none() | st.sampled_from(["m1", "m2", "m3"])),
        "failure_reason": "TIMEOUT" if status == "FAILED" else None,
    }


@st.composite
def activity(draw: st.DrawFn, at: datetime) -> dict:
    return {
        "occurred_at": at,
        "user_id": draw(USERS),
        "activity_type": "login",
        "session_id": None,
        "device_type": None,
        "duration_seconds": None,
    }


@st.composite
def lifecycle(draw: st.DrawFn, at: datetime) -> dict:
    return {
        "occurred_at": at,
        "user_id": draw(USERS),
        "event_type": draw(
            st.sampled_from(
                [
                    "user.registered",
                    "user.registered",
                    "user.kyc_submitted",
                    "user.kyc_verified",
                    "user.kyc_rejected",
                ]
            )
        ),
        "kyc_level": draw(st.none() | st.integers(0, 3)),
        "country": draw(st.none() | st.sampled_from(["ID", "SG"])),
    }


STRATEGIES = {
    "raw.transactions": transaction,
    "raw.user_activity": activity,
    "raw.user_events": lifecycle,
}


@st.composite
def stream(
    draw: st.DrawFn, table: str, anchor: datetime, month_before: bool
) -> list[tuple[dict, bool]]:
    """Events of one table, each flagged late or not, some delivered twice, some at the
    very same instant as another (ties)."""
    make = STRATEGIES[table]
    events: list[tuple[dict, bool]] = []
    for _ in range(draw(st.integers(0, 25))):
        at = draw(instants(anchor, month_before))
        if events and draw(st.integers(0, 5)) == 0:
            at = events[-1][0]["occurred_at"]
        event = draw(make(at))
        event["event_id"] = uuid.uuid4()
        events.append((event, draw(st.integers(0, 3)) == 0))
    if events:
        for index in draw(st.lists(st.integers(0, len(events) - 1), max_size=3)):
            events.append((events[index][0], draw(st.booleans())))
    return events


# ------------------------------------------------------------------------ driving runs
def first_and_last_day(events: list[dict], tz: ZoneInfo) -> tuple[date, date]:
    days = [e["occurred_at"].astimezone(tz).date() for e in events]
    return min(days), max(days)


def converge(conn: psycopg.Connection, ready: list[date], tz: ZoneInfo, rounds: int = 10) -> int:
    """Run what the customer automation would, until nothing is due; the runs made."""
    for made in range(rounds):
        due = due_days(conn, ready, tz, ASSETS)
        planned = plan_range([d for d, _ in due], ready, max_days=8)
        if planned is None:
            return made
        first, last = planned
        for materialize in MATERIALIZE:
            materialize(conn, day_of(first, tz).start, day_of(last, tz).end, tz)
    raise AssertionError(f"the customer automation did not converge in {rounds} runs")


def actual_profiles(conn: psycopg.Connection, day: date, tz: ZoneInfo) -> dict[str, dict]:
    params = {"day": day, "tz": tz.key, "user_id": None}
    cursor = conn.execute(read_sql("customers/profiles_as_of.sql"), params)
    names = [d.name for d in cursor.description or ()]
    result = {}
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        row["currencies"] = {}
        result[row.pop("user_id")] = row
    for user, currency, *totals in conn.execute(
        read_sql("customers/profiles_currencies_as_of.sql"), params
    ).fetchall():
        names = ("inflow", "outflow", "inflow_count", "outflow_count")
        result[user]["currencies"][currency] = dict(zip(names, totals, strict=True))
    return result


def actual_spending(conn: psycopg.Connection, day: date) -> dict[tuple, dict]:
    cursor = conn.execute(
        read_sql("customers/spending_as_of.sql"),
        {"day": day, "from_month": date(2000, 1, 1), "user_id": None},
    )
    names = [d.name for d in cursor.description or ()]
    result = {}
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        key = (row.pop("user_id"), row.pop("month"), row.pop("currency"), row.pop("category"))
        row.pop("valid_from")
        row["top_merchants"] = [
            (m["merchant_id"], Decimal(str(m["spend"])), m["transactions"])
            for m in row["top_merchants"]
        ]
        result[key] = row
    return result


def actual_cohorts(conn: psycopg.Connection, day: date) -> dict[tuple, dict]:
    result = {}
    for grain in ("week", "month"):
        cursor = conn.execute(
            read_sql("customers/cohorts_as_of.sql"),
            {"grain": grain, "day": day, "from_day": date(2000, 1, 1)},
        )
        names = [d.name for d in cursor.description or ()]
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            key = (row.pop("cohort_grain"), row.pop("cohort_start"), row.pop("period"))
            key = (*key, row.pop("currency"))
            row.pop("valid_from")
            result[key] = row
    return result


def differences(actual: dict, expected: dict, limit: int = 6) -> list[str]:
    wrong = [f"missing {k}" for k in expected if k not in actual]
    wrong += [f"unexpected {k}: {actual[k]}" for k in actual if k not in expected]
    for key in expected.keys() & actual.keys():
        for column, value in expected[key].items():
            if actual[key].get(column) != value:
                wrong.append(f"{key} {column}: {actual[key].get(column)!r} != {value!r}")
    return wrong[:limit]


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=st.sampled_from(SCENARIOS), data=st.data())
def test_customer_tables_equal_an_independent_computation_on_every_day(db, scenario, data):
    zone, anchor = scenario
    tz = ZoneInfo(zone)
    reset(db)
    # A month of days costs about 5 s to run twice: a quarter of the examples span one.
    month_before = data.draw(st.integers(0, 3), label="month before") == 0
    streams = {
        table: data.draw(stream(table, anchor, month_before), label=table) for table in STRATEGIES
    }
    everything = [e for events in streams.values() for e, _ in events]
    if not everything:
        return
    first, last = first_and_last_day(everything, tz)
    ready = [first + timedelta(days=n) for n in range((last - first).days + 1)]

    loaders = RawLoaders(tz)
    for table, events in streams.items():
        loaders.insert(db, table, [e for e, late in events if not late])
    converge(db, ready, tz)
    for table, events in streams.items():
        loaders.insert(db, table, [e for e, late in events if late])
    converge(db, ready, tz)

    raw = {table: unique_events(e for e, _ in events) for table, events in streams.items()}
    # Comparing every day costs more than the runs; the first and last day and a few
    # drawn ones (the versions of any day are what the last day builds on).
    days = {first, last, *data.draw(st.lists(st.sampled_from(ready), max_size=3), label="days")}
    for day in sorted(days):
        problems = {
            "profiles": differences(actual_profiles(db, day, tz), expected_profiles(raw, day, tz)),
            "spending": differences(actual_spending(db, day), expected_spending(raw, day, tz)),
            "cohorts": differences(actual_cohorts(db, day), expected_cohorts(raw, day, first, tz)),
        }
        problems = {k: v for k, v in problems.items() if v}
        assert not problems, f"{zone}, as of {day}: {problems}"


# ------------------------------------------------------------------------ hand-made days
KOLKATA = ZoneInfo("Asia/Kolkata")
DAY = date(2024, 3, 4)
MONTH = DAY.replace(day=1)


def _payment(at: datetime, user: str, cents: int) -> dict:
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": at,
        "user_id": user,
        "transaction_id": "t",
        "amount": Decimal(cents) / 100,
        "currency": "IDR",
        "transaction_type": "PAYMENT",
        "category": "food",
        "status": "SUCCESS",
        "payment_method": "CARD",
        "retry_count": 0,
        "processing_ms": 10,
        "merchant_id": "m1",
    }


def _table_rows(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {
        table: sorted(
            conn.execute(
                sql.SQL("SELECT * FROM {}").format(sql.Identifier(*table.split(".")))
            ).fetchall(),
            key=str,
        )
        for table in TABLES[5:9]
    }


def _materialize(conn: psycopg.Connection, first: date, last: date) -> None:
    for materialize in MATERIALIZE:
        materialize(conn, day_of(first, KOLKATA).start, day_of(last, KOLKATA).end, KOLKATA)


def test_a_range_run_writes_the_same_rows_as_its_days_one_by_one_and_again(db):
    reset(db)
    loaders = RawLoaders(KOLKATA)
    events = [
        _payment(day_of(DAY + timedelta(days=n), KOLKATA).start + timedelta(hours=h), user, c)
        for n, h, user, c in [
            (0, 1, "u1", 500),
            (1, 23, "u1", 700),
            (2, 0, "u2", 100),
            (2, 5, "u1", 1),
        ]
    ]
    loaders.insert(db, "raw.transactions", events)
    _materialize(db, DAY, DAY + timedelta(days=2))
    as_range = _table_rows(db)
    for n in range(3):
        _materialize(db, DAY + timedelta(days=n), DAY + timedelta(days=n))
    one_by_one = _table_rows(db)
    _materialize(db, DAY + timedelta(days=1), DAY + timedelta(days=1))
    rerun = _table_rows(db)
    without_times = {k: v for k, v in as_range.items() if k != "marts.customer_days"}
    assert {k: v for k, v in one_by_one.items() if k != "marts.customer_days"} == without_times
    assert {k: v for k, v in rerun.items() if k != "marts.customer_days"} == without_times
    assert len(as_range["marts.customer_profiles"]) == 4  # u1 on three days, u2 on one


def test_a_spending_day_writes_only_the_categories_it_changed_and_shares_are_read_as_of_it(db):
    reset(db)
    food = _payment(day_of(DAY, KOLKATA).start + timedelta(hours=1), "u1", 300)
    transport = {
        **_payment(day_of(DAY + timedelta(days=1), KOLKATA).start + timedelta(hours=1), "u1", 100),
        "category": "transport",
    }
    RawLoaders(KOLKATA).insert(db, "raw.transactions", [food, transport])
    start, end = day_of(DAY, KOLKATA).start, day_of(DAY + timedelta(days=1), KOLKATA).end
    spending.materialize_spending(db, start, end, KOLKATA)
    written = db.execute(
        "SELECT category FROM marts.customer_spending WHERE valid_from = %s ORDER BY 1",
        (DAY + timedelta(days=1),),
    ).fetchall()
    # food's spend did not change on the second day: only its share did, read as of it.
    assert [c for (c,) in written] == ["", "transport"]
    rows = actual_spending(db, DAY + timedelta(days=1))
    shares = {key[3]: row["month_share"] for key, row in rows.items()}
    assert shares == {"": Decimal(1), "food": Decimal("0.75"), "transport": Decimal("0.25")}
    assert all(c.passed for c in spending.check_spending(db, start, end, KOLKATA))


def _spend(conn: psycopg.Connection, first: date, last: date) -> None:
    start, end = day_of(first, KOLKATA).start, day_of(last, KOLKATA).end
    spending.materialize_spending(conn, start, end, KOLKATA)


def _spending_rows(conn: psycopg.Connection) -> list[tuple]:
    return sorted(conn.execute("SELECT * FROM marts.customer_spending").fetchall(), key=str)


def _spending_month(conn: psycopg.Connection) -> list[dict]:
    """u1 pays food on DAY and DAY + 2 and transport on DAY + 1; u2 food on DAY + 2."""
    events = [
        {
            **_payment(day_of(DAY + timedelta(days=n), KOLKATA).start + timedelta(hours=3), u, c),
            "category": category,
            "amount_cents": c,  # what the reference computation reads
        }
        for n, u, c, category in [
            (0, "u1", 300, "food"),
            (1, "u1", 100, "transport"),
            (2, "u1", 200, "food"),
            (2, "u2", 50, "food"),
        ]
    ]
    RawLoaders(KOLKATA).insert(conn, "raw.transactions", events)
    return events


def test_a_lone_mid_month_spending_day_is_refused_with_what_to_do(db):
    reset(db)
    _spending_month(db)
    # DAY + 2 alone would write u1's food and all-categories rows, not transport's.
    with pytest.raises(
        spending.SpendingMonthIncompleteError,
        match=r"2024-03-05 was never materialized.*materialize spending from 2024-03-01 "
        r"first, or run the range 2024-03-01\.\.2024-03-06 in one run",
    ):
        _spend(db, DAY + timedelta(days=2), DAY + timedelta(days=2))
    assert _spending_rows(db) == []
    assert db.execute("SELECT count(*) FROM marts.customer_days").fetchone() == (0,)


def test_a_spending_range_from_the_1st_or_after_a_materialized_day_passes_its_check(db):
    reset(db)
    events = _spending_month(db)
    last = DAY + timedelta(days=3)
    _spend(db, MONTH, DAY + timedelta(days=1))
    # A range starting mid-month after a materialized day, and a day after it, go on.
    _spend(db, DAY + timedelta(days=2), DAY + timedelta(days=2))
    _spend(db, last, last)
    checks = spending.check_spending(
        db, day_of(MONTH, KOLKATA).start, day_of(last, KOLKATA).end, KOLKATA
    )
    assert all(c.passed for c in checks), [(c.name, c.figures) for c in checks]
    raw = {"raw.transactions": unique_events(events)}
    for day in (DAY + timedelta(days=2), last):
        assert not differences(actual_spending(db, day), expected_spending(raw, day, KOLKATA))


def test_a_rerun_of_a_mid_month_spending_day_gives_the_same_rows_and_later_days_follow(db):
    reset(db)
    events = _spending_month(db)
    last = DAY + timedelta(days=3)
    _spend(db, MONTH, last)
    first_time = _spending_rows(db)
    _spend(db, DAY + timedelta(days=1), DAY + timedelta(days=1))
    assert _spending_rows(db) == first_time
    # A late food payment of u1 on DAY + 1: re-running that day alone leaves DAY + 2's
    # versions of u1 (food, all categories) computed without it, so the automation
    # marks the month's later days due and re-runs them from the late day on.
    late = {
        **_payment(day_of(DAY + timedelta(days=1), KOLKATA).start + timedelta(hours=9), "u1", 7),
        "category": "food",
        "amount_cents": 7,
    }
    RawLoaders(KOLKATA).insert(db, "raw.transactions", [late])
    ready = [MONTH + timedelta(days=n) for n in range((last - MONTH).days + 1)]
    # (The re-run above already made the later days due: they were run before it.)
    assert due_days(db, ready, KOLKATA, [spending.ASSET])[0] == (DAY + timedelta(days=1), "stale")
    _spend(db, DAY + timedelta(days=1), DAY + timedelta(days=1))
    raw = {"raw.transactions": unique_events([*events, late])}
    assert differences(actual_spending(db, last), expected_spending(raw, last, KOLKATA))
    due = due_days(db, ready, KOLKATA, [spending.ASSET])
    assert due == [(DAY + timedelta(days=2), "after_earlier"), (last, "after_earlier")]
    first, through = plan_range([d for d, _ in due], ready) or (last, last)
    _spend(db, first, through)
    for day in (DAY + timedelta(days=1), DAY + timedelta(days=2), last):
        assert not differences(actual_spending(db, day), expected_spending(raw, day, KOLKATA))
    start, end = day_of(MONTH, KOLKATA).start, day_of(last, KOLKATA).end
    assert all(c.passed for c in spending.check_spending(db, start, end, KOLKATA))


def test_a_late_spending_event_reaches_the_next_months_comparison_until_rerun_onward(db):
    reset(db)
    events = _spending_month(db)
    april = {
        **_payment(day_of(date(2024, 4, 6), KOLKATA).start + timedelta(hours=3), "u1", 40),
        "category": "food",
        "amount_cents": 40,
    }
    RawLoaders(KOLKATA).insert(db, "raw.transactions", [april])
    last = date(2024, 4, 8)
    _spend(db, MONTH, last)
    late = {
        **_payment(day_of(DAY + timedelta(days=1), KOLKATA).start + timedelta(hours=9), "u1", 7),
        "category": "food",
        "amount_cents": 7,
    }
    RawLoaders(KOLKATA).insert(db, "raw.transactions", [late])
    _spend(db, DAY + timedelta(days=1), DAY + timedelta(days=1))
    raw = {"raw.transactions": unique_events([*events, april, late])}
    # April's food row compares with 1-8 March, which now holds the late payment. Every
    # difference, not the first few: their order follows Python's string hashing.
    stale = differences(
        actual_spending(db, last), expected_spending(raw, last, KOLKATA), limit=10_000
    )
    assert any("2024, 4, 1), 'IDR', 'food') previous_spend" in p for p in stale), stale
    ready = [MONTH + timedelta(days=n) for n in range((last - MONTH).days + 1)]
    due = [d for d, _ in due_days(db, ready, KOLKATA, [spending.ASSET])]
    assert plan_range(due, ready, max_days=62) == (DAY + timedelta(days=2), last)
    _spend(db, DAY + timedelta(days=2), last)
    assert not differences(actual_spending(db, last), expected_spending(raw, last, KOLKATA))


def test_a_profile_day_whose_previous_day_never_ran_is_refused(db):
    reset(db)
    loaders = RawLoaders(KOLKATA)
    loaders.insert(
        db,
        "raw.transactions",
        [
            _payment(day_of(DAY, KOLKATA).start + timedelta(hours=2), "u1", 100),
            _payment(day_of(DAY + timedelta(days=2), KOLKATA).start, "u1", 100),
        ],
    )
    with pytest.raises(PreviousDayMissingError, match="backfill from the first missing day"):
        third = day_of(DAY + timedelta(days=2), KOLKATA)
        profiles.materialize_user_profiles(db, third.start, third.end, KOLKATA)


def test_a_late_event_makes_its_day_and_every_later_day_due(db):
    reset(db)
    loaders = RawLoaders(KOLKATA)
    ready = [DAY + timedelta(days=n) for n in range(4)]
    loaders.insert(db, "raw.transactions", [_payment(day_of(DAY, KOLKATA).start, "u1", 100)])
    assert [reason for _, reason in due_days(db, ready, KOLKATA, ASSETS)] == ["missing"] * 4
    _materialize(db, ready[0], ready[-1])
    assert due_days(db, ready, KOLKATA, ASSETS) == []
    late = _payment(day_of(ready[1], KOLKATA).end - timedelta(microseconds=1), "u2", 100)
    loaders.insert(db, "raw.transactions", [late])
    assert due_days(db, ready, KOLKATA, ASSETS) == [(ready[1], "stale")]
    assert plan_range([ready[1]], ready) == (ready[1], ready[-1])
    _materialize(db, ready[1], ready[1])
    # The days after it built on the day's old state: due until re-run.
    assert due_days(db, ready, KOLKATA, ASSETS) == [(d, "after_earlier") for d in ready[2:]]


# Ingestion records hours in its zone: in Kolkata's, an event at 00:10 is in the hour
# starting at the local midnight; at whole UTC hours (hours cut in another zone), in the one
# starting at 23:40 the day before, which both days count: the earlier is rebuilt as well.
@pytest.mark.parametrize("hours_in", [KOLKATA, UTC], ids=["kolkata-hours", "utc-hours"])
def test_a_late_event_ten_minutes_into_a_kolkata_day_makes_the_day_due_and_reaches_it(db, hours_in):
    reset(db)
    loaders = RawLoaders(hours_in)
    ready = [DAY + timedelta(days=n) for n in range(3)]
    first = _payment(day_of(DAY, KOLKATA).start + timedelta(hours=3), "u1", 100)
    loaders.insert(db, "raw.transactions", [first])
    _materialize(db, ready[0], ready[-1])
    assert due_days(db, ready, KOLKATA, ASSETS) == []  # just built: not due
    late = _payment(day_of(ready[1], KOLKATA).start + timedelta(minutes=10), "u2", 100)
    loaders.insert(db, "raw.transactions", [late])
    stale = ready[1:2] if hours_in is KOLKATA else ready[:2]
    assert due_days(db, ready, KOLKATA, ASSETS) == [(d, "stale") for d in stale]
    _materialize(db, stale[0], ready[-1])
    assert due_days(db, ready, KOLKATA, ASSETS) == []
    assert actual_profiles(db, ready[1], KOLKATA)["u2"]["first_success_at"] == late["occurred_at"]


def test_a_bulk_first_load_equals_the_day_by_day_profiles_and_the_next_day_follows_it(db):
    reset(db)
    loaders = RawLoaders(KOLKATA)

    def at(n: int, hours: int) -> datetime:
        return day_of(DAY + timedelta(days=n), KOLKATA).start + timedelta(hours=hours)

    loaders.insert(
        db,
        "raw.transactions",
        [
            _payment(at(0, 1), "u1", 500),
            {**_payment(at(1, 23), "u1", 700), "currency": "SGD"},
            {**_payment(at(1, 2), "u2", 100), "transaction_type": "TOPUP"},
            _payment(at(2, 5), "u1", 1),
            _payment(at(3, 4), "u2", 300),
        ],
    )
    loaders.insert(
        db,
        "raw.user_events",
        [
            {
                "event_id": uuid.uuid4(),
                "occurred_at": at(0, 0),
                "user_id": "u1",
                "event_type": "user.registered",
                "kyc_level": 0,
                "country": "ID",
            },
            {
                "event_id": uuid.uuid4(),
                "occurred_at": at(1, 3),
                "user_id": "u1",
                "event_type": "user.kyc_verified",
                "kyc_level": 2,
                "country": None,
            },
        ],
    )
    loaders.insert(
        db,
        "raw.user_activity",
        [
            {
                "event_id": uuid.uuid4(),
                "occurred_at": at(2, 9),
                "user_id": "u3",
                "activity_type": "login",
            },
        ],
    )
    seeded_day, next_day = DAY + timedelta(days=2), DAY + timedelta(days=3)
    whole = day_of(DAY, KOLKATA).start, day_of(next_day, KOLKATA).end
    profiles.materialize_user_profiles(db, *whole, KOLKATA)
    day_by_day = [actual_profiles(db, d, KOLKATA) for d in (seeded_day, next_day)]
    with db.transaction():
        for table in TABLES[4:7]:  # the profile tables and their day records
            db.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(*table.split("."))))
    stats = profiles.seed_user_profiles(db, seeded_day, KOLKATA)
    following = day_of(next_day, KOLKATA)
    profiles.materialize_user_profiles(db, following.start, following.end, KOLKATA)
    assert stats.rows == 3 + 3  # u1, u2, u3; u1 in IDR and SGD, u2 in IDR
    assert actual_profiles(db, seeded_day, KOLKATA) == day_by_day[0]
    assert actual_profiles(db, next_day, KOLKATA) == day_by_day[1]
    with pytest.raises(profiles.ProfilesExistError, match="empty profile tables"):
        profiles.seed_user_profiles(db, seeded_day, KOLKATA)


def _registration(at: datetime, user: str) -> dict:
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": at,
        "user_id": user,
        "event_type": "user.registered",
        "kyc_level": None,
        "country": None,
    }


def _cohort_cells(conn: psycopg.Connection, day: date) -> list[tuple]:
    return conn.execute(
        "SELECT * FROM marts.customer_cohorts WHERE valid_from = %s ORDER BY 1, 2, 3, 4", (day,)
    ).fetchall()


def _cohort_day(conn: psycopg.Connection, day: date, full: bool = False) -> list[tuple]:
    """Run one cohort day (the full computation when `full`: as if nothing were carried)."""
    if full:
        conn.execute(
            "DELETE FROM customers.cohort_state_days WHERE day = %s", (day - timedelta(1),)
        )
    window = day_of(day, KOLKATA)
    cohorts.materialize_cohorts(conn, window.start, window.end, KOLKATA)
    return _cohort_cells(conn, day)


def test_cohort_days_carried_from_the_day_before_equal_the_full_computation_and_reruns(db):
    # Across a month's end (1 March) and a week's start (Monday 4 March): a user paying
    # before registering (u4), one registering twice (u3), two currencies, idle days.
    reset(db)
    loaders = RawLoaders(KOLKATA)
    first = DAY - timedelta(days=6)  # Tuesday 27 February 2024
    days = [first + timedelta(days=n) for n in range(9)]

    def at(n: int, hours: int) -> datetime:
        return day_of(days[n], KOLKATA).start + timedelta(hours=hours)

    loaders.insert(
        db,
        "raw.user_events",
        [
            _registration(at(0, 1), "u1"),
            _registration(at(1, 2), "u3"),
            _registration(at(4, 3), "u2"),
            _registration(at(5, 4), "u4"),
            _registration(at(7, 5), "u3"),
        ],
    )
    loaders.insert(
        db,
        "raw.transactions",
        [
            _payment(at(0, 2), "u1", 500),
            {**_payment(at(2, 23), "u1", 700), "currency": "SGD"},
            _payment(at(3, 1), "u4", 250),
            _payment(at(4, 6), "u1", 100),
            _payment(at(6, 7), "u2", 900),
            {**_payment(at(6, 8), "u2", 50), "status": "FAILED"},
            _payment(at(8, 9), "u3", 120),
        ],
    )
    carried = {day: _cohort_day(db, day) for day in days}
    methods = dict(db.execute("SELECT day, method FROM customers.cohort_state_days").fetchall())
    assert [methods[d] for d in days] == ["full"] + ["incremental"] * 8
    assert {day: _cohort_day(db, day, full=True) for day in days} == carried
    # Re-runs of an old day after later days ran (carried, then in a range) see none of
    # the later days' state.
    for day in days:
        _cohort_day(db, day)
    assert {day: _cohort_cells(db, day) for day in days} == carried
    # A late payment of 29 February: the automation re-runs it and every later day.
    loaders.insert(db, "raw.transactions", [_payment(at(2, 4), "u3", 40)])
    window = day_of(days[2], KOLKATA).start, day_of(days[-1], KOLKATA).end
    cohorts.materialize_cohorts(db, *window, KOLKATA)
    after_late = {day: _cohort_cells(db, day) for day in days}
    assert after_late != carried
    assert {day: _cohort_day(db, day, full=True) for day in days} == after_late
