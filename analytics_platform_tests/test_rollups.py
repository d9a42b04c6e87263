"""Rollups against a real PostgreSQL: tables, time zones, idempotency, late events, checks.

The property tests (test_rollups_properties.py) check every metric; these pin down the
behaviours one at a time, with events chosen by hand.
"""

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from analytics_platform.events import TOPICS
from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.bookkeeping import due_buckets
from analytics_platform.rollups.checks import (
    RECONCILES_WITH_FINER,
    RECONCILES_WITH_RAW,
    run_checks,
)
from analytics_platform.rollups.families import (
    FAMILIES,
    MARTS,
    USER_LIFECYCLE,
    Grain,
    Mart,
    mart,
)
from analytics_platform.rollups.runner import WindowNotAlignedError, materialize_window
from analytics_platform.settings import load_settings

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
    transaction,
)

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def database_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with migrated_database(postgres_cluster) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    # A platform session (no JIT, UTC), like the assets' own.
    with connect(database_url, autocommit=True) as conn:
        reset(conn)
        yield conn


def snapshot(conn: psycopg.Connection) -> dict[str, dict]:
    return {m.name: mart_rows(conn, m) for m in MARTS}


# ------------------------------------------------------------------------ schema
_PG_TYPES = {"timestamp with time zone": "timestamptz"}


@pytest.mark.parametrize("mart", MARTS, ids=lambda m: m.name)
def test_mart_tables_have_the_documented_columns_and_key(db, mart):
    columns = db.execute(
        "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_schema = 'marts' AND table_name = %s ORDER BY ordinal_position",
        (mart.name,),
    ).fetchall()
    expected = [(c.name, c.type, c.nullable) for c in mart.family.columns]
    assert [(n, _PG_TYPES.get(t, t), nullable) for n, t, nullable in columns] == expected
    key = db.execute(
        "SELECT a.attname FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (mart.table,),
    ).fetchall()
    assert {k for (k,) in key} == set(mart.family.key)


