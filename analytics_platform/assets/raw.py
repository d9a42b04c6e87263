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


# What the catalog says about the columns whose meaning the name does not carry alone.
_COLUMN_DESCRIPTIONS = {
    "event_id": "the event's UUID; with occurred_at the idempotency key (repeats are dropped)",
    "occurred_at": "event time (sent with its UTC offset); partitions and buckets are cut on it",
    "schema_version": "version of the event's schema",
    "amount": "amount in `currency` (> 0; NUMERIC, never a float)",
    "balance": "wallet balance after the change, in `currency`",
    "change_amount": "amount of the change (> 0), in `currency`",
    "currency": "ISO 4217 code",
    "failure_reason": "why the transaction failed (set when status is FAILED)",
    "processing_ms": "time the payment took to process, in milliseconds",
    "latency_ms": "time the merchant's endpoint took to answer, in milliseconds",
    "metadata": "free-form JSON the producer attached",
}


def _column(field: msgspec.inspect.Field) -> TableColumn:
    info = field.type
    nullable = isinstance(info, msgspec.inspect.UnionType)
    if nullable:
        info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    description = _COLUMN_DESCRIPTIONS.get(field.name, "")
    if isinstance(info, msgspec.inspect.LiteralType):
        choices = "one of " + ", ".join(map(str, info.values))
        description = f"{description}; {choices}" if description else choices
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
            "ingestion reports a materialization for every hour a batch touched (rows, "
            "newest event time, the batch's duplicates and dead letters), and every tick "
            f"of the sensor `ingest_{spec.table.removeprefix('raw.')}` an observation of "
            "the consumer lag (`consumer_lag`, total and per partition), plotted over time "
            "on the Events tab. Rejected messages are in `ingest.dead_letters`."
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
