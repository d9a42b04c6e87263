"""Replacing one window of a mart: delete the window, insert it again, in ONE transaction.

The window [start, end) is a partition's time window (or a range of partitions) as the
orchestrator hands it over; it is never recomputed here, only checked to be whole buckets
of the grain. The family's SQL template buckets rows with
`date_trunc(<grain>, occurred_at, <reporting zone>)`, so a range run writes every bucket
it covers. Nothing is visible until COMMIT: a failed run leaves the previous rows, and
re-running a window writes the same rows again.

Before that, the run brings the raw table's BRIN time index up to date over the window
(new rows are only summarized by VACUUM, and an unsummarized range matches every bucket).

Each run also records its buckets in `marts.rollup_buckets` in the same transaction:
rows, and what it read of `ingest.touched_hours` before its INSERT (the rows ingested
into the hours each bucket depends on, and their newest ingestion time). The automation
finds stale buckets by comparing that row sum with the current one: a sum, unlike a
timestamp, also changes for an ingest transaction that started before the run and
committed after it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from analytics_platform.resources.warehouse import read_sql
from analytics_platform.rollups.families import Mart

# Sorting is a large part of a rollup's work (DISTINCT, percentiles, the rows of a bucket
# in latency order); the default 4 MB spills the sorts of a busy day to disk. Per
# transaction (set_config(..., true)), so nothing else changes.
ROLLUP_WORK_MEM = "256MB"
# The sort-only templates of weeks and months (Family.long_bucket_sql) run several sorts
# at once, each up to work_mem: a month of 6.2M transactions peaked at 1.3 GB of backend
# memory with 256 MB and 0.48 GB with 64 MB, and ran faster (54 s against 64 s); the
# hashed template took 0.95 GB, growing with the bucket (about 150 bytes a transaction).
LONG_BUCKET_WORK_MEM = "64MB"


class InvalidWindowError(ValueError):
    """A window with naive (time-zone-less) bounds, or that ends before it starts."""


class WindowNotAlignedError(ValueError):
    """A window that does not start and end on bucket boundaries of the mart's grain."""


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    # Sum of ingest.touched_hours.rows_ingested over the hours the bucket depends on, as
    # the run saw it: what staleness is judged by.
    source_rows: int
    # Newest last_ingested_at of those hours the run saw (None: never): for display only,
    # since ingest transactions do not commit in the order of their timestamps.
    source_watermark: datetime | None


@dataclass(frozen=True)
class RollupResult:
    mart: Mart
    window_start: datetime
    window_end: datetime
    buckets: tuple[Bucket, ...]
    rows_deleted: int
    rows_inserted: int
    seconds: float


def render(relative: str, **parts: sql.Composable) -> sql.Composed:
    """A SQL template of `sql/` with its `{placeholders}` filled by identifiers/literals.

    Values never go through here: they stay `%(name)s` parameters of the statement.
    """
    return sql.SQL(read_sql(relative)).format(**parts)  # type: ignore[arg-type]


def mart_identifier(mart: Mart) -> sql.Identifier:
    return sql.Identifier(*mart.schema_table)


def key_list(mart: Mart) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in mart.family.key)