# ------------------------------------------------------------------------ time
_PARTITION_WINDOWS = """
import json, sys
from datetime import datetime
from dagster import PartitionKeyRange
from analytics_platform import partitions as p
start, end = (datetime.fromisoformat(a).timestamp() for a in sys.argv[1:3])
out = {}
for grain, d in [("hour", p.hourly_partitions), ("day", p.daily_partitions),
                 ("week", p.weekly_partitions), ("month", p.monthly_partitions)]:
    first = d.get_partition_key_for_timestamp(start)
    last = d.get_partition_key_for_timestamp(end - 0.001)
    keys = d.get_partition_keys_in_range(PartitionKeyRange(first, last))
    out[grain] = [[w.start.isoformat(), w.end.isoformat()]
                  for w in map(d.time_window_for_partition_key, keys)]
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    ("zone", "start", "end"),
    [
        ("America/New_York", "2024-03-09T05:00:00+00:00", "2024-03-12T04:00:00+00:00"),
        ("America/New_York", "2024-11-01T04:00:00+00:00", "2024-11-05T05:00:00+00:00"),
        ("Asia/Kolkata", "2024-04-28T18:30:00+00:00", "2024-05-07T18:30:00+00:00"),
        ("UTC", "2024-03-30T00:00:00+00:00", "2024-04-09T00:00:00+00:00"),
    ],
)
def test_sql_buckets_are_exactly_the_dagster_partition_windows(db, zone, start, end):
    """The partitions module (run with the zone as REPORTING_TIMEZONE) and
    marts.bucket_series cut the same hours, days, weeks and months, DST days included."""
    result = subprocess.run(
        [sys.executable, "-c", _PARTITION_WINDOWS, start, end],
        env={**os.environ, "REPORTING_TIMEZONE": zone},
        capture_output=True,
        text=True,
        check=True,
    )
    dagster = json.loads(result.stdout)
    for grain, windows in dagster.items():
        assert windows, grain
        first = datetime.fromisoformat(windows[0][0])
        last = datetime.fromisoformat(windows[-1][1])
        sql = db.execute(
            "SELECT bucket_start, bucket_end FROM marts.bucket_series(%s, %s, %s, %s)",
            (grain, zone, first, last),
        ).fetchall()
        expected = [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in windows]
        assert sql == expected, (zone, grain)


@pytest.mark.parametrize(("day", "hours"), [("2024-03-10", 23), ("2024-11-03", 25)])
def test_a_dst_day_has_its_23_or_25_hourly_buckets_and_they_add_up(db, day, hours):
    local_midnight = datetime.fromisoformat(day).replace(tzinfo=NEW_YORK)
    start = local_midnight.astimezone(UTC)
    end = (local_midnight + timedelta(days=1)).astimezone(UTC)
    assert end - start == timedelta(hours=hours)
    # One transaction every 30 minutes of absolute time: two per hour, also in the
    # repeated 01:00 of November.
    events = [transaction(start + timedelta(minutes=30 * i)) for i in range(2 * hours)]
    RawLoaders(NEW_YORK).insert(db, "raw.transactions", events)
    tz = "America/New_York"
    hourly = materialize_window(db, mart("transactions_hourly"), start, end, tz)
    daily = materialize_window(db, mart("transactions_daily"), start, end, tz)
    assert len(hourly.buckets) == hours and len(daily.buckets) == 1
    rows = mart_rows(db, mart("transactions_hourly"))
    totals = [v["transaction_count"] for k, v in rows.items() if k[1:] == ("platform", "", "")]
    assert totals == [2] * hours
    (day_total,) = [
        v["transaction_count"]
        for k, v in mart_rows(db, mart("transactions_daily")).items()
        if k[1:] == ("platform", "", "")
    ]
    assert day_total == 2 * hours
    for m in (mart("transactions_hourly"), mart("transactions_daily")):
        assert all(o.passed for o in run_checks(db, m, start, end, tz)), m.name


def test_a_window_that_is_not_whole_buckets_is_refused(db):
    start = datetime(2024, 3, 30, 10, 30, tzinfo=UTC)
    with pytest.raises(WindowNotAlignedError, match="whole hours"):
        materialize_window(
            db, mart("transactions_hourly"), start, start + timedelta(hours=1), "UTC"
        )
    with pytest.raises(WindowNotAlignedError, match="whole days"):
        day = datetime(2024, 3, 30, tzinfo=UTC)
        # A UTC day is not a day in New York.
        materialize_window(
            db, mart("transactions_daily"), day, day + timedelta(days=1), "America/New_York"
        )


# ------------------------------------------------------------------------ idempotency
def _load_two_weeks(conn: psycopg.Connection) -> datetime:
    """Transactions every 7 hours for two weeks around the end of March 2024 (UTC)."""
    start = datetime(2024, 3, 24, 3, tzinfo=UTC)
    events = [
        transaction(
            start + timedelta(hours=7 * i, minutes=i % 60),
            user_id=f"u{i % 4}",
            status=("SUCCESS", "FAILED", "EXPIRED")[i % 3],
            failure_reason="TIMEOUT" if i % 3 == 1 else None,
            processing_ms=50 * i,
            transaction_type=("PAYMENT", "TOPUP")[i % 2],
        )
        for i in range(48)
    ]
    RawLoaders(ZoneInfo("UTC")).insert(conn, "raw.transactions", events)
    return max(e["occurred_at"] for e in events)


def test_rerunning_any_window_changes_nothing(db):
    latest = _load_two_weeks(db)
    run_until_nothing_due(db, "UTC", closed_through(latest, ZoneInfo("UTC")))
    before = snapshot(db)
    assert before["transactions_hourly"] and before["cashflow_monthly"]
    # A range run over everything each mart has, then single partitions inside it.
    for m in MARTS:
        start, end = db.execute(
            "SELECT min(bucket_start), max(bucket_end) FROM marts.rollup_buckets WHERE mart = %s",
            (m.name,),
        ).fetchone()
        if start is None:
            continue  # a family without events: nothing was ever due
        result = materialize_window(db, m, start, end, "UTC")
        assert result.rows_deleted == result.rows_inserted
    day = datetime(2024, 3, 31, tzinfo=UTC)
    for m in MARTS:
        if m.grain in (Grain.HOURLY, Grain.DAILY):
            materialize_window(db, m, day, day + timedelta(days=1), "UTC")
    assert snapshot(db) == before


def test_a_failed_run_leaves_the_previous_rows_in_place(db, database_url):
    day = datetime(2024, 3, 30, tzinfo=UTC)
    loaders = RawLoaders(ZoneInfo("UTC"))
    loaders.insert(db, "raw.transactions", [transaction(day + timedelta(hours=1))])
    target = mart("transactions_daily")
    materialize_window(db, target, day, day + timedelta(days=1), "UTC")
    before = mart_rows(db, target)
    recorded = db.execute("SELECT * FROM marts.rollup_buckets").fetchall()
    loaders.insert(db, "raw.transactions", [transaction(day + timedelta(hours=2))])

    # Another session holds the bookkeeping table, so the run's last statement (recording
    # its buckets) cannot get its lock and fails after the mart's DELETE and INSERT ran.
    with psycopg.connect(database_url) as other:
        other.execute("LOCK TABLE marts.rollup_buckets IN EXCLUSIVE MODE")
        db.execute("SET lock_timeout = '300ms'")
        try:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                materialize_window(db, target, day, day + timedelta(days=1), "UTC")
        finally:
            db.execute("RESET lock_timeout")
        other.rollback()
    # The delete and insert had run inside the transaction: none of it is visible.
    assert mart_rows(db, target) == before
    assert db.execute("SELECT * FROM marts.rollup_buckets").fetchall() == recorded
    # Once the lock is gone the same run goes through and sees both transactions.
    materialize_window(db, target, day, day + timedelta(days=1), "UTC")
    assert mart_rows(db, target)[(day, "platform", "", "")]["transaction_count"] == 2


@pytest.mark.storage("native")
def test_a_run_first_summarizes_the_raw_time_index_of_its_window(db):
    """New raw rows are only summarized into the BRIN index by VACUUM, and an unsummarized
    block range matches every bucket; a run summarizes its window's ranges first."""
    day = datetime(2024, 5, 10, tzinfo=UTC)
    other_day = day + timedelta(days=3)
    # A BRIN range is 128 pages; the last, partial one is always read and never summarized.
    per_day = 8_000
    events = [
        transaction(d + timedelta(seconds=10 * i)) for d in (day, other_day) for i in range(per_day)
    ]
    RawLoaders(ZoneInfo("UTC")).insert(db, "raw.transactions", events)

    def summarize(start: datetime) -> int:
        row = db.execute(
            "SELECT marts.summarize_raw_brin('raw.transactions', %s, %s)",
            (start, start + timedelta(days=1)),
        ).fetchone()
        assert row is not None
        return int(row[0])

    materialize_window(db, mart("transactions_hourly"), day, day + timedelta(days=1), "UTC")
    assert summarize(day) == 0  # the run did it
    assert summarize(other_day) >= 1  # a day no run has read yet
    assert summarize(other_day) == 0


