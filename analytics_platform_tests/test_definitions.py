import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, HourlyPartitionsDefinition

from analytics_platform.definitions import defs
from analytics_platform.events import TOPICS
from analytics_platform.partitions import (
    daily_partitions,
    hourly_partitions,
    monthly_partitions,
    weekly_partitions,
)

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_and_validate():
    defs.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    expected = {AssetKey(spec.table.split(".")) for spec in TOPICS.values()}
    assert expected <= set(graph.get_all_asset_keys())


def test_raw_tables_are_hourly_external_assets_with_column_schemas():
    graph = defs.resolve_asset_graph()
    for spec in TOPICS.values():
        node = graph.get(AssetKey(spec.table.split(".")))
        assert node.is_external
        assert isinstance(node.partitions_def, HourlyPartitionsDefinition)
        assert node.group_name == "ingestion"
        schema = node.metadata["dagster/column_schema"]
        names = [c.name for c in schema.columns]
        assert names[: len(spec.columns)] == list(spec.columns)
        assert node.owners and node.description


def test_weeks_start_on_monday_like_date_trunc_week():
    key = weekly_partitions.get_partition_key_for_timestamp(
        # Wednesday 2024-01-10 12:00 UTC
        1704888000.0
    )
    assert key == "2024-01-08"


def test_partition_definitions_share_the_reporting_time_zone():
    zones = {p.timezone for p in (hourly_partitions, daily_partitions, weekly_partitions)}
    assert zones == {monthly_partitions.timezone}


def test_dagster_cli_validates_the_workspace(tmp_path):
    # An empty DAGSTER_HOME: validation needs no instance storage.
    environment = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