def window_params(mart: Mart, start: datetime, end: datetime, tz: str) -> dict[str, Any]:
    """Parameters every rollup statement takes. Bounds go over as UTC so an ambiguous local
    time (the repeated hour of a DST fall-back) cannot be misread on the way."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidWindowError(
            f"{mart.name}: window bounds must be timezone-aware datetimes, got "
            f"[{start.isoformat()}, {end.isoformat()}); pass the partition's time window"
        )
    if end <= start:
        raise InvalidWindowError(
            f"{mart.name}: empty window [{start.isoformat()}, {end.isoformat()}); the end "
            "must come after the start"
        )
    return {
        "window_start": start.astimezone(UTC),
        "window_end": end.astimezone(UTC),
        "tz": tz,
        "grain": mart.grain.unit,
        "raw_table": mart.family.raw_table,
        "lookback": mart.family.lookback,
    }


def window_buckets(
    conn: psycopg.Connection, mart: Mart, start: datetime, end: datetime, tz: str
) -> list[Bucket]:
    """The mart's buckets in [start, end) with what ingestion has committed so far into
    the hours each depends on (row sum and newest ingestion time)."""
    rows = conn.execute(
        read_sql("rollups/bookkeeping/window_buckets.sql"), window_params(mart, start, end, tz)
    )
    return [Bucket(*row) for row in rows.fetchall()]


def _check_aligned(
    mart: Mart, buckets: list[Bucket], start: datetime, end: datetime, tz: str
) -> None:
    if buckets and buckets[0].start == start and buckets[-1].end == end:
        return
    first = buckets[0].start.isoformat() if buckets else "none"
    last = buckets[-1].end.isoformat() if buckets else "none"
    raise WindowNotAlignedError(
        f"{mart.name}: window [{start.isoformat()}, {end.isoformat()}) is not made of whole "
        f"{mart.grain.unit}s in {tz} (buckets cover [{first}, {last})). Pass a partition's "
        "time window; if it is one, PostgreSQL's and Python's time zone data disagree "
        "about this zone."
    )


def materialize_window(
    conn: psycopg.Connection, mart: Mart, start: datetime, end: datetime, tz: str
) -> RollupResult:
    """Recompute the mart's rows of [start, end) from raw in one transaction.

    `tz` must be the zone the window was cut in (the partitions' reporting time zone).
    Concurrent runs of the same mart queue behind a transaction-scoped advisory lock, so
    overlapping windows never interleave their delete and insert.
    """
    started = time.perf_counter()
    params = window_params(mart, start, end, tz)
    table = mart_identifier(mart)
    # Its own short transaction: summarizing locks the raw partitions against VACUUM (and
    # other runs summarizing them), which must not last as long as the run.
    with conn.transaction():
        conn.execute(read_sql("rollups/bookkeeping/summarize_raw_index.sql"), params)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("rollup:" + mart.name,))
        work_mem = LONG_BUCKET_WORK_MEM if mart.bounded_memory else ROLLUP_WORK_MEM
        conn.execute("SELECT set_config('work_mem', %s, true)", (work_mem,))
        # Row sums before the INSERT: rows committed after this still count as new (the
        # INSERT may see them too; then the bucket only re-runs once more).
        buckets = window_buckets(conn, mart, start, end, tz)
        _check_aligned(mart, buckets, params["window_start"], params["window_end"], tz)
        deleted = conn.execute(render("rollups/bookkeeping/delete_window.sql", table=table), params)
        inserted = conn.execute(
            render(mart.sql_file, table=table, grain=sql.Literal(mart.grain.unit)),
            params,
        )
        conn.execute(
            render("rollups/bookkeeping/record_buckets.sql", table=table),
            {
                "mart": mart.name,
                "bucket_starts": [b.start for b in buckets],
                "bucket_ends": [b.end for b in buckets],
                "source_rows": [b.source_rows for b in buckets],
                "source_watermarks": [b.source_watermark for b in buckets],
            },
        )
    return RollupResult(
        mart=mart,
        window_start=start,
        window_end=end,
        buckets=tuple(buckets),
        rows_deleted=deleted.rowcount,
        rows_inserted=inserted.rowcount,
        seconds=time.perf_counter() - started,
    )


def preview(
    conn: psycopg.Connection, mart: Mart, start: datetime, end: datetime, limit: int = 10
) -> list[dict[str, str]]:
    """The window's first rows in key order, every value as text (for UI metadata)."""
    cursor = conn.execute(
        render("rollups/bookkeeping/preview.sql", table=mart_identifier(mart), key=key_list(mart)),
        {"window_start": start.astimezone(UTC), "window_end": end.astimezone(UTC), "limit": limit},
    )
    names = [d.name for d in cursor.description or ()]
    return [dict(zip(names, map(_text, row), strict=True)) for row in cursor.fetchall()]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def as_metadata(result: RollupResult) -> Mapping[str, Any]:
    """The plain facts of a run, for logs and the asset's metadata."""
    return {
        "rows": result.rows_inserted,
        "rows_replaced": result.rows_deleted,
        "buckets": len(result.buckets),
        "window_start": result.window_start.isoformat(),
        "window_end": result.window_end.isoformat(),
        "seconds": round(result.seconds, 3),
    }
