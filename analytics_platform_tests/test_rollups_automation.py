"""The Dagster side of the rollups: the planner's rules, the sensor's run requests, the
assets (metadata, checks, ranges) and the definitions they make up."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    SensorResult,
    build_sensor_context,
    materialize,
)
from dagster._core.storage import tags as dagster_tags

from analytics_platform.assets.checks import mart_asset_key
from analytics_platform.assets.raw import raw_assets
from analytics_platform.assets.rollups import rollup_assets
from analytics_platform.automation import sensors
from analytics_platform.automation.planner import MAX_BUCKETS_PER_RUN, Busy, plan_runs
from analytics_platform.automation.sensors import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    build_rollup_sensor,
    busy_windows,
    evaluate_rollup_tick,
    rollup_jobs,
)
from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.bookkeeping import DueBucket
from analytics_platform.rollups.families import MARTS, Grain, mart
from analytics_platform.rollups.runner import materialize_window

from .conftest import PostgresCluster
from .rollup_reference import RawLoaders, mart_rows, migrated_database, reset, transaction

HOUR = timedelta(hours=1)
T0 = datetime(2024, 3, 30, 10, tzinfo=UTC)  # a Saturday, 10:00 UTC


def due(name: str, start: datetime, hours: int = 1, reason: str = "missing") -> DueBucket:
    m = mart(name)
    if m.grain is Grain.HOURLY:
        end = start + hours * HOUR
    elif m.grain is Grain.DAILY:
        end = start + timedelta(days=1)
    elif m.grain is Grain.WEEKLY:
        end = start + timedelta(days=7)
    else:
        end = datetime(start.year, start.month + 1, 1, tzinfo=UTC)
    return DueBucket(m, start, end, reason, None)  # type: ignore[arg-type]


def hours(name: str, first: datetime, count: int, reason: str = "missing") -> list[DueBucket]:
    return [due(name, first + i * HOUR, reason=reason) for i in range(count)]


# ------------------------------------------------------------------------ planner
def test_contiguous_due_hours_become_one_range_run_and_gaps_split_it():
    planned = plan_runs(
        hours("transactions_hourly", T0, 3) + hours("transactions_hourly", T0 + 5 * HOUR, 1), []
    )
    assert [(r.start, r.end, len(r.buckets)) for r in planned] == [
        (T0, T0 + 3 * HOUR, 3),
        (T0 + 5 * HOUR, T0 + 6 * HOUR, 1),
    ]


def test_a_long_catch_up_is_cut_into_runs_of_at_most_a_week_of_hours():
    limit = MAX_BUCKETS_PER_RUN[Grain.HOURLY]
    planned = plan_runs(hours("webhooks_hourly", T0, limit + 5), [])
    assert [len(r.buckets) for r in planned] == [limit, 5]


def test_marts_with_the_same_range_share_one_run_and_others_get_their_own():
    planned = plan_runs(
        hours("transactions_hourly", T0, 2)
        + hours("failures_hourly", T0, 2, reason="stale")
        + hours("activity_hourly", T0, 1),
        [],
    )
    assert [([m.name for m in r.marts], len(r.buckets), set(r.reasons)) for r in planned] == [
        (["activity_hourly"], 1, {"missing"}),
        (["failures_hourly", "transactions_hourly"], 2, {"missing", "stale"}),
    ]


def test_a_day_waits_for_its_hours_and_weeks_and_months_wait_for_their_days():
    day = datetime(2024, 3, 30, tzinfo=UTC)
    week = datetime(2024, 3, 25, tzinfo=UTC)
    month = datetime(2024, 3, 1, tzinfo=UTC)
    coarse = [
        due("transactions_daily", day),
        due("transactions_weekly", week),
        due("transactions_monthly", month),
    ]
    # An hour of the day is still due: only that hour runs.
    planned = plan_runs([*coarse, due("transactions_hourly", T0)], [])
    assert [(r.grain, r.start) for r in planned] == [(Grain.HOURLY, T0)]
    # Hours done, but a run is busy with one of them: still nothing coarser.
    busy = [Busy("transactions_hourly", T0, T0 + HOUR)]
    assert plan_runs(coarse, busy) == []
    # Hours in: the day runs; week and month wait for it.
    planned = plan_runs(coarse, [])
    assert [(r.grain, r.start) for r in planned] == [(Grain.DAILY, day)]
    # Day in: week and month run together in one tick.
    planned = plan_runs(coarse[1:], [])
    assert [(r.grain, r.start) for r in planned] == [(Grain.WEEKLY, week), (Grain.MONTHLY, month)]


def test_buckets_a_run_is_busy_with_are_not_requested_again():
    busy = [Busy("transactions_hourly", T0, T0 + 2 * HOUR)]
    planned = plan_runs(hours("transactions_hourly", T0, 3), busy)
    assert [(r.start, r.end) for r in planned] == [(T0 + 2 * HOUR, T0 + 3 * HOUR)]


def test_our_partition_tags_are_dagsters():
    assert PARTITION_NAME_TAG == dagster_tags.PARTITION_NAME_TAG
    assert ASSET_PARTITION_RANGE_START_TAG == dagster_tags.ASSET_PARTITION_RANGE_START_TAG
    assert ASSET_PARTITION_RANGE_END_TAG == dagster_tags.ASSET_PARTITION_RANGE_END_TAG


def test_busy_windows_come_from_partition_and_range_tags_of_mart_runs():
    hourly = mart_asset_key(mart("transactions_hourly"))
    daily = mart_asset_key(mart("activity_daily"))
    runs = [
        DagsterRun(
            "rollups_hourly",
            run_id=str(uuid.uuid4()),
            tags={PARTITION_NAME_TAG: "2024-03-30-10:00"},
            asset_selection=frozenset({hourly, AssetKey(["raw", "transactions"])}),
        ),
        DagsterRun(
            "rollups_daily",
            run_id=str(uuid.uuid4()),
            tags={
                ASSET_PARTITION_RANGE_START_TAG: "2024-03-01",
                ASSET_PARTITION_RANGE_END_TAG: "2024-03-03",
            },
            asset_selection=frozenset({daily}),
        ),
        DagsterRun("__ASSET_JOB", run_id=str(uuid.uuid4()), tags={}),
    ]
    assert busy_windows(runs) == [
        Busy("transactions_hourly", T0, T0 + HOUR),
        Busy("activity_daily", datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 4, tzinfo=UTC)),
    ]


# ------------------------------------------------------------------------ with a database
@pytest.fixture(scope="module")
def database_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with migrated_database(postgres_cluster) as url:
        yield url


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection]:
    """The module's database, emptied; DATABASE_URL points at it for the sensor and assets
    (they read settings when they run, like in a deployment)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    with connect(database_url, autocommit=True) as conn:
        reset(conn)
        yield conn


