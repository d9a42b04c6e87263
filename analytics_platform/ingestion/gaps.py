"""Offsets Kafka deleted before ingestion read them: listing and acknowledging them."""

from __future__ import annotations

import getpass

import psycopg

from analytics_platform.resources.warehouse import read_sql


class NoGapError(LookupError):
    """There is no unacknowledged gap for that topic and partition."""


def acknowledge_gap(
    conn: psycopg.Connection, consumer_group: str, topic: str, partition: int, by: str | None = None
) -> list[tuple[int, int]]:
    """Mark the partition's gaps acknowledged and move its stored offset past them."""
    with conn.transaction():
        ranges = conn.execute(
            read_sql("ingest/acknowledge_gap.sql"),
            {
                "consumer_group": consumer_group,
                "topic": topic,
                "partition": partition,
                "by": by or getpass.getuser(),
            },
        ).fetchall()
    if not ranges:
        raise NoGapError(
            f"no unacknowledged gap for {topic} [{partition}] (consumer group "
            f"{consumer_group}); `analytics-platform ingest status` lists the gaps"
        )
    return [(lo, hi) for lo, hi in ranges]


def list_gaps(
    conn: psycopg.Connection, consumer_group: str, include_acknowledged: bool = False
) -> list[tuple]:
    return conn.execute(
        "SELECT topic, partition, lost_from, lost_to, detected_at, acknowledged_at, "
        "acknowledged_by FROM ingest.gaps "
        "WHERE consumer_group = %s AND (%s OR acknowledged_at IS NULL) "
        "ORDER BY topic, partition, lost_from",
        (consumer_group, include_acknowledged),
    ).fetchall()
