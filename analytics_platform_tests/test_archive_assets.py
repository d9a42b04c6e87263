"""The archive's Dagster shell: assets, checks, schedules and the changed-months sensor."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    build_sensor_context,
    materialize,
)

from analytics_platform.assets.archive import (
    RETENTION_KEY,
    archive_asset_key,
    archive_assets,
    archive_changed_months,
    raw_retention,
)
from analytics_platform.definitions import defs
from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.dev.raw_rows import load_generated_rows
from analytics_platform.ingestion.raw_storage import raw_table_names
from analytics_platform.settings import Settings

TRANSACTIONS_ASSET = next(a for a in archive_assets if archive_asset_key("transactions") in a.keys)


@pytest.fixture
def environment(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Two UTC months of transactions, and the environment the assets read settings from."""
    config = GeneratorConfig(
        seed=11,
        days=6,
        events_per_day=200,
        start=datetime(2024, 1, 29, tzinfo=UTC),
        malformed_fraction=0.0,
    )
    load_generated_rows(
        settings.database_url,
        config,
        datetime(2024, 3, 1, tzinfo=UTC),
        ZoneInfo("UTC"),
        ("transactions",),
    )
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ARCHIVE_URL", str(tmp_path / "archive"))
    monkeypatch.setenv("RAW_RETENTION_DAYS", "30")
    return settings


def test_archive_assets_are_monthly_utc_parquet_assets_in_the_archive_group() -> None:
    graph = defs.resolve_asset_graph()
    for table in raw_table_names():
        node = graph.get(archive_asset_key(table))
        assert node.group_name == "archive"
        assert {"parquet", "duckdb", "postgres"} <= set(node.kinds)
        assert node.partitions_def.timezone == "UTC"
        assert AssetKey(["raw", table]) in node.parent_keys
        assert "Grain" in node.description and "key" in node.description
    assert graph.get(RETENTION_KEY).group_name == "archive"


def test_archive_schedule_retention_schedule_and_sensor_run_by_default() -> None:
    assert defs.resolve_schedule_def("archive_monthly").default_status == (
        DefaultScheduleStatus.RUNNING
    )
    assert defs.resolve_schedule_def("raw_retention_daily").default_status == (
        DefaultScheduleStatus.RUNNING
    )
    assert defs.resolve_sensor_def("archive_changed_months").default_status == (
        DefaultSensorStatus.RUNNING
    )


def test_a_month_materialized_from_dagster_is_archived_and_its_check_passes(
    environment: Settings,
) -> None:
    result = materialize([TRANSACTIONS_ASSET], partition_key="2024-01-01")

    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    [materialization] = result.asset_materializations_for_node(TRANSACTIONS_ASSET.op.name)
    rows = materialization.metadata["dagster/row_count"].value
    with psycopg.connect(environment.database_url) as conn:
        raw = conn.execute(
            "SELECT count(*) FROM raw.transactions WHERE occurred_at < '2024-02-01'"
        ).fetchone()
    assert (rows,) == raw
    assert int(materialization.metadata["checksum"].value) != 0


def test_the_retention_asset_drops_the_verified_month_and_fails_its_check_for_the_other(
    environment: Settings,
) -> None:
    materialize([TRANSACTIONS_ASSET], partition_key="2024-01-01")

    result = materialize([raw_retention])

    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert "raw.transactions 2024-02 is past RAW_RETENTION_DAYS=30 but kept" in (
        check.description or ""
    )
    with psycopg.connect(environment.database_url) as conn:
        left = conn.execute(
            "SELECT min(occurred_at) >= '2024-02-01', count(*) > 0 FROM raw.transactions"
        ).fetchone()
    assert left == (True, True)


def test_the_sensor_requests_every_month_never_archived_or_changed_since(
    environment: Settings,
) -> None:
    first = archive_changed_months(build_sensor_context())
    requested = {(r.partition_key, tuple(r.asset_selection or ())) for r in first.run_requests}
    assert requested == {
        ("2024-01-01", (archive_asset_key("transactions"),)),
        ("2024-02-01", (archive_asset_key("transactions"),)),
    }

    materialize([TRANSACTIONS_ASSET], partition_key="2024-01-01")
    materialize([TRANSACTIONS_ASSET], partition_key="2024-02-01")
    assert not hasattr(archive_changed_months(build_sensor_context()), "run_requests")

    late = GeneratorConfig(
        seed=12,
        days=1,
        events_per_day=20,
        start=datetime(2024, 1, 30, tzinfo=UTC),
        malformed_fraction=0.0,
    )
    load_generated_rows(
        environment.database_url,
        late,
        datetime(2024, 2, 1, tzinfo=UTC),
        ZoneInfo("UTC"),
        ("transactions",),
    )
    again = archive_changed_months(build_sensor_context())
    assert [r.partition_key for r in again.run_requests] == ["2024-01-01"]
    assert "ingested since it was archived" in again.run_requests[0].tags["archive/reason"]