TRANSACTION_HOURLY = sorted(
    mart_asset_key(m) for m in MARTS if m.grain is Grain.HOURLY and m.family.name != "activity"
)


def tick(instance: DagsterInstance, now: datetime) -> SensorResult:
    context = build_sensor_context(instance=instance)
    return evaluate_rollup_tick(
        context, grace=timedelta(minutes=5), retry_after=timedelta(minutes=15), now=now
    )


def requested(result: SensorResult) -> list[tuple[str, str | None, str | None, list[str]]]:
    return [
        (
            r.job_name,
            r.partition_key or r.tags.get(ASSET_PARTITION_RANGE_START_TAG),
            r.tags.get(ASSET_PARTITION_RANGE_END_TAG),
            sorted(k.path[-1] for k in r.asset_selection or ()),
        )
        for r in result.run_requests or []
    ]


def test_the_sensor_requests_closed_hours_after_the_grace_period_then_their_day(db):
    RawLoaders(ZoneInfo("UTC")).insert(
        db,
        "raw.transactions",
        [transaction(T0 + timedelta(minutes=5)), transaction(T0 + timedelta(minutes=70))],
    )
    instance = DagsterInstance.ephemeral()
    tx_hourly = ["cashflow_hourly", "failures_hourly", "transactions_hourly"]
    # 11:03: hour 10 closed 3 minutes ago, inside the 5-minute grace: nothing yet.
    result = tick(instance, T0 + timedelta(hours=1, minutes=3))
    assert result.skip_reason is not None and not result.run_requests
    # 11:06: hour 10 is due, as a single partition for the three marts of raw.transactions.
    assert requested(tick(instance, T0 + timedelta(hours=1, minutes=6))) == [
        ("rollups_hourly", "2024-03-30-10:00", None, tx_hourly)
    ]
    # 12:06, nothing run meanwhile: hours 10 and 11 as one range run.
    assert requested(tick(instance, T0 + timedelta(hours=2, minutes=6))) == [
        ("rollups_hourly", "2024-03-30-10:00", "2024-03-30-11:00", tx_hourly)
    ]
    # Past midnight with the day's hours done: the day is requested (and nothing else).
    day = datetime(2024, 3, 30, tzinfo=UTC)
    for name in tx_hourly:
        materialize_window(db, mart(name), T0, day + timedelta(days=1), "UTC")
    # merchant_breakdown, which has no hourly grain, joins its day.
    tx_daily = sorted(
        [n.replace("hourly", "daily") for n in tx_hourly] + ["merchant_breakdown_daily"]
    )
    assert requested(tick(instance, day + timedelta(days=1, minutes=6))) == [
        ("rollups_daily", "2024-03-30", None, tx_daily)
    ]