@pytest.mark.storage("timescaledb")
def test_raw_hypertables_are_read_by_a_time_index_and_need_no_brin_summary(db):
    """Migration 009 gives only native partitions a BRIN index: hypertables have a B-tree
    on occurred_at from create_hypertable, which a rollup window reads directly."""
    day = datetime(2024, 5, 10, tzinfo=UTC)
    RawLoaders(ZoneInfo("UTC")).insert(db, "raw.transactions", [transaction(day)])
    leading = db.execute(
        "SELECT DISTINCT c.relname FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
        "WHERE c.relnamespace = 'raw'::regnamespace AND a.attname = 'occurred_at'"
    ).fetchall()
    assert {r[0] for r in leading} == {spec.table.removeprefix("raw.") for spec in TOPICS.values()}
    (summarized,) = db.execute(
        "SELECT marts.summarize_raw_brin('raw.transactions', %s, %s)",
        (day, day + timedelta(days=1)),
    ).fetchone()
    assert summarized == 0


# ------------------------------------------------------------------------ exactness
def _varied_transactions(start: datetime, count: int) -> list[dict]:
    """Transactions of one hour with many users, latencies, merchants and currencies (with
    their amounts in cents too, for the reference computation)."""
    events = []
    for i in range(count):
        cents = 100 + 37 * i
        events.append(
            transaction(
                start + timedelta(seconds=59 * i % 3600),
                user_id=f"u{i % 11}",
                amount=Decimal(cents) / 100,
                amount_cents=cents,
                currency=("IDR", "USD")[i % 2],
                status=("SUCCESS", "SUCCESS", "FAILED", "PENDING")[i % 4],
                failure_reason="TIMEOUT" if i % 4 == 2 else None,
                processing_ms=(i * 7919) % 1013,
                merchant_id=(None, "m1", "m2")[i % 3],
                category=("food", "travel")[i % 5 % 2],
            )
        )
    return events


