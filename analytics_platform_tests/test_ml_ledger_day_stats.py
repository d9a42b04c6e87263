"""The rules read daily aggregates (ml.spend_day_stats, ml.wallet_day_stats) and find
exactly what their raw-reading reference SQL finds, on a generated world."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from analytics_platform.ml import (
    daily_aggregates,
    idle_balance,
    ledger_day_stats,
    spending_trend,
    spending_trend_cells,
    surplus,
    wallet_window_cells,
)
from analytics_platform.resources.warehouse import run_sql_file

from .conftest import PostgresCluster
from .ml_world import KOLKATA, TZ, day_of, generated_world, ingest_payment, insert_late_payment

WORLD_DAYS = 100
DAY = day_of(WORLD_DAYS - 1)
DETECTORS = (spending_trend.detect, surplus.detect, idle_balance.detect)


@pytest.fixture(scope="module")
def url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with generated_world(postgres_cluster, days=WORLD_DAYS, events_per_day=150, users=80) as url:
        yield url


def built_days(conn: psycopg.Connection, tz: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM ml.ledger_day_stats_days WHERE tz = %s AND day <= %s", (tz, DAY)
    ).fetchone()
    return int(row[0]) if row else 0


# Warsaw's windows cross the change of 2026-03-29 (at 02:00: its days still run from
# midnight to midnight, one of them 23 hours long).
@pytest.mark.parametrize("tz", [TZ, "Europe/Warsaw"])
def test_each_rule_finds_from_the_daily_aggregates_what_it_finds_in_the_raw_rows(url, tz):
    with psycopg.connect(url, autocommit=True) as conn:
        for detect in DETECTORS:
            from_stats = detect(conn, DAY, tz)
            reference = detect(conn, DAY, tz, from_stats=False)
            assert from_stats == reference
            assert reference[0] > 0, f"{detect.__module__} examined nothing: a vacuous check"
        # The aggregates were read, not the raw rows: every day of the look-back is built.
        assert built_days(conn, tz) == ledger_day_stats.LOOKBACK_DAYS


def test_a_late_transaction_in_an_earlier_day_rebuilds_that_day(url):
    late_day = DAY - timedelta(days=3)
    with psycopg.connect(url, autocommit=True) as conn:
        spending_trend.detect(conn, DAY, TZ)
        user, currency, category, spend = conn.execute(
            "SELECT user_id, currency, category, spend FROM ml.spend_day_stats"
            " WHERE day = %s AND spend IS NOT NULL ORDER BY user_id, currency, category LIMIT 1",
            (late_day,),
        ).fetchone()
        at = datetime.combine(late_day, datetime.min.time(), ZoneInfo(TZ)) + timedelta(hours=12)
        insert_late_payment(conn, at, user, Decimal(1000000), currency=currency, category=category)
        assert spending_trend.detect(conn, DAY, TZ) == spending_trend.detect(
            conn, DAY, TZ, from_stats=False
        )
        row = conn.execute(
            "SELECT spend FROM ml.spend_day_stats"
            " WHERE day = %s AND user_id = %s AND currency = %s AND category = %s",
            (late_day, user, currency, category),
        ).fetchone()
        assert row is not None and row[0] == spend + Decimal(1000000)


# Ingestion records hours in its zone: in Kolkata's, the payment at 00:10 is in the hour
# starting at the local midnight; in the world's (whole UTC hours), in the one starting at
# 23:40 the day before, which the day's count must include too.
@pytest.mark.parametrize(("hours_in", "offset"), [(KOLKATA, 30), (TZ, 31)])
def test_a_late_payment_ten_minutes_into_a_kolkata_day_makes_the_day_due_again(
    url, hours_in, offset
):
    day, user = day_of(offset), f"late-ledger-{offset}"
    with psycopg.connect(url, autocommit=True) as conn:
        ledger_day_stats.refresh(conn, [day], KOLKATA)
        assert ledger_day_stats.refresh(conn, [day], KOLKATA) == []  # just built: not due
        at = datetime.combine(day, time(0, 10), ZoneInfo(KOLKATA))
        # In cents, as the world's amounts: the carried rule cells move only over one scale.
        ingest_payment(conn, at, user, Decimal("43.21"), hours_in)
        assert ledger_day_stats.refresh(conn, [day], KOLKATA) == [day]
        assert ledger_day_stats.refresh(conn, [day], KOLKATA) == []
        spend = conn.execute(
            "SELECT spend, purchases FROM ml.spend_day_stats WHERE day = %s AND user_id = %s",
            (day, user),
        ).fetchall()
        assert spend == [(Decimal("43.21"), 1)]


def test_days_are_aligned_unless_a_dst_change_repeats_or_skips_midnight(url):
    with psycopg.connect(url, autocommit=True) as conn:
        # Warsaw changes at 02:00; Havana falls back from 01:00 to 00:00 on 2026-11-01,
        # so the first hour of that local day comes before its midnight's instant.
        warsaw = ledger_day_stats.days_aligned(
            conn, date(2026, 3, 1), date(2026, 11, 30), "Europe/Warsaw"
        )
        havana = ledger_day_stats.days_aligned(
            conn, date(2026, 10, 25), date(2026, 11, 7), "America/Havana"
        )
        assert warsaw and not havana


def analyze_counts(conn: psycopg.Connection) -> dict[str, int]:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute(
        "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE schemaname = 'ml'"
        " AND relname IN ('spend_day_stats', 'wallet_day_stats')"
    ).fetchall()
    return dict(rows)


def test_a_backfill_of_the_daily_aggregates_analyzes_them_and_one_day_does_not(url):
    week = ledger_day_stats.days_ending(DAY, daily_aggregates.ANALYZE_AFTER_DAYS)
    with psycopg.connect(url, autocommit=True) as conn:
        before = analyze_counts(conn)
        ledger_day_stats.refresh(conn, [DAY], TZ, rebuild=[DAY])
        assert analyze_counts(conn) == before
        ledger_day_stats.refresh(conn, week, TZ, rebuild=week)
        after = analyze_counts(conn)
    assert after == {table: count + 1 for table, count in before.items()}
    assert set(after) == {"spend_day_stats", "wallet_day_stats"}


# SPENDING_TREND's carried cells (spending_trend_cells.py): moved from day to day, they
# find what the raw rows give, and are summed again whenever they are not exactly the
# previous day's.
TREND_WINDOWS = {
    "window_days": spending_trend.WINDOW_DAYS,
    "windows": spending_trend.HISTORY_WINDOWS + 1,
}


def trend_movable(conn: psycopg.Connection, day: date, tz: str) -> bool:
    """Whether detecting `day` will move the carried cells (its due days built first,
    as detect does)."""
    span = TREND_WINDOWS["window_days"] * TREND_WINDOWS["windows"]
    assert ledger_day_stats.prepared(conn, day, span, tz)
    row = run_sql_file(
        conn, "ml/spending_trend_cells_movable.sql", {"day": day, "tz": tz, **TREND_WINDOWS}
    ).fetchone()
    return bool(row and row[0])


def carried_cells(conn: psycopg.Connection) -> list[tuple]:
    # As the rule reads them: a spend only where some day row had one (its scale too).
    return conn.execute(
        "SELECT user_id, currency, category, w, day_rows, spend_rows,"
        " CASE WHEN spend_rows > 0 THEN spend::text END, purchases, sum_sq"
        " FROM ml.spending_trend_cells ORDER BY 1, 2, 3, 4"
    ).fetchall()


def summed_cells(conn: psycopg.Connection, day: date, tz: str) -> list[tuple]:
    """The cells of `day` summed from the day rows (the state is then `day`'s, summed)."""
    with conn.transaction():
        conn.execute("DELETE FROM ml.spending_trend_cells_state")
        assert spending_trend_cells.prepare(conn, day, tz, **TREND_WINDOWS) == "summed"
        return carried_cells(conn)


def test_spending_trend_moves_its_cells_day_after_day_to_what_summing_gives(url):
    with psycopg.connect(url, autocommit=True) as conn:
        spending_trend.detect(conn, DAY - timedelta(days=4), TZ)
        for day in ledger_day_stats.days_ending(DAY, 4):
            assert trend_movable(conn, day, TZ)
            assert spending_trend.detect(conn, day, TZ) == spending_trend.detect(
                conn, day, TZ, from_stats=False
            )
        moved = carried_cells(conn)
        assert moved == summed_cells(conn, DAY, TZ)
        assert {row[3] for row in moved} >= {0, 1, 2, 3}, "too few windows: a vacuous check"


def test_a_late_event_in_an_earlier_window_sums_the_spending_cells_again(url):
    late_day = DAY - timedelta(days=45)
    with psycopg.connect(url, autocommit=True) as conn:
        spending_trend.detect(conn, DAY - timedelta(days=1), TZ)
        user, currency, category = conn.execute(
            "SELECT user_id, currency, category FROM ml.spend_day_stats"
            " WHERE day = %s AND spend IS NOT NULL ORDER BY user_id, currency, category LIMIT 1",
            (late_day,),
        ).fetchone()
        at = datetime.combine(late_day, datetime.min.time(), ZoneInfo(TZ)) + timedelta(hours=9)
        insert_late_payment(conn, at, user, Decimal(777), currency=currency, category=category)
        assert not trend_movable(conn, DAY, TZ)
        found = spending_trend.detect(conn, DAY, TZ)
        assert found == spending_trend.detect(conn, DAY, TZ, from_stats=False)
        assert carried_cells(conn) == summed_cells(conn, DAY, TZ)


def test_a_rerun_of_an_older_day_sums_the_spending_cells_and_the_next_day_moves_them(url):
    older = DAY - timedelta(days=20)
    with psycopg.connect(url, autocommit=True) as conn:
        spending_trend.detect(conn, DAY, TZ)
        for day in (older, older + timedelta(days=1)):
            assert trend_movable(conn, day, TZ) == (day != older)
            assert spending_trend.detect(conn, day, TZ) == spending_trend.detect(
                conn, day, TZ, from_stats=False
            )


def test_another_time_zone_sums_the_spending_cells_again(url):
    with psycopg.connect(url, autocommit=True) as conn:
        spending_trend.detect(conn, DAY - timedelta(days=1), TZ)
        assert trend_movable(conn, DAY, TZ)
        assert not trend_movable(conn, DAY, "Europe/Warsaw")
        assert spending_trend.detect(conn, DAY, "Europe/Warsaw") == spending_trend.detect(
            conn, DAY, "Europe/Warsaw", from_stats=False
        )
        state = conn.execute("SELECT day, tz FROM ml.spending_trend_cells_state").fetchone()
        assert state == (DAY, "Europe/Warsaw")


def test_a_spend_of_another_scale_sums_the_spending_cells_again(url):
    # A moved sum keeps the scale of a row taken away; a fresh sum would not.
    with psycopg.connect(url, autocommit=True) as conn:
        spending_trend.detect(conn, DAY - timedelta(days=1), TZ)
        user, currency, category = conn.execute(
            "SELECT user_id, currency, category FROM ml.spend_day_stats WHERE day = %s"
            " ORDER BY user_id, currency, category LIMIT 1",
            (DAY,),
        ).fetchone()
        at = datetime.combine(DAY, datetime.min.time(), ZoneInfo(TZ)) + timedelta(hours=10)
        conn.execute(
            """INSERT INTO raw.transactions (event_id, occurred_at, user_id, transaction_id,
                   amount, currency, transaction_type, category, status, payment_method,
                   retry_count, processing_ms, kafka_partition, kafka_offset)
               VALUES (gen_random_uuid(), %s, %s, 'tx-scale-' || gen_random_uuid(), 12.345,
                   %s, 'PAYMENT', %s, 'SUCCESS', 'CARD', 0, 1, 0, 0)""",
            (at, user, currency, category),
        )
        ledger_day_stats.refresh(conn, [DAY], TZ, rebuild=[DAY])
        assert not trend_movable(conn, DAY, TZ)
        assert spending_trend.detect(conn, DAY, TZ) == spending_trend.detect(
            conn, DAY, TZ, from_stats=False
        )


# SAVINGS_GOAL's and INVESTMENT's carried wallet window cells (wallet_window_cells.py).
WALLET_WINDOWS = {
    "window_days": wallet_window_cells.WINDOW_DAYS,
    "windows": wallet_window_cells.WINDOWS,
}
WALLET_DETECTORS = (surplus.detect, idle_balance.detect)


def wallet_status(conn: psycopg.Connection, day: date, tz: str) -> str | None:
    """ "current", "movable" or None for `day` (its due days built first, as detect does)."""
    span = WALLET_WINDOWS["window_days"] * WALLET_WINDOWS["windows"]
    assert ledger_day_stats.prepared(conn, day, span, tz)
    row = run_sql_file(
        conn, "ml/wallet_window_cells_status.sql", {"day": day, "tz": tz, **WALLET_WINDOWS}
    ).fetchone()
    return row[0] if row else None


def wallet_cells(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT user_id, currency, w, day_rows, credits, debits FROM ml.wallet_window_cells"
        " ORDER BY 1, 2, 3"
    ).fetchall()


def summed_wallet_cells(conn: psycopg.Connection, day: date, tz: str) -> list[tuple]:
    with conn.transaction():
        conn.execute("DELETE FROM ml.wallet_window_cells_state")
        assert wallet_window_cells.prepare(conn, day, tz) == "summed"
        return wallet_cells(conn)


def wallet_rules_find_the_references(conn: psycopg.Connection, day: date, tz: str) -> None:
    for detect in WALLET_DETECTORS:
        assert detect(conn, day, tz) == detect(conn, day, tz, from_stats=False)


def test_wallet_cells_move_day_after_day_and_the_second_rule_finds_them_current(url):
    with psycopg.connect(url, autocommit=True) as conn:
        surplus.detect(conn, DAY - timedelta(days=4), TZ)
        for day in ledger_day_stats.days_ending(DAY, 4):
            assert wallet_status(conn, day, TZ) == "movable"
            surplus.detect(conn, day, TZ)
            assert wallet_status(conn, day, TZ) == "current"
            wallet_rules_find_the_references(conn, day, TZ)
        moved = wallet_cells(conn)
        assert moved == summed_wallet_cells(conn, DAY, TZ)
        assert {row[2] for row in moved} >= {0, 1, 2, 3}, "too few windows: a vacuous check"


def test_a_late_wallet_change_or_another_zone_sums_the_wallet_cells_again(url):
    late_day = DAY - timedelta(days=50)
    with psycopg.connect(url, autocommit=True) as conn:
        idle_balance.detect(conn, DAY - timedelta(days=1), TZ)
        user, wallet, currency = conn.execute(
            "SELECT user_id, wallet_id, currency FROM ml.wallet_day_stats WHERE day = %s"
            " ORDER BY user_id, wallet_id, currency LIMIT 1",
            (late_day,),
        ).fetchone()
        at = datetime.combine(late_day, datetime.min.time(), ZoneInfo(TZ)) + timedelta(hours=8)
        conn.execute(
            """INSERT INTO raw.wallet_balances (event_id, occurred_at, user_id, wallet_id,
                   balance, currency, change_amount, change_type, kafka_partition,
                   kafka_offset)
               VALUES (gen_random_uuid(), %s, %s, %s, 1000, %s, 5000, 'CREDIT', 0, 0)""",
            (at, user, wallet, currency),
        )
        run_sql_file(
            conn,
            "ingest/record_touched_hours.sql",
            {
                "raw_table": "raw.wallet_balances",
                "hour_starts": [at.astimezone(UTC).replace(minute=0)],
                "rows": [1],
                "max_occurred_ats": [at],
            },
        )
        assert wallet_status(conn, DAY, TZ) is None
        wallet_rules_find_the_references(conn, DAY, TZ)
        assert wallet_cells(conn) == summed_wallet_cells(conn, DAY, TZ)
        assert wallet_status(conn, DAY, "Europe/Warsaw") is None
        wallet_rules_find_the_references(conn, DAY, "Europe/Warsaw")


def test_a_rerun_of_an_older_day_sums_the_wallet_cells_and_the_next_day_moves_them(url):
    older = DAY - timedelta(days=20)
    with psycopg.connect(url, autocommit=True) as conn:
        surplus.detect(conn, DAY, TZ)
        for day in (older, older + timedelta(days=1)):
            assert wallet_status(conn, day, TZ) == (None if day == older else "movable")
            wallet_rules_find_the_references(conn, day, TZ)
