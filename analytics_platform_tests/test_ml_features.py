"""ml/user_features against an independent polars computation over the raw rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl
import psycopg
import pytest

from analytics_platform.ml import features, user_day_stats
from analytics_platform.resources.warehouse import run_sql_file

from .conftest import PostgresCluster
from .ml_world import KOLKATA, TZ, day_of, generated_world, ingest_payment


@pytest.fixture(scope="module")
def url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with generated_world(postgres_cluster, days=40, events_per_day=400, users=300) as url:
        yield url


def raw_frame(conn: psycopg.Connection, query: str, columns: list[str]) -> pl.DataFrame:
    frame = pl.DataFrame(conn.execute(query).fetchall(), schema=columns, orient="row")
    return frame.with_columns(pl.col("occurred_at").dt.convert_time_zone("UTC"))


def reference_features(conn: psycopg.Connection, day: date, tz: str = TZ) -> dict[str, tuple]:
    """The features of `day` from the raw rows, by polars (not by the SQL under test)."""
    as_of = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(tz))
    as_of = as_of.astimezone(UTC)
    tx = raw_frame(
        conn,
        "SELECT user_id, occurred_at, status, merchant_id FROM raw.transactions",
        ["user_id", "occurred_at", "status", "merchant_id"],
    )
    tx = tx.filter(
        (pl.col("occurred_at") < as_of) & (pl.col("occurred_at") >= as_of - timedelta(days=90))
    ).with_columns(
        age=(pl.lit(as_of) - pl.col("occurred_at")).dt.total_microseconds() / 86_400e6,
        local_day=pl.col("occurred_at").dt.convert_time_zone(tz).dt.date(),
        ok=pl.col("status") == "SUCCESS",
        failed=pl.col("status") == "FAILED",
    )
    per_user = tx.group_by("user_id").agg(
        recency_days=pl.col("age").filter(pl.col("ok")).min(),
        first_seen_days=pl.col("age").max(),
        tx_7d=(pl.col("ok") & (pl.col("age") <= 7)).sum(),
        tx_prev_7d=(pl.col("ok") & (pl.col("age") > 7) & (pl.col("age") <= 14)).sum(),
        tx_30d=(pl.col("ok") & (pl.col("age") <= 30)).sum(),
        active_days_30d=pl.col("local_day").filter(pl.col("ok") & (pl.col("age") <= 30)).n_unique(),
        failed_7d=(pl.col("failed") & (pl.col("age") <= 7)).sum(),
        failed_30d=(pl.col("failed") & (pl.col("age") <= 30)).sum(),
        merchants_30d=pl.col("merchant_id")
        .filter(pl.col("ok") & (pl.col("age") <= 30))
        .drop_nulls()
        .n_unique(),
    )
    sessions = (
        raw_frame(
            conn,
            "SELECT user_id, occurred_at, session_id FROM raw.user_activity",
            ["user_id", "occurred_at", "session_id"],
        )
        .filter(
            (pl.col("occurred_at") < as_of)
            & (pl.col("occurred_at") >= as_of - timedelta(days=14))
            & pl.col("session_id").is_not_null()
        )
        .group_by("user_id")
        .agg(sessions_14d=pl.col("session_id").n_unique())
    )
    table = (
        per_user.filter(pl.col("recency_days").is_not_null())
        .join(sessions, on="user_id", how="left")
        .with_columns(pl.col("sessions_14d").fill_null(0))
    )
    return {
        row["user_id"]: tuple(row[name] for name in features.FEATURE_NAMES)
        for row in table.iter_rows(named=True)
    }


def stored_features(conn: psycopg.Connection, day: date) -> dict[str, tuple]:
    frame = features.read_days(conn, day, day)
    return {
        user: tuple(values.tolist())
        for user, values in zip(frame.user_ids, frame.values, strict=True)
    }


def assert_same(actual: dict[str, tuple], expected: dict[str, tuple]) -> None:
    assert actual.keys() == expected.keys()
    for user, row in expected.items():
        assert actual[user] == pytest.approx(row, abs=1e-6), user


@pytest.mark.parametrize("offset", [10, 39])
def test_features_of_a_day_equal_a_polars_computation_from_the_raw_rows(url, offset):
    day = day_of(offset)
    with psycopg.connect(url, autocommit=True) as conn:
        written = features.build_day(conn, day, TZ)
        expected = reference_features(conn, day)
        assert written == len(expected) > 100
        assert_same(stored_features(conn, day), expected)


def test_a_rerun_of_a_day_replaces_it_and_other_days_stay(url):
    first, second = day_of(20), day_of(21)
    with psycopg.connect(url, autocommit=True) as conn:
        features.build_day(conn, first, TZ)
        features.build_day(conn, second, TZ)
        before = stored_features(conn, first), stored_features(conn, second)
        features.build_day(conn, first, TZ)
        assert (stored_features(conn, first), stored_features(conn, second)) == before


def test_an_event_at_the_end_of_the_day_does_not_change_its_features(url):
    day = day_of(15)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(TZ))
    with psycopg.connect(url, autocommit=True) as conn:
        features.build_day(conn, day, TZ)
        before = stored_features(conn, day)
        user = "usr_first_paid_at_midnight"
        conn.execute(
            """INSERT INTO raw.transactions (event_id, occurred_at, user_id, transaction_id,
                   amount, currency, transaction_type, category, status, payment_method,
                   retry_count, processing_ms, kafka_partition, kafka_offset)
               VALUES (gen_random_uuid(), %s, %s, 'tx-at-the-end', 1, 'IDR', 'PAYMENT',
                   'groceries', 'SUCCESS', 'CARD', 0, 1, 0, 0)""",
            (end, user),
        )
        features.build_day(conn, day, TZ)
        assert stored_features(conn, day) == before
        assert user not in before
        features.build_day(conn, day + timedelta(days=1), TZ)
        after = features.read_days(conn, day + timedelta(days=1), day + timedelta(days=1))
        recency = after.values[after.user_ids.index(user), 0]
        assert recency == pytest.approx(1.0)


def test_a_backfill_of_several_days_equals_a_polars_computation_for_each_day(url):
    first, last = day_of(30), day_of(32)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM ml.user_features WHERE day BETWEEN %s AND %s", (first, last))
        assert features.build_missing_days(conn, first, last, TZ) == 3
        for offset in range(3):
            day = first + timedelta(days=offset)
            # Whole local days in a zone without DST: computed from ml.user_day_stats.
            assert features.windows_aligned(conn, day, TZ)
            assert_same(stored_features(conn, day), reference_features(conn, day))
        assert features.build_missing_days(conn, first, last, TZ) == 0


def insert_late_transaction(
    conn: psycopg.Connection, occurred_at: datetime, user: str, status: str
) -> None:
    """A transaction ingested late, with the bookkeeping ingestion does for it."""
    conn.execute(
        """INSERT INTO raw.transactions (event_id, occurred_at, user_id, transaction_id,
               amount, currency, transaction_type, category, status, payment_method,
               retry_count, processing_ms, merchant_id, kafka_partition, kafka_offset)
           VALUES (gen_random_uuid(), %s, %s, 'tx-late-' || gen_random_uuid(), 1, 'IDR',
               'PAYMENT', 'groceries', %s, 'CARD', 0, 1, 'mch_late', 0, 0)""",
        (occurred_at, user, status),
    )
    hour = occurred_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    run_sql_file(
        conn,
        "ingest/record_touched_hours.sql",
        {
            "raw_table": "raw.transactions",
            "hour_starts": [hour],
            "rows": [1],
            "max_occurred_ats": [occurred_at],
        },
    )


def test_a_rerun_after_late_events_for_earlier_days_reflects_them(url):
    day = day_of(25)
    with psycopg.connect(url, autocommit=True) as conn:
        features.build_day(conn, day, TZ)
        before = stored_features(conn, day)
        user = min(before)
        noon = datetime.combine(day, datetime.min.time(), ZoneInfo(TZ)) + timedelta(hours=12)
        insert_late_transaction(conn, noon - timedelta(days=3), user, "SUCCESS")
        insert_late_transaction(conn, noon - timedelta(days=20), user, "FAILED")
        features.build_day(conn, day, TZ)
        after = stored_features(conn, day)
        assert after[user] != before[user]
        assert_same(after, reference_features(conn, day))


# Ingestion records hours in its zone: in Kolkata's, the payment at 00:10 is in the hour
# starting at the local midnight; in the world's (whole UTC hours), in the one starting at
# 23:40 the day before, which the day's count must include too.
@pytest.mark.parametrize(("hours_in", "offset"), [(KOLKATA, 20), (TZ, 21)])
def test_a_late_payment_ten_minutes_into_a_kolkata_day_makes_the_day_due_again(
    url, hours_in, offset
):
    day, user = day_of(offset), f"late-features-{offset}"
    with psycopg.connect(url, autocommit=True) as conn:
        user_day_stats.refresh(conn, [day], KOLKATA)
        assert user_day_stats.refresh(conn, [day], KOLKATA) == []  # just built: not due
        at = datetime.combine(day, time(0, 10), ZoneInfo(KOLKATA))
        ingest_payment(conn, at, user, Decimal(100), hours_in)
        assert user_day_stats.refresh(conn, [day], KOLKATA) == [day]
        assert user_day_stats.refresh(conn, [day], KOLKATA) == []
        stats = conn.execute(
            "SELECT first_at, successes FROM ml.user_day_stats WHERE day = %s AND user_id = %s",
            (day, user),
        ).fetchall()
        assert stats == [(at, 1)]


def test_days_whose_windows_cross_a_dst_change_equal_a_polars_computation(url):
    berlin = "Europe/Berlin"
    # The look-back of 2026-01-11 reaches back past the change of 2025-10-26, so its
    # first local day begins an hour before the 90 days do; that of 2026-02-09 does not.
    crossing, clear = day_of(10), day_of(39)
    as_of = datetime.combine(crossing + timedelta(days=1), datetime.min.time(), ZoneInfo(berlin))
    # In UTC: aware arithmetic in the zone itself would step in wall-clock time.
    inside_first_day_before_the_window = as_of.astimezone(UTC) - timedelta(days=90, minutes=30)
    with psycopg.connect(url, autocommit=True) as conn:
        assert not features.windows_aligned(conn, crossing, berlin)
        assert features.windows_aligned(conn, clear, berlin)
        features.build_day(conn, crossing, berlin)
        user = min(stored_features(conn, crossing))
        conn.execute(
            "SELECT ingest.ensure_raw_partitions('transactions', %s, %s)",
            (inside_first_day_before_the_window, inside_first_day_before_the_window),
        )
        insert_late_transaction(conn, inside_first_day_before_the_window, user, "FAILED")
        for day in (crossing, clear):
            features.build_day(conn, day, berlin)
            assert_same(stored_features(conn, day), reference_features(conn, day, berlin))