def test_the_sensor_leaves_windows_that_running_runs_cover(db):
    RawLoaders(ZoneInfo("UTC")).insert(db, "raw.transactions", [transaction(T0)])
    instance = DagsterInstance.ephemeral()
    instance.add_run(
        DagsterRun(
            "rollups_hourly",
            run_id=str(uuid.uuid4()),
            status=DagsterRunStatus.STARTED,
            tags={PARTITION_NAME_TAG: "2024-03-30-10:00"},
            asset_selection=frozenset({mart_asset_key(mart("transactions_hourly"))}),
        )
    )
    assert requested(tick(instance, T0 + timedelta(hours=1, minutes=6))) == [
        ("rollups_hourly", "2024-03-30-10:00", None, ["cashflow_hourly", "failures_hourly"])
    ]


def test_the_sensor_is_declared_running_with_a_job_per_grain():
    sensor = build_rollup_sensor(grace=timedelta(minutes=5))
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.name == sensors.SENSOR_NAME
    assert {j.name for j in rollup_jobs.values()} == {f"rollups_{g}" for g in Grain}


# ------------------------------------------------------------------------ assets
ASSETS = {a.key: a for a in rollup_assets}


def test_every_mart_is_a_documented_single_run_postgres_asset_with_checks():
    assert len(rollup_assets) == len(MARTS) == 27
    for m in MARTS:
        asset = ASSETS[mart_asset_key(m)]
        spec = next(iter(asset.specs))
        assert spec.group_name == "rollups" and set(spec.kinds) == {"postgres"}
        assert spec.owners and m.grain.value in (spec.description or "")
        assert [c.name for c in spec.metadata["dagster/column_schema"].columns] == [
            c.name for c in m.family.columns
        ]
        assert (
            asset.backfill_policy is not None
            and asset.backfill_policy.max_partitions_per_run is None
        )
        assert spec.freshness_policy is not None
        deps = {d.asset_key for d in spec.deps}
        assert AssetKey(m.family.raw_table.split(".")) in deps
        checks = {c.name for c in asset.check_specs}
        assert "reconciles_with_raw" in checks and "unique_keys" in checks
        assert ("reconciles_with_finer_grain" in checks) == (m.finer is not None)
        assert (m.finer is None) == (m.grain is min(m.family.grains, key=list(Grain).index))


def test_the_definitions_with_rollups_load_and_validate():
    defs = Definitions(
        assets=[*raw_assets, *rollup_assets],
        jobs=list(rollup_jobs.values()),
        sensors=[build_rollup_sensor(grace=timedelta(minutes=5))],
    )
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {mart_asset_key(m) for m in MARTS} <= set(graph.get_all_asset_keys())


def test_materializing_a_partition_reports_rows_window_preview_and_passing_checks(db):
    RawLoaders(ZoneInfo("UTC")).insert(
        db, "raw.transactions", [transaction(T0 + timedelta(minutes=m)) for m in (1, 2, 3)]
    )
    asset = ASSETS[mart_asset_key(mart("transactions_hourly"))]
    result = materialize(
        [asset], partition_key="2024-03-30-10:00", instance=DagsterInstance.ephemeral()
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["dagster/row_count"].value == len(mart_rows(db, mart("transactions_hourly")))
    assert metadata["window"].value == "[2024-03-30T10:00:00+00:00, 2024-03-30T11:00:00+00:00)"
    assert "| bucket_start |" in metadata["preview"].value
    assert metadata["duration_seconds"].value > 0
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {
        "unique_keys",
        "no_null_keys",
        "reconciles_with_raw",
    }
    assert all(e.passed for e in evaluations)


def test_a_partition_range_is_one_run_writing_every_bucket(db):
    days = [datetime(2024, 3, d, 12, tzinfo=UTC) for d in (28, 29, 30)]
    RawLoaders(ZoneInfo("UTC")).insert(db, "raw.transactions", [transaction(d) for d in days])
    asset = ASSETS[mart_asset_key(mart("cashflow_daily"))]
    result = materialize(
        [asset],
        instance=DagsterInstance.ephemeral(),
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2024-03-28",
            ASSET_PARTITION_RANGE_END_TAG: "2024-03-30",
        },
    )
    assert result.success
    recorded = db.execute(
        "SELECT bucket_start FROM marts.rollup_buckets WHERE mart = 'cashflow_daily' ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in recorded] == [d.replace(hour=0) for d in days]
    # The finer grain was never run: the check says so instead of passing silently.
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["reconciles_with_raw"].passed
    assert not evaluations["reconciles_with_finer_grain"].passed
