"""RFM scores, segments and transitions on small hand-made worlds (real PostgreSQL)."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from analytics_platform.customers.rfm import (
    RfmSettingsError,
    lookback_days_from_env,
    materialize_rfm,
)
from analytics_platform.customers.score_checks import rfm_checks, transition_checks
from analytics_platform.customers.segments import (
    OTHERS,
    SegmentRulesError,
    load_rules,
    parse_rules,
    segment_of,
)
from analytics_platform.customers.transitions import (
    ScoresMissingError,
    materialize_transitions,
)
from analytics_platform.resources.warehouse import read_sql

from .conftest import PostgresCluster
from .rfm_reference import expected_scores
from .rollup_reference import RawLoaders, migrated_database, transaction

RULES = load_rules()
UTC_ZONE = ZoneInfo("UTC")
DAY = date(2024, 3, 10)


@pytest.fixture(scope="module")
def module_db(postgres_cluster: PostgresCluster) -> Iterator[psycopg.Connection]:
    with (
        migrated_database(postgres_cluster) as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        yield conn


@pytest.fixture
def db(module_db: psycopg.Connection) -> psycopg.Connection:
    with module_db.transaction():
        for table in (
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
        ):
            module_db.execute(f"DELETE FROM {table}")
    return module_db


def paid(user: str, day: date, amount: str = "10.00", **fields: object) -> dict:
    at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    return transaction(at, user_id=user, amount=Decimal(amount), **fields)


def scores(conn: psycopg.Connection, day: date) -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT user_id, currency, recency_days, frequency, monetary, r_score, f_score,"
        " m_score, segment FROM customers.rfm_scores WHERE day = %s",
        (day,),
    )
    return {r[0]: tuple(r[1:]) for r in rows}


# Hand-made: each line is (r, f, m) and the segment written out by hand from the table in
# docs/customer-scores.md, in its match order.
HAND_MADE = [
    ((5, 5, 5), "Champions"),
    ((4, 4, 4), "Champions"),
    ((1, 5, 5), "Can't Lose Them"),
    ((1, 4, 4), "Can't Lose Them"),
    ((5, 1, 1), "New Customers"),
    ((3, 1, 1), "Promising"),
    ((2, 3, 3), "Loyal Customers"),
    ((5, 5, 3), "Loyal Customers"),
    ((5, 2, 2), "Potential Loyalist"),
    ((3, 1, 3), "Potential Loyalist"),
    ((2, 2, 2), "Need Attention"),
    ((2, 1, 2), "About To Sleep"),
    ((2, 2, 1), "About To Sleep"),
    ((2, 5, 2), "At Risk"),
    ((1, 3, 5), "At Risk"),
    ((1, 1, 1), "Lost"),
    ((1, 2, 1), "Lost"),
    ((1, 1, 5), "Hibernating"),
    ((2, 1, 4), "Hibernating"),
    ((5, 1, 5), OTHERS),
    ((3, 5, 1), OTHERS),
]


def test_segment_table_assigns_the_hand_written_segments():
    assert [segment_of(RULES, *cell) for cell, _ in HAND_MADE] == [s for _, s in HAND_MADE]


def test_every_shipped_segment_can_be_reached():
    reachable = {
        segment_of(RULES, r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)
    }
    assert reachable == {rule.segment for rule in RULES} | {OTHERS}


def test_segment_table_errors_name_the_line():
    with pytest.raises(SegmentRulesError, match="line 2"):
        parse_rules("segment,r_min,r_max,f_min,f_max,m_min,m_max\nX,0,5,1,5,1,5\n")
    with pytest.raises(SegmentRulesError, match="Others"):
        parse_rules("segment,r_min,r_max,f_min,f_max,m_min,m_max\nOthers,1,5,1,5,1,5\n")


def test_lookback_setting_is_validated():
    assert lookback_days_from_env({}) == 365
    assert lookback_days_from_env({"RFM_LOOKBACK_DAYS": "90"}) == 90
    with pytest.raises(RfmSettingsError, match="RFM_LOOKBACK_DAYS"):
        lookback_days_from_env({"RFM_LOOKBACK_DAYS": "a year"})


def test_five_distinct_users_get_their_rank_and_the_hand_written_segment(db):
    # Five users, every measure distinct: breakpoints are the 1st..4th values, so each
    # score is the user's rank; segments follow from the table by hand.
    events = []
    plan = {  # user: (days before DAY of the last purchase, purchases, amount each)
        "a": (0, 5, "100.00"),  # 5 5 5 Champions
        "b": (1, 1, "1.00"),  # 4 1 1 New Customers
        "c": (2, 4, "30.00"),  # 3 4 4 Loyal Customers (m: 120 is 4th)
        "d": (3, 2, "10.00"),  # 2 2 2 Need Attention (m: 20)
        "e": (4, 3, "50.00"),  # 1 3 5 At Risk (m: 150 highest? no: see below)
    }
    for user, (ago, n, amount) in plan.items():
        for i in range(n):
            events.append(paid(user, DAY - timedelta(days=ago + i * 5), amount))
    RawLoaders(UTC_ZONE).insert(db, "raw.transactions", events)
    materialize_rfm(db, DAY, DAY, "UTC", 365, RULES)
    got = {u: row[4:] for u, row in scores(db, DAY).items()}
    # monetary: a 500, b 1, c 120, d 20, e 150 -> m ranks a5 b1 c3 d2 e4
    assert got == {
        "a": (5, 5, 5, "Champions"),
        "b": (4, 1, 1, "New Customers"),
        "c": (3, 4, 3, "Loyal Customers"),
        "d": (2, 2, 2, "Need Attention"),
        "e": (1, 3, 4, "At Risk"),
    }


def test_equal_values_share_a_score_and_collapsed_quintiles_skip_scores(db):
    # Seven of ten users paid once: the 20/40/60% breakpoints are all 1, so paying once
    # is F=1, twice is F=4 (above three breakpoints), and scores 2 and 3 are unused.
    events = []
    for i in range(10):
        n = [1, 1, 1, 1, 1, 1, 1, 2, 3, 4][i]
        events += [paid(f"u{i}", DAY - timedelta(days=k), "10.00") for k in range(n)]
    RawLoaders(UTC_ZONE).insert(db, "raw.transactions", events)
    materialize_rfm(db, DAY, DAY, "UTC", 365, RULES)
    f_scores = {u: row[6] for u, row in scores(db, DAY).items()}
    assert {f_scores[f"u{i}"] for i in range(7)} == {1}
    assert [f_scores[f"u{i}"] for i in (7, 8, 9)] == [4, 5, 5]
    # Everyone's last purchase was DAY: one recency value, one R score for all.
    assert {row[4] for row in scores(db, DAY).values()} == {1}


def test_monetary_is_scored_within_the_main_currency(db):
    # IDR amounts are huge next to USD ones; a USD user's M score only compares USD.
    events = [paid(f"i{i}", DAY, f"{(i + 1) * 100000}.00", currency="IDR") for i in range(5)]
    events += [paid(f"s{i}", DAY, f"{i + 1}.00", currency="USD") for i in range(5)]
    # Main currency: most purchases wins over a larger amount elsewhere.
    events += [paid("mixed", DAY, "1.00", currency="SGD") for _ in range(2)]
    events += [paid("mixed", DAY, "999999.00", currency="IDR")]
    RawLoaders(UTC_ZONE).insert(db, "raw.transactions", events)
    materialize_rfm(db, DAY, DAY, "UTC", 365, RULES)
    got = scores(db, DAY)
    assert [got[f"s{i}"][6] for i in range(5)] == [got[f"i{i}"][6] for i in range(5)]
    assert got["mixed"][0] == "SGD" and got["mixed"][3] == Decimal("2.00")


def test_only_successful_payments_and_bill_payments_count(db):
    events = [
        paid("u", DAY, "10.00"),
        paid("u", DAY, "10.00", transaction_type="BILL_PAYMENT"),
        paid("u", DAY, "10.00", transaction_type="TRANSFER_OUT"),
        paid("u", DAY, "10.00", transaction_type="WITHDRAWAL"),
        paid("u", DAY, "10.00", transaction_type="TOPUP"),
        paid("u", DAY, "10.00", status="REFUNDED"),
        paid("u", DAY, "10.00", status="FAILED", failure_reason="TIMEOUT"),
        paid("nobody", DAY, "10.00", transaction_type="TOPUP"),
    ]
    RawLoaders(UTC_ZONE).insert(db, "raw.transactions", events)
    materialize_rfm(db, DAY, DAY, "UTC", 365, RULES)
    got = scores(db, DAY)
    assert set(got) == {"u"}
    assert got["u"][2:4] == (2, Decimal("20.00"))


def world(days: int, first: date) -> list[dict]:
    """A few users paying on a pattern that makes users enter, leave and tie."""
    events = []
    for d in range(days):
        day = first + timedelta(days=d)
        for u in range(8):
            if (d + u) % (u + 2) == 0:
                amount = f"{(u % 3 + 1) * 10}.00"
                events.append(paid(f"u{u}", day, amount, currency="IDR" if u % 4 else "USD"))
    return events


def test_incremental_state_equals_the_full_computation_and_the_reference(db):
    first = date(2024, 3, 1)
    events = world(20, first)
    RawLoaders(UTC_ZONE).insert(db, "raw.transactions", events)
    days = [first + timedelta(days=d) for d in range(20)]
    result = materialize_rfm(db, days[0], days[0], "UTC", 5, RULES)
    assert [d.method for d in result.days] == ["full"]
    for day in days[1:]:
        result = materialize_rfm(db, day, day, "UTC", 5, RULES)
        assert [d.method for d in result.days] == ["incremental"]
    incremental = {day: scores(db, day) for day in days}
    materialize_rfm(db, days[0], days[-1], "UTC", 5, RULES, incremental=False)
    assert {day: scores(db, day) for day in days} == incremental
    for day in days:
        assert incremental[day] == expected_scores(events, UTC_ZONE, day, 5, RULES)


def test_range_run_equals_single_days_and_reruns_write_the_same_rows(db):
    first = date(2024, 3, 1)
    RawLoaders(UTC_ZONE).insert(db, "raw.transactions", world(12, first))
    days = [first + timedelta(days=d) for d in range(12)]
    for day in days:
        materialize_rfm(db, day, day, "UTC", 4, RULES)
    single = {day: scores(db, day) for day in days}
    materialize_rfm(db, days[0], days[-1], "UTC", 4, RULES)
    assert {day: scores(db, day) for day in days} == single
    materialize_rfm(db, days[3], days[3], "UTC", 4, RULES)
    assert scores(db, days[3]) == single[days[3]]
    assert all(o.passed for o in rfm_checks(db, days[0], days[-1], RULES))


def test_a_late_event_makes_the_next_days_rebuild_their_state(db):
    first = date(2024, 3, 1)
    loaders = RawLoaders(UTC_ZONE)
    events = world(10, first)
    loaders.insert(db, "raw.transactions", events)
    last = first + timedelta(days=9)
    materialize_rfm(db, first, last, "UTC", 5, RULES)
    late = paid("late", first + timedelta(days=6), "77.00")
    loaders.insert(db, "raw.transactions", [late])
    # Only day 6 re-run: day 8's previous state (day 7) no longer adds up -> full.
    materialize_rfm(db, late["occurred_at"].date(), late["occurred_at"].date(), "UTC", 5, RULES)
    day8 = first + timedelta(days=8)
    result = materialize_rfm(db, day8, day8, "UTC", 5, RULES)
    assert [d.method for d in result.days] == ["full"]
    assert scores(db, day8) == expected_scores([*events, late], UTC_ZONE, day8, 5, RULES)


def test_a_state_emptied_by_a_crash_makes_the_next_day_computed_in_full(db):
    # The state is UNLOGGED: a crash (or a promoted replica) empties its partitions and
    # keeps rfm_state_days; TRUNCATE leaves the same thing behind.
    first = date(2024, 3, 1)
    events = world(4, first)
    RawLoaders(UTC_ZONE).insert(db, "raw.transactions", events)
    materialize_rfm(db, first, first + timedelta(days=2), "UTC", 3, RULES)
    persistence = db.execute(
        "SELECT c.relpersistence FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'customers.rfm_state'::regclass"
    ).fetchall()
    assert persistence and {p for (p,) in persistence} == {"u"}
    db.execute("SELECT customers.clear_day('customers.rfm_state'::regclass, %s)", (first,))
    second = first + timedelta(days=1)
    result = materialize_rfm(db, second, second, "UTC", 3, RULES)
    assert [d.method for d in result.days] == ["full"]
    assert scores(db, second) == expected_scores(events, UTC_ZONE, second, 3, RULES)


def _scans_of(plan: dict, relation: str) -> list[dict]:
    found = [plan] if plan.get("Relation Name") == relation else []
    for child in plan.get("Plans", []):
        found += _scans_of(child, relation)
    return found


def test_recording_a_day_reads_only_that_days_purchases(db):
    # Recording a day's totals once hashed every day ever computed (17M rows at the
    # benchmark's scale): the plan must restrict the daily purchases to the run's days.
    first = date(2024, 3, 1)
    RawLoaders(UTC_ZONE).insert(db, "raw.transactions", world(6, first))
    materialize_rfm(db, first, first + timedelta(days=5), "UTC", 3, RULES)
    day = first + timedelta(days=5)
    (plan,) = db.execute(
        "EXPLAIN (FORMAT JSON) " + read_sql("customers/rfm_purchase_days_record.sql"),
        {"first_day": day, "last_day": day},
    ).fetchone()
    scans = _scans_of(plan[0]["Plan"], "rfm_daily_purchases")
    assert scans
    for scan in scans:
        conditions = " ".join(
            str(scan.get(k, "")) for k in ("Index Cond", "Recheck Cond", "Filter")
        )
        assert "day" in conditions, scan


def test_transitions_add_up_and_need_the_day_scored(db):
    first = date(2024, 3, 1)
    RawLoaders(UTC_ZONE).insert(db, "raw.transactions", world(6, first))
    last = first + timedelta(days=5)
    with pytest.raises(ScoresMissingError, match="customers/rfm_scores"):
        materialize_transitions(db, first, last, first)
    materialize_rfm(db, first, last, "UTC", 3, RULES)
    result = materialize_transitions(db, first, last, first)
    # The 30-day base of every day predates the first partition: counted as unscored.
    assert result.skipped == ()
    assert all(o.passed for o in transition_checks(db, first, last))
    totals = dict(
        db.execute(
            "SELECT since, sum(users) FROM customers.segment_transitions WHERE day = %s"
            " GROUP BY since",
            (first,),
        ).fetchall()
    )
    assert totals == {
        "previous_day": len(scores(db, first)),
        "30_days_before": len(scores(db, first)),
    }


@pytest.mark.slow
def test_dagster_materializes_a_day_and_its_transitions_with_passing_checks(
    db, module_db, monkeypatch
):
    from dagster import DagsterInstance, materialize

    from analytics_platform.assets.customer_scores import customer_score_assets

    url = module_db.info.dsn
    monkeypatch.setenv("DATABASE_URL", psycopg.conninfo.make_conninfo(url, password=None))
    monkeypatch.setenv("PARTITIONS_START_DATE", "2024-03-01")
    monkeypatch.setenv("RFM_LOOKBACK_DAYS", "5")
    RawLoaders(UTC_ZONE).insert(db, "raw.transactions", world(10, date(2024, 3, 1)))
    result = materialize(
        customer_score_assets,
        partition_key="2024-03-10",
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    assert scores(db, date(2024, 3, 10)) == expected_scores(
        world(10, date(2024, 3, 1)), UTC_ZONE, date(2024, 3, 10), 5, RULES
    )
