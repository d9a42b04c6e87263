"""The generator's events written straight into the raw tables, without Kafka.

For fixtures and benchmarks that need realistic raw data but do not measure ingestion:
every event goes through the event contract's decoder and the ingestion loader's
`insert_rows` (duplicates dropped, touched hours recorded), so the rollups and the API
see exactly what ingestion would have left.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from analytics_platform.dev.generator import GeneratorConfig, generate_events
from analytics_platform.events import TOPICS, EventDecoder, RejectedEvent
from analytics_platform.ingestion.loader import RawLoader

# Rows per transaction: large enough to be quick, small enough to stay modest in memory.
_BATCH_ROWS = 100_000


def load_generated_rows(
    url: str,
    config: GeneratorConfig,
    now: datetime,
    reporting_tz: ZoneInfo,
    topics: Collection[str] = tuple(TOPICS),
    consumer_group: str = "generated",
) -> dict[str, int]:
    """Insert the events `config` generates before `now` of `topics`; rows per topic.

    Kafka partition and offset are 0 and the event's position in its topic. The broken
    messages the generator mixes in (`malformed_fraction`) are left out, as ingestion
    dead-letters them.
    """
    decoders = {
        name: EventDecoder(TOPICS[name], datetime(2024, 1, 1, tzinfo=UTC), timedelta(minutes=5))
        for name in topics
    }
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in topics}
    for event in generate_events(config):
        if event.topic not in rows or event.occurred_at >= now:
            continue
        batch = rows[event.topic]
        try:
            decoded = decoders[event.topic].decode(event.value, now)
        except RejectedEvent:
            continue
        batch.append((*decoded, 0, len(batch)))
    with psycopg.connect(url, autocommit=True) as conn:
        for name, topic_rows in rows.items():
            spec = TOPICS[name]
            loader = RawLoader(spec, spec.name, consumer_group, decoders[name], reporting_tz)
            for first in range(0, len(topic_rows), _BATCH_ROWS):
                batch = topic_rows[first : first + _BATCH_ROWS]
                loader.ensure_partitions(conn, batch)
                with conn.transaction():
                    loader.insert_rows(conn, batch)
    return {name: len(topic_rows) for name, topic_rows in rows.items()}