def _transaction_marts_match_the_reference(conn: psycopg.Connection, events: list[dict]) -> None:
    hour = min(e["occurred_at"] for e in events).replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    windows = {
        Grain.HOURLY: (hour, hour + timedelta(hours=1)),
        Grain.DAILY: (day, day + timedelta(days=1)),
    }
    for grain, (start, end) in windows.items():
        target = Mart(mart("transactions_daily").family, grain)
        materialize_window(conn, target, start, end, "UTC")
        expected = expected_mart(target, {"raw.transactions": events}, ZoneInfo("UTC"))
        assert not differences(mart_rows(conn, target), expected), target.name


def test_unique_payers_stay_exact_when_payer_hashes_collide(db, tmp_path, monkeypatch):
    """The template counts 64-bit hashes of user ids; a bucket whose payers' hashes collide
    must count the user ids themselves. Keeping one bit of the hash makes every bucket with
    three or more payers collide, so the fallback runs against the reference."""
    sql_copy = tmp_path / "sql"
    shutil.copytree(load_settings().sql_dir, sql_copy)
    template = sql_copy / "rollups" / "transactions.sql"
    text = template.read_text(encoding="utf-8")
    assert text.count("hashtextextended(user_id, 0)") == 2
    template.write_text(
        text.replace("hashtextextended(user_id, 0)", "(hashtextextended(user_id, 0) & 1)"),
        encoding="utf-8",
    )
    monkeypatch.setenv("SQL_DIR", str(sql_copy))
    events = _varied_transactions(datetime(2024, 3, 30, 10, tzinfo=UTC), 120)
    RawLoaders(ZoneInfo("UTC")).insert(db, "raw.transactions", events)
    _transaction_marts_match_the_reference(db, events)


def test_latency_percentiles_are_exact_even_where_the_planner_would_rather_sort(db):
    """Percentiles are read from arrays built in latency order, which only a hashed grouping
    keeps; the template leaves the planner no sort-based plan even with hashing disabled."""
    events = _varied_transactions(datetime(2024, 3, 30, 10, tzinfo=UTC), 120)
    RawLoaders(ZoneInfo("UTC")).insert(db, "raw.transactions", events)
    db.execute("SET enable_hashagg = off")
    try:
        _transaction_marts_match_the_reference(db, events)
    finally:
        db.execute("RESET enable_hashagg")


