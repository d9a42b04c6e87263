"""What a data engineer reads in the Dagster UI's catalog: every table asset is described,
grouped, owned, tagged with its kinds and carries its column schema."""

import re

import pytest
from dagster import AssetKey, TableSchema

from analytics_platform.definitions import defs
from analytics_platform.rollups.families import MARTS

GRAPH = defs.resolve_asset_graph()
TABLE_ASSETS = sorted(
    (node for node in GRAPH.asset_nodes if "dagster/table_name" in node.metadata),
    key=lambda node: node.key.to_user_string(),
)
# One group per asset family; later families (customers, recommendations, reports) add theirs.
ROLLUP_KEYS = {AssetKey(list(mart.schema_table)) for mart in MARTS}


def test_every_raw_and_mart_asset_names_its_table():
    in_schemas = {k for k in GRAPH.get_all_asset_keys() if k.path[0] in {"raw", "marts"}}
    assert in_schemas
    assert in_schemas <= {node.key for node in TABLE_ASSETS}


@pytest.mark.parametrize("node", TABLE_ASSETS, ids=lambda node: node.key.to_user_string())
def test_table_asset_is_documented_for_the_catalog(node):
    name = node.key.to_user_string()
    assert node.description and len(node.description) > 40, f"{name}: no description"
    assert node.group_name and node.group_name != "default", f"{name}: no group"
    assert node.owners, f"{name}: no owner"
    assert node.kinds & {"postgres", "kafka", "polars", "sklearn", "duckdb"}, f"{name}: kinds"
    schema = node.metadata.get("dagster/column_schema")
    assert isinstance(schema, TableSchema) and schema.columns, f"{name}: no column schema"
    assert all(column.type for column in schema.columns), f"{name}: a column has no type"
    assert node.metadata["dagster/table_name"] == ".".join(node.key.path)


def test_raw_tables_and_rollups_have_a_group_each():
    groups = {node.key: node.group_name for node in TABLE_ASSETS}
    assert {groups[k] for k in groups if k.path[0] == "raw"} == {"ingestion"}
    assert {groups[k] for k in ROLLUP_KEYS} == {"rollups"}


def test_every_table_asset_is_partitioned_by_time():
    # The UI shows partition status per hour, day, week or month.
    for node in TABLE_ASSETS:
        assert node.partitions_def is not None, node.key.to_user_string()
        assert node.partitions_def.get_cron_schedule(), node.key.to_user_string()


def test_raw_assets_name_the_sensor_that_writes_them():
    sensors = {sensor.name for sensor in defs.sensors or ()}
    for node in TABLE_ASSETS:
        if node.key.path[0] != "raw":
            continue
        named = re.findall(r"`(ingest_\w+)`", node.description or "")
        assert named and set(named) <= sensors, (node.key.to_user_string(), named)
