"""Which mart buckets need (re)computing, from the database's own records. No Dagster.

`marts.rollup_buckets` holds what every run wrote and, per bucket, how many rows
ingestion had committed into the raw hours the bucket depends on when the run read them;
`ingest.touched_hours` holds the rows ingested per raw hour so far. Comparing them finds
buckets never materialized and buckets that late events made stale, at any age. Row sums,
not ingestion times: an ingest transaction that started before a run and committed after
it carries an older time than the run saw, but it still adds to the sum.
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
    # The newest write into the raw hours the bucket depends on, lookback included
    # (None: nothing ingested there). For display: staleness is judged by row sums.
    last_ingested_at: datetime | None


def due_buckets(
    conn: psycopg.Connection, mart: Mart, tz: str, closed_before: datetime
) -> list[DueBucket]:
    """Closed buckets (ending at or before `closed_before`) of the mart that are missing or
    stale, oldest first. Buckets before the first hour ingestion ever wrote for the
    mart's raw table are not considered: there is nothing to compute there. A recorded
    bucket is stale when the rows ingested into its hours (and its family's lookback
    before them) differ from what its last run read; see `due_buckets.sql`."""
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