# ------------------------------------------------------------------------ late events
def test_a_late_event_changes_exactly_its_hour_day_week_and_month(db):
    utc = ZoneInfo("UTC")
    latest = _load_two_weeks(db)
    closed = closed_through(latest, utc)
    run_until_nothing_due(db, "UTC", closed)
    before = snapshot(db)

    late = transaction(
        datetime(2024, 3, 30, 10, 15, tzinfo=UTC), amount=Decimal("99.99"), user_id="u9"
    )
    RawLoaders(utc).insert(db, "raw.transactions", [late])
    rounds = run_until_nothing_due(db, "UTC", closed)

    hour = datetime(2024, 3, 30, 10, tzinfo=UTC)
    day = datetime(2024, 3, 30, tzinfo=UTC)
    week = datetime(2024, 3, 25, tzinfo=UTC)  # Monday
    month = datetime(2024, 3, 1, tzinfo=UTC)
    # Every mart of raw.transactions re-runs (merchant_breakdown has no hours); a merchant's
    # SUCCESS changes transactions, cashflow and merchant_breakdown.
    touched = {"transactions", "failures", "cashflow", "merchant_breakdown"}
    # Tick by tick: the hour, then the day once its hours are in, then week and month; a
    # family without hours starts at the day, one tick earlier.
    windows = {
        "hourly": (hour, hour + timedelta(hours=1)),
        "daily": (day, day + timedelta(days=1)),
        "weekly": (week, week + timedelta(days=7)),
        "monthly": (month, datetime(2024, 4, 1, tzinfo=UTC)),
    }
    ticks = {"hourly": 0, "daily": 1, "weekly": 2, "monthly": 2}
    expected: list[list[tuple]] = [[], [], []]
    for m in MARTS:
        if m.family.name in touched:
            tick = ticks[m.grain.value] - (Grain.HOURLY not in m.family.grains)
            expected[tick].append((m.grain.value, m.family.name, *windows[m.grain.value]))
    assert [
        sorted((r.grain.value, m.family.name, r.start, r.end) for r in runs for m in r.marts)
        for runs in rounds
    ] == [sorted(tick) for tick in expected]
    after = snapshot(db)
    starts = {Grain.HOURLY: hour, Grain.DAILY: day, Grain.WEEKLY: week, Grain.MONTHLY: month}
    for m in MARTS:
        changed = {
            key[0]
            for key in before[m.name].keys() | after[m.name].keys()
            if before[m.name].get(key) != after[m.name].get(key)
        }
        if m.family.name in ("transactions", "cashflow", "merchant_breakdown"):
            assert changed == {starts[m.grain]}, m.name
        else:
            assert not changed, m.name


KOLKATA = ZoneInfo("Asia/Kolkata")


# Ingestion records hours in its zone: in Kolkata's (+05:30), an event at 00:10 is in the
# hour starting at the local midnight; at whole UTC hours (hours cut in another zone), in
# the one starting at 23:40 the day before, which the buckets on both sides count.
@pytest.mark.parametrize("hours_in", [KOLKATA, UTC], ids=["kolkata-hours", "utc-hours"])
def test_a_late_event_ten_minutes_into_a_kolkata_day_makes_its_buckets_stale(db, hours_in):
    loaders = RawLoaders(hours_in)
    day = datetime(2024, 3, 5, tzinfo=KOLKATA)
    events = [transaction(day + timedelta(hours=h), amount_cents=1000) for h in (-20, 5)]
    loaders.insert(db, "raw.transactions", events)
    closed = closed_through(events[-1]["occurred_at"], KOLKATA)
    run_until_nothing_due(db, KOLKATA.key, closed)
    daily = mart("transactions_daily")
    assert due_buckets(db, daily, KOLKATA.key, closed[Grain.DAILY]) == []  # just built
    late = transaction(
        day + timedelta(minutes=10), amount=Decimal("99.99"), amount_cents=9999, user_id="u9"
    )
    loaders.insert(db, "raw.transactions", [late])
    due = [(b.start, b.reason) for b in due_buckets(db, daily, KOLKATA.key, closed[Grain.DAILY])]
    assert (day, "stale") in due
    run_until_nothing_due(db, KOLKATA.key, closed)
    for m in MARTS:
        if m.family.name in _TRANSACTION_FAMILIES:
            expected = expected_mart(m, {"raw.transactions": [*events, late]}, KOLKATA)
            assert not differences(mart_rows(db, m), expected), m.name


