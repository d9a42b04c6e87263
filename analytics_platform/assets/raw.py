"""The raw tables as Dagster assets: external (ingestion sensors write them), hourly.

Their column schemas are derived from the event contract so the UI never drifts from
what ingestion writes.
"""

from __future__ import annotations

import msgspec
from dagster import AssetKey, AssetSpec, TableColumn, TableColumnConstraints, TableSchema

from analytics_platform.events import SOURCE_COLUMNS, TOPICS, TopicSpec
from analytics_platform.partitions import raw_hourly_partitions

_PG_TYPES: dict[type, str] = {
    msgspec.inspect.UUIDType: "uuid",
    msgspec.inspect.DateTimeType: "timestamptz",
    msgspec.inspect.DecimalType: "numeric",
    msgspec.inspect.IntType: "integer",
    msgspec.inspect.StrType: "text",
    msgspec.inspect.LiteralType: "text",
    msgspec.inspect.DictType: "jsonb",
}


def _column(field: msgspec.inspect.Field) -> TableColumn:
    info = field.type
    nullable = isinstance(info, msgspec.inspect.UnionType)
    if nullable:
        info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    description = ""
    if isinstance(info, msgspec.inspect.LiteralType):
        description = "one of " + ", ".join(map(str, info.values))
    return TableColumn(
        name=field.name,
        type=_PG_TYPES.get(type(info), "text"),
        description=description or None,
        constraints=TableColumnConstraints(nullable=nullable),
    )


def raw_column_schema(spec: TopicSpec) -> TableSchema:
    struct = msgspec.inspect.type_info(spec.schema)
    assert isinstance(struct, msgspec.inspect.StructType)
    columns = [_column(f) for f in struct.fields]
    not_null = TableColumnConstraints(nullable=False)
    columns += [
        TableColumn(
            SOURCE_COLUMNS[0], "integer", "Kafka partition the event was read from", not_null
        ),
        TableColumn(SOURCE_COLUMNS[1], "bigint", "Kafka offset of the event", not_null),
        TableColumn("ingested_at", "timestamptz", "when ingestion wrote the row", not_null),
    ]
    return TableSchema(columns=columns)


def raw_asset_key(spec: TopicSpec) -> AssetKey:
    schema, table = spec.table.split(".")
    return AssetKey([schema, table])


def raw_asset_spec(spec: TopicSpec) -> AssetSpec:
    return AssetSpec(
        key=raw_asset_key(spec),
        description=(
            f"`{spec.table}`: one row per valid event of Kafka topic `<prefix>{spec.name}`, "
            "keyed by (event_id, occurred_at); duplicates are dropped on insert. "
            "Hourly partitions by event time (occurred_at) in the reporting time zone; "
            "ingestion reports a materialization for every hour a batch touched."
        ),
        group_name="ingestion",
        kinds={"postgres", "kafka"},
        owners=["team:data-engineering"],
        partitions_def=raw_hourly_partitions,
        metadata={
            "dagster/column_schema": raw_column_schema(spec),
            "dagster/table_name": spec.table,
            "kafka_topic_short_name": spec.name,
        },
    )


raw_assets = [raw_asset_spec(spec) for spec in TOPICS.values()]
