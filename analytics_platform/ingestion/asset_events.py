"""What ingestion tells Dagster: a materialization per raw hour touched, lag over time,
and what each sensor tick did."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from dagster import AssetMaterialization, AssetObservation, MetadataValue

from analytics_platform.assets.raw import raw_asset_key
from analytics_platform.events import topic_spec
from analytics_platform.ingestion.loader import BatchResult
from analytics_platform.ingestion.runner import IngestReport, TopicState
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


@dataclass(frozen=True)
class TickOutcome:
    """What one ingest sensor tick did, as the Dagster UI's tick history shows it.

    A tick that ingests inline requests no run, so Dagster records it as SKIPPED: the
    `message` (its skip reason, and a line in the tick's log) is where the UI says what
    it did. The `cursor` holds the same facts as JSON; Dagster stores it on the tick and
    as the sensor's cursor, so the latest tick's summary is always on the sensor page.
    """

    message: str
    cursor: str


def _cursor(outcome: str, short_name: str, **facts: object) -> str:
    counts = {
        "messages": 0,
        "rows": 0,
        "duplicates": 0,
        "dead_letters": 0,
        "hours_touched": 0,
    }
    return json.dumps(
        {"outcome": outcome, "topic": short_name, **counts, **facts}, separators=(",", ":")
    )


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def ingested_outcome(short_name: str, report: IngestReport) -> TickOutcome:
    """An inline tick: rows, hours, duplicates, dead letters, the newest event, lag left."""
    result = report.result
    table = topic_spec(short_name).table
    latest = result.max_occurred_at
    message = (
        f"ingested {_plural(result.rows_inserted, 'row')} into "
        f"{_plural(len(result.hours), 'hour')} of {table} from "
        f"{_plural(result.messages, 'message')}: "
        f"{_plural(result.duplicates, 'duplicate')} dropped, "
        f"{_plural(result.dead_letters, 'dead letter')}"
        + (f"; latest event {latest.isoformat(timespec='seconds')}" if latest else "")
        + f"; lag {report.remaining:,} after {report.seconds:.1f} s ({report.stopped_because})"
    )
    return TickOutcome(
        message,
        _cursor(
            "ingested",
            short_name,
            messages=result.messages,
            rows=result.rows_inserted,
            duplicates=result.duplicates,
            dead_letters=result.dead_letters,
            hours_touched=len(result.hours),
            max_event_time=latest.isoformat() if latest else None,
            lag=report.remaining,
            seconds=round(report.seconds, 3),
        ),
    )


def idle_outcome(short_name: str, state: TopicState) -> TickOutcome:
    """Nothing new on the topic."""
    return TickOutcome(
        f"{short_name}: no new messages (lag 0 over {_plural(len(state.watermarks), 'partition')})",
        _cursor("idle", short_name, lag=0),
    )


def catch_up_requested_outcome(
    short_name: str, state: TopicState, threshold: int, run_key: str
) -> TickOutcome:
    """Lag above the threshold: the tick requests a catch-up run instead of ingesting."""
    return TickOutcome(
        f"{short_name}: lag {state.lag:,} exceeds the catch-up threshold of {threshold:,}; "
        f"requested an ingest_catch_up run (run key {run_key})",
        _cursor("catch_up_requested", short_name, lag=state.lag, run_key=run_key),
    )


def catch_up_running_outcome(short_name: str, run_id: str) -> TickOutcome:
    """A catch-up run still owns the topic: the tick leaves it alone."""
    return TickOutcome(
        f"catch-up run {run_id} is ingesting {short_name}; inline ingestion resumes when it ends",
        _cursor("catch_up_running", short_name, run_id=run_id),
    )