def test_a_late_kyc_submission_updates_the_time_to_verify_of_later_buckets(db):
    utc = ZoneInfo("UTC")
    verified_at = datetime(2024, 4, 3, 9, 30, tzinfo=UTC)
    submitted_at = verified_at - timedelta(days=2, hours=3)
    loaders = RawLoaders(utc)

    def lifecycle(at: datetime, kind: str, user: str = "u1") -> dict:
        return {"event_id": uuid.uuid4(), "occurred_at": at, "user_id": user, "event_type": kind}

    loaders.insert(db, "raw.user_events", [lifecycle(verified_at, "user.kyc_verified")])
    closed = closed_through(verified_at, utc)
    run_until_nothing_due(db, "UTC", closed)

    def medians() -> dict[str, float | None]:
        """Per grain, the median of the bucket holding the verification."""
        return {
            m.grain.value: row["median_seconds_to_verify"]
            for m in MARTS
            if m.family is USER_LIFECYCLE
            for key, row in mart_rows(db, m).items()
            if row["kyc_verified"] and key[1] == ""
        }

    assert set(medians().values()) == {None}
    loaders.insert(db, "raw.user_events", [lifecycle(submitted_at, "user.kyc_submitted")])
    run_until_nothing_due(db, "UTC", closed)
    assert set(medians().values()) == {(verified_at - submitted_at).total_seconds()}


def test_time_to_verify_looks_back_seven_days_at_most(db):
    utc = ZoneInfo("UTC")
    verified_at = datetime(2024, 4, 10, 12, tzinfo=UTC)
    events = [
        {"user_id": "old", "occurred_at": verified_at - timedelta(days=8)},
        {"user_id": "recent", "occurred_at": verified_at - timedelta(days=6)},
    ]
    rows = [{**e, "event_id": uuid.uuid4(), "event_type": "user.kyc_submitted"} for e in events] + [
        {**e, "event_id": uuid.uuid4(), "occurred_at": verified_at, "event_type": kind}
        for e, kind in zip(events, ["user.kyc_verified", "user.kyc_verified"], strict=True)
    ]
    RawLoaders(utc).insert(db, "raw.user_events", rows)
    hour = verified_at.replace(minute=0)
    materialize_window(db, mart("user_lifecycle_hourly"), hour, hour + timedelta(hours=1), "UTC")
    (row,) = mart_rows(db, mart("user_lifecycle_hourly")).values()
    # Only the recent user's submission counts: the median of one value is that value.
    assert row["kyc_verified"] == 2
    assert row["median_seconds_to_verify"] == timedelta(days=6).total_seconds()


# ------------------------------------------------------------------------ concurrent ingest
_TRANSACTION_FAMILIES = ("transactions", "failures", "cashflow")


def _transaction_rows(loaders: RawLoaders, events: list[dict]) -> list[tuple]:
    """Full raw.transactions rows the way RawLoaders.insert builds them (offsets made up)."""
    columns = loaders.loader("raw.transactions").spec.event_columns
    return [
        (*({"schema_version": 1, **e}.get(c) for c in columns), 0, 1_000 + offset)
        for offset, e in enumerate(events)
    ]


