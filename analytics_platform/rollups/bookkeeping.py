"""Which mart buckets need (re)computing, from the database's own records. No Dagster.

`marts.rollup_buckets` holds what every run wrote and the ingestion watermark it read;
`ingest.touched_hours` holds when ingestion last wrote each raw hour. Comparing them
finds buckets never materialized and buckets that late events made stale, at any age.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import psycopg

from analytics_platform.resources.warehouse import read_sql
from analytics_platform.rollups.families import Mart

Reason = Literal["missing", "stale"]


@dataclass(frozen=True)
class DueBucket:
    """A bucket of a mart that should be (re)computed, and why."""

    mart: Mart
    start: datetime
    end: datetime
    reason: Reason
    # The newest write into the bucket's raw hours (None: nothing ingested there).
    last_ingested_at: datetime | None


def due_buckets(
    conn: psycopg.Connection, mart: Mart, tz: str, closed_before: datetime
) -> list[DueBucket]:
    """Closed buckets (ending at or before `closed_before`) of the mart that are missing or
    stale, oldest first. Buckets before the first hour ingestion ever wrote for the
    mart's raw table are not considered: there is nothing to compute there."""
    rows = conn.execute(
        read_sql("rollups/bookkeeping/due_buckets.sql"),
        {
            "mart": mart.name,
            "raw_table": mart.family.raw_table,
            "grain": mart.grain.unit,
            "lookback": mart.family.lookback,
            "tz": tz,
            "closed_before": closed_before.astimezone(UTC),
        },
    ).fetchall()
    return [DueBucket(mart, start, end, reason, last) for start, end, reason, last in rows]
