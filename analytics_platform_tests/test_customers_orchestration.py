"""The customers group in Dagster: its assets materialize a day (and a range, in one run)
with metadata and passing checks, and its automation sensor requests the days whose
rollups are in, and re-runs the day a late event reached with every day after it."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    SensorResult,
    build_sensor_context,
    materialize,
)
from psycopg import sql

from analytics_platform.assets.customers import (
    GROUP,
    build_customers_sensor,
    customer_assets,
    customer_spending,
    customers_job,
    evaluate_customers_tick,
)
from analytics_platform.automation.sensors import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from analytics_platform.definitions import defs

from .conftest import PostgresCluster
from .rollup_reference import RawLoaders, migrated_database, reset, run_until_nothing_due

UTC_ZONE = ZoneInfo("UTC")
DAY0 = datetime(2024, 3, 28, tzinfo=UTC)
CUSTOMER_TABLES = [
    "customer_days",
    "customer_profiles",
    "customer_profile_currencies",
    "customer_spending",
    "customer_cohorts",
]
# The carried state of cohorts (schema customers).
CUSTOMER_STATE_TABLES = [
    "cohort_registrations",
    "cohort_user_days",
    "cohort_state_days",
]


@pytest.fixture(scope="module")
def database_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with migrated_database(postgres_cluster) as url:
        yield url


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection]:
    """The module's database, emptied; DATABASE_URL points at it for assets and sensor."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        reset(conn)
        for table in CUSTOMER_TABLES:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier("marts", table)))
        for table in CUSTOMER_STATE_TABLES:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier("customers", table)))
        yield conn


def _events(day: int, user: str, register: bool = True) -> dict[str, list[dict]]:
    """A payment of `user` on the day, after registering that day (unless not `register`)."""
    at = DAY0 + timedelta(days=day, hours=12)
    return {
        "raw.user_events": []
        if not register
        else [
            {
                "event_id": uuid.uuid4(),
                "occurred_at": at,
                "user_id": user,
                "event_type": "user.registered",
                "kyc_level": None,
                "country": "ID",
            }
        ],
        "raw.transactions": [
            {
                "event_id": uuid.uuid4(),
                "occurred_at": at + timedelta(minutes=5),
                "user_id": user,
                "transaction_id": "t",
                "amount": Decimal("12.50"),
                "currency": "IDR",
                "transaction_type": "PAYMENT",
                "category": "food",
                "status": "SUCCESS",
                "payment_method": "CARD",
                "retry_count": 0,
                "processing_ms": 10,
                "merchant_id": "m1",
            }
        ],
    }


def _load(db: psycopg.Connection, events: dict[str, list[dict]]) -> None:
    loaders = RawLoaders(UTC_ZONE)
    for table, rows in events.items():
        loaders.insert(db, table, rows)


def _rollups(db: psycopg.Connection, through: datetime) -> None:
    run_until_nothing_due(
        db,
        "UTC",
        {grain: through for grain in ("hourly", "daily")}
        | {
            "weekly": DAY0,
            "monthly": DAY0,
        },
    )


def tick(instance: DagsterInstance, now: datetime) -> SensorResult:
    return evaluate_customers_tick(
        build_sensor_context(instance=instance),
        grace=timedelta(minutes=5),
        retry_after=timedelta(minutes=15),
        now=now,
    )


def requested(result: SensorResult) -> list[tuple[str | None, str | None]]:
    return [
        (
            r.partition_key or r.tags.get(ASSET_PARTITION_RANGE_START_TAG),
            r.tags.get(ASSET_PARTITION_RANGE_END_TAG),
        )
        for r in result.run_requests or []
    ]


def test_the_group_is_documented_daily_postgres_assets_with_checks_and_a_running_sensor():
    graph = defs.resolve_asset_graph()
    keys = {AssetKey([GROUP, n]) for n in ("user_profiles", "spending", "cohorts")}
    for key in keys:
        node = graph.get(key)
        assert node.group_name == GROUP
        assert node.kinds == {"postgres"}
        assert node.owners and "Grain:" in (node.description or "")
        assert node.partitions_def is not None
        assert (
            node.backfill_policy is not None and node.backfill_policy.max_partitions_per_run is None
        )
        assert graph.get_check_keys_for_assets({key})
    (sensor,) = [s for s in defs.sensors or () if s.name == "customers_automation"]
    assert sensor.default_status is DefaultSensorStatus.RUNNING
    assert keys <= set(customers_job.selection.resolve(graph))
    built = build_customers_sensor(grace=timedelta(minutes=5))
    assert built.default_status is DefaultSensorStatus.RUNNING