def test_a_batch_that_started_before_a_run_and_commits_after_it_makes_its_buckets_stale(
    db, database_url
):
    """Ingest transaction A starts, B starts later and commits, a run rolls up B's rows
    while A still writes the same hour, then A commits. A's touched hour carries A's start
    time, older than the B time the run read, so timestamps cannot see A's rows; the row
    sums do, and the automation re-runs the buckets until the marts equal the reference."""
    utc = ZoneInfo("UTC")
    hour = datetime(2024, 3, 30, 10, tzinfo=UTC)
    event_a = transaction(
        hour + timedelta(minutes=20), amount=Decimal("12.34"), amount_cents=1234, user_id="ua"
    )
    event_b = transaction(
        hour + timedelta(minutes=40), amount=Decimal("5.00"), amount_cents=500, user_id="ub"
    )
    closed = closed_through(hour, utc)
    loader_a = RawLoaders(utc)
    rows_a = _transaction_rows(loader_a, [event_a])
    with psycopg.connect(database_url, autocommit=True) as conn_a:
        loader_a.loader("raw.transactions").ensure_partitions(conn_a, rows_a)
        with conn_a.transaction():
            (a_started,) = conn_a.execute("SELECT now()").fetchone()
            RawLoaders(utc).insert(db, "raw.transactions", [event_b])
            (b_written,) = db.execute(
                "SELECT last_ingested_at FROM ingest.touched_hours WHERE hour_start = %s",
                (hour,),
            ).fetchone()
            assert b_written > a_started
            # A writes its rows and the same touched hour now that B has committed (a
            # transaction that got to its raw rows first would have held B's hour up).
            loader_a.loader("raw.transactions").insert_rows(conn_a, rows_a)
            run_until_nothing_due(db, "UTC", closed)
            for name in ("transactions_hourly", "transactions_monthly"):
                platform = mart_rows(db, mart(name))
                assert [r["transaction_count"] for k, r in platform.items() if k[3] == ""] == [1]
        # A committed.
    touched = db.execute(
        "SELECT rows_ingested, last_ingested_at FROM ingest.touched_hours WHERE hour_start = %s",
        (hour,),
    ).fetchone()
    # The shown ingestion time does not go back to A's start.
    assert touched == (2, b_written)
    stale = {
        m.name: [(b.start, b.reason) for b in due_buckets(db, m, "UTC", closed[m.grain])]
        for m in MARTS
        if m.family.name in _TRANSACTION_FAMILIES and m.grain is Grain.HOURLY
    }
    assert stale == {name: [(hour, "stale")] for name in stale}
    run_until_nothing_due(db, "UTC", closed)
    for m in MARTS:
        if m.family.name in _TRANSACTION_FAMILIES:
            expected = expected_mart(m, {"raw.transactions": [event_a, event_b]}, utc)
            assert not differences(mart_rows(db, m), expected), m.name


def test_buckets_recorded_before_row_sums_keep_the_timestamp_rule(db):
    """Rows recorded before migration 012 have no source_rows: they are stale when
    ingestion wrote after their watermark, and not otherwise (an upgrade re-runs nothing)."""
    utc = ZoneInfo("UTC")
    hour = datetime(2024, 3, 30, 10, tzinfo=UTC)
    target = mart("transactions_hourly")
    loaders = RawLoaders(utc)
    loaders.insert(db, "raw.transactions", [transaction(hour)])
    materialize_window(db, target, hour, hour + timedelta(hours=1), "UTC")
    recorded = db.execute(
        "SELECT source_rows FROM marts.rollup_buckets WHERE mart = %s", (target.name,)
    ).fetchone()
    assert recorded == (1,)
    closed = hour + timedelta(hours=1)
    db.execute("UPDATE marts.rollup_buckets SET source_rows = NULL")
    assert due_buckets(db, target, "UTC", closed) == []
    # Ingestion wrote the hour after the (legacy) run read it: stale by the old rule.
    db.execute(
        "UPDATE marts.rollup_buckets SET source_watermark = source_watermark - interval '1 s'"
    )
    assert [(b.start, b.reason) for b in due_buckets(db, target, "UTC", closed)] == [
        (hour, "stale")
    ]
    # The re-run records a sum, and from then on the sum decides.
    materialize_window(db, target, hour, hour + timedelta(hours=1), "UTC")
    assert due_buckets(db, target, "UTC", closed) == []
    loaders.insert(db, "raw.transactions", [transaction(hour + timedelta(minutes=5))])
    assert [b.reason for b in due_buckets(db, target, "UTC", closed)] == ["stale"]


