"""What ingestion tells Dagster: a materialization per raw hour touched, lag over time."""

from __future__ import annotations

import json
import time

from dagster import AssetMaterialization, AssetObservation, MetadataValue

from analytics_platform.assets.raw import raw_asset_key
from analytics_platform.events import topic_spec
from analytics_platform.ingestion.loader import BatchResult
from analytics_platform.ingestion.runner import TopicState
from analytics_platform.partitions import raw_hourly_partitions


def hour_materializations(short_name: str, result: BatchResult) -> list[AssetMaterialization]:
    """One materialization per hourly partition of the raw asset that received rows.

    Hours beyond the current one (producer clocks up to the allowed skew ahead) have no
    partition yet; their rows are counted on the latest hour's event instead of lost.
    """
    key = raw_asset_key(topic_spec(short_name))
    last_key = raw_hourly_partitions.get_last_partition_key()
    events = []
    for hour in sorted(result.hours.values(), key=lambda h: h.hour_start):
        partition = raw_hourly_partitions.get_partition_key_for_timestamp(
            hour.hour_start.timestamp()
        )
        if last_key is not None and partition > last_key:
            partition = last_key
        events.append(
            AssetMaterialization(
                asset_key=key,
                partition=partition,
                description="rows ingested from Kafka",
                metadata={
                    "rows": MetadataValue.int(hour.rows),
                    "max_event_time": MetadataValue.text(hour.max_occurred_at.isoformat()),
                    "batch_messages": MetadataValue.int(result.messages),
                    "batch_duplicates_dropped": MetadataValue.int(result.duplicates),
                    "batch_dead_letters": MetadataValue.int(result.dead_letters),
                },
            )
        )
    return events


def lag_observation(
    short_name: str, state: TopicState, after: int | None = None
) -> AssetObservation:
    """Consumer lag of the topic, recorded on the raw asset so the UI plots it over time."""
    metadata = {
        "consumer_lag": MetadataValue.int(state.lag if after is None else after),
        "lag_before_tick": MetadataValue.int(state.lag),
        "partitions": MetadataValue.int(len(state.watermarks)),
        "lag_by_partition": MetadataValue.json(
            {str(p): lag for p, lag in state.lag_by_partition().items() if lag}
        ),
        "observed_at": MetadataValue.timestamp(time.time()),
    }
    return AssetObservation(asset_key=raw_asset_key(topic_spec(short_name)), metadata=metadata)


def tick_summary(short_name: str, result: BatchResult, remaining: int) -> str:
    return json.dumps(
        {
            "topic": short_name,
            "messages": result.messages,
            "rows": result.rows_inserted,
            "duplicates": result.duplicates,
            "dead_letters": result.dead_letters,
            "hours_touched": len(result.hours),
            "lag": remaining,
        }
    )
