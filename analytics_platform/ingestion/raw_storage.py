"""Keeping raw tables ready for the data: partitions ahead of it, retention behind it.

Thin wrappers over the SQL functions of sql/migrations/002_raw_partitioning.sql, which
are no-ops or `drop_chunks` on TimescaleDB hypertables.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from analytics_platform.events import TOPICS


def raw_table_names() -> list[str]:
    """Unqualified names of the raw tables (`transactions`, ...)."""
    return [spec.table.removeprefix("raw.") for spec in TOPICS.values()]


def ensure_raw_partitions(
    conn: psycopg.Connection, table: str, start: datetime, end: datetime
) -> int:
    """Create the missing daily partitions of raw.<table> covering [start, end]."""
    row = conn.execute(
        "SELECT ingest.ensure_raw_partitions(%s, %s, %s)", (table, start, end)
    ).fetchone()
    return int(row[0]) if row else 0


def ensure_partitions_ahead(conn: psycopg.Connection, now: datetime, days_ahead: int) -> int:
    """Partitions for every raw table from yesterday to `days_ahead` days ahead of `now`."""
    start, end = now - timedelta(days=1), now + timedelta(days=days_ahead)
    return sum(ensure_raw_partitions(conn, t, start, end) for t in raw_table_names())


def drop_raw_data_before(conn: psycopg.Connection, table: str, before: datetime) -> list[str]:
    """Drop whole partitions (or chunks) of raw.<table> that end at or before `before`."""
    rows = conn.execute(
        "SELECT * FROM ingest.drop_raw_data_before(%s, %s)", (table, before)
    ).fetchall()
    return [r[0] for r in rows]