def test_a_day_range_materializes_in_one_run_with_metadata_and_passing_checks(db):
    for day, user, register in ((0, "u1", True), (1, "u2", True), (2, "u1", False)):
        _load(db, _events(day, user, register))
    _rollups(db, DAY0 + timedelta(days=3))
    result = materialize(
        customer_assets,
        instance=DagsterInstance.ephemeral(),
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2024-03-28",
            ASSET_PARTITION_RANGE_END_TAG: "2024-03-30",
        },
    )
    assert result.success
    events = {
        e.materialization.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    # u1 on days 0 and 2, u2 on day 1: three versions, each with its currency version.
    assert events["user_profiles"]["dagster/row_count"].value == 3 + 3
    assert events["user_profiles"]["days"].value == 3
    assert "| user_id |" in events["user_profiles"]["preview"].value
    assert events["cohorts"]["window"].value.startswith("[2024-03-28T00:00:00+00:00")
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 4
    assert all(c.passed for c in checks), [(c.check_name, c.metadata) for c in checks]


def test_the_sensor_runs_days_whose_rollups_are_in_and_reruns_late_days_onward(db):
    instance = DagsterInstance.ephemeral()
    for day, user in ((0, "u1"), (1, "u2"), (2, "u3")):
        _load(db, _events(day, user))
    # Rollups not in yet: nothing to do.
    assert not tick(instance, DAY0 + timedelta(days=3, minutes=6)).run_requests
    _rollups(db, DAY0 + timedelta(days=2))
    # Days 0 and 1 have their rollups (day 2's are not in): one range run.
    assert requested(tick(instance, DAY0 + timedelta(days=3, minutes=6))) == [
        ("2024-03-28", "2024-03-29")
    ]
    materialize(
        customer_assets,
        instance=DagsterInstance.ephemeral(),
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2024-03-28",
            ASSET_PARTITION_RANGE_END_TAG: "2024-03-29",
        },
    )
    _rollups(db, DAY0 + timedelta(days=3))
    assert requested(tick(instance, DAY0 + timedelta(days=3, minutes=6))) == [("2024-03-30", None)]
    materialize(customer_assets, partition_key="2024-03-30", instance=DagsterInstance.ephemeral())
    assert not tick(instance, DAY0 + timedelta(days=3, minutes=6)).run_requests
    # A late event of day 0: once its rollups are redone, day 0 and every later day.
    _load(db, _events(0, "u4"))
    _rollups(db, DAY0 + timedelta(days=3))
    assert requested(tick(instance, DAY0 + timedelta(days=3, minutes=6))) == [
        ("2024-03-28", "2024-03-30")
    ]


def test_the_cohort_check_fails_when_a_user_registered_twice(db):
    # The lifecycle mart counts two registrations; the cohort holds one user.
    for day in (0, 1):
        _load(db, _events(day, "u1"))
    _rollups(db, DAY0 + timedelta(days=2))
    result = materialize(
        customer_assets,
        instance=DagsterInstance.ephemeral(),
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2024-03-28",
            ASSET_PARTITION_RANGE_END_TAG: "2024-03-29",
        },
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    cohort = checks["sizes_match_registrations"]
    assert not cohort.passed
    assert cohort.metadata["failing_days"].value == "2024-03-29"
    assert all(c.passed for name, c in checks.items() if name != "sizes_match_registrations")


def test_a_lone_mid_month_spending_day_fails_the_run_with_what_to_do_not_a_check(db):
    for day, user in ((0, "u1"), (2, "u1")):
        _load(db, _events(day, user, register=False))
    result = materialize(
        [customer_spending],
        partition_key="2024-03-30",
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    assert not result.get_asset_check_evaluations()
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert any(
        "SpendingMonthIncompleteError" in m and "run the range 2024-03-01..2024-03-30" in m
        for m in messages
    ), messages