def test_a_late_event_in_the_lookback_makes_only_the_buckets_with_events_stale(db):
    """A user_lifecycle day depends on its hours and the 7 days before. A late submission
    changes the row sums of the following days, but a day without events of its own has
    nothing to recompute: only the day with the verification is stale."""
    utc = ZoneInfo("UTC")
    day = datetime(2024, 4, 10, tzinfo=UTC)
    target = mart("user_lifecycle_daily")
    loaders = RawLoaders(utc)

    def lifecycle(at: datetime, kind: str) -> dict:
        return {"event_id": uuid.uuid4(), "occurred_at": at, "user_id": "u1", "event_type": kind}

    loaders.insert(
        db, "raw.user_events", [lifecycle(day + timedelta(hours=9), "user.kyc_verified")]
    )
    start, end = day - timedelta(days=2), day + timedelta(days=1)
    result = materialize_window(db, target, start, end, "UTC")
    assert [b.source_rows for b in result.buckets] == [0, 0, 1]
    assert due_buckets(db, target, "UTC", end) == []

    late = day - timedelta(days=2, hours=12)  # the day before the window, 12:00
    loaders.insert(db, "raw.user_events", [lifecycle(late, "user.kyc_submitted")])
    due = [(b.start, b.reason) for b in due_buckets(db, target, "UTC", end)]
    assert due == [(day - timedelta(days=3), "missing"), (day, "stale")]
    materialize_window(db, target, day, end, "UTC")
    (recorded,) = db.execute(
        "SELECT source_rows FROM marts.rollup_buckets WHERE mart = %s AND bucket_start = %s",
        (target.name, day),
    ).fetchone()
    assert recorded == 2


# ------------------------------------------------------------------------ checks
def test_checks_pass_on_fresh_windows_and_catch_tampered_counts(db):
    latest = _load_two_weeks(db)
    run_until_nothing_due(db, "UTC", closed_through(latest, ZoneInfo("UTC")))
    day = datetime(2024, 3, 30, tzinfo=UTC)
    next_day = day + timedelta(days=1)
    for family in FAMILIES:
        for grain in (g for g in (Grain.HOURLY, Grain.DAILY) if g in family.grains):
            outcomes = run_checks(db, Mart(family, grain), day, next_day, "UTC")
            assert all(o.passed for o in outcomes), [o for o in outcomes if not o.passed]

    (tampered,) = db.execute(
        "UPDATE marts.transactions_hourly SET transaction_count = transaction_count + 1 "
        "WHERE dimension = 'platform' AND currency = '' AND bucket_start = "
        "(SELECT min(bucket_start) FROM marts.transactions_hourly WHERE bucket_start >= %s) "
        "RETURNING bucket_start",
        (day,),
    ).fetchone()
    hourly = {o.name: o for o in run_checks(db, mart("transactions_hourly"), day, next_day, "UTC")}
    assert not hourly[RECONCILES_WITH_RAW].passed
    assert hourly[RECONCILES_WITH_RAW].metadata["mismatched_buckets"] == 1
    mismatches = hourly[RECONCILES_WITH_RAW].metadata["mismatches (mart != raw)"]
    assert mismatches.startswith(tampered.astimezone(UTC).isoformat())
    daily = {o.name: o for o in run_checks(db, mart("transactions_daily"), day, next_day, "UTC")}
    assert daily[RECONCILES_WITH_RAW].passed
    assert not daily[RECONCILES_WITH_FINER].passed
