"""The itemized export's archived rows: the part of a window whose raw rows retention
dropped, read from the archive's Parquet files and printed by PostgreSQL like raw rows.

The export splits its window into UTC days (segments), each sorted on its own. Where no
dropped file holds rows, a day is the plain export query over the raw rows. Elsewhere the
dropped files' rows of that day are read (polars), copied into a temporary table with the
raw table's types, and the same export query runs over raw and that table together
(export_rows_with_archive.sql), in occurred_at order. PostgreSQL prints both, so a dropped
month exports byte for byte as it did before the drop; memory holds one day of rows at a
time. All of it runs in the export's worker thread, on its synchronous connection
(api/transaction_export.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import polars as pl
from psycopg import Connection, sql

from analytics_platform.archive.columns import SCALE_SUFFIX
from analytics_platform.archive.store import ArchiveStore

STAGED_TABLE = "export_archived"
# The export view's columns, as the Parquet files hold them (plus the money's own scale).
_COLUMNS = (
    "occurred_at",
    "ingested_at",
    "event_id",
    "transaction_id",
    "user_id",
    "merchant_id",
    "recipient_id",
    "amount",
    "currency",
    "transaction_type",
    "category",
    "status",
    "payment_method",
    "failure_reason",
    "retry_count",
    "processing_ms",
)
_STAGED_COLUMNS = (*_COLUMNS, "amount" + SCALE_SUFFIX)
_TIMES = ("occurred_at", "ingested_at")
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Segment:
    """A part of the export window; `files` are the dropped files holding rows in it."""

    start: datetime
    end: datetime
    files: tuple[str, ...]


def dropped_files(
    conn: Connection, start: datetime, end: datetime
) -> list[tuple[str, datetime, datetime]]:
    """(path, min, max occurred_at) of the transaction files whose raw rows were dropped."""
    cursor = conn.execute(
        "SELECT path, min_occurred_at, max_occurred_at FROM api.dropped_transaction_files(%s, %s)",
        (start, end),
    )
    return [(path, low, high) for path, low, high in cursor.fetchall()]


def segments(
    start: datetime, end: datetime, files: Sequence[tuple[str, datetime, datetime]]
) -> list[Segment]:
    """[start, end) cut into UTC days; `files` are the dropped files holding rows in each.

    Days, also where no dropped file holds rows: each day's rows are sorted on their own,
    in memory, and stream as soon as that day is sorted. One segment for a month made
    PostgreSQL sort the whole month on disk (an external merge of 6M rows) before the
    first row left."""
    cuts = [start]
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + _DAY
    while day < end:
        cuts.append(day)
        day += _DAY
    cuts.append(end)
    result: list[Segment] = []
    for low, high in pairwise(cuts):
        holding = tuple(path for path, first, last in files if first < high and last >= low)
        result.append(Segment(low, high, holding))
    return result


def read_segment(store: ArchiveStore, segment: Segment, merchant_id: str | None) -> pl.DataFrame:
    """The segment's archived rows (a merchant's only, when given) as CSV-ready text for
    COPY: instants in UTC with microseconds, money at the files' scale of 18."""
    rows = pl.scan_parquet([store.read_location(path) for path in segment.files]).filter(
        (pl.col("occurred_at") >= segment.start) & (pl.col("occurred_at") < segment.end)
    )
    if merchant_id is not None:
        rows = rows.filter(pl.col("merchant_id") == merchant_id)
    return (
        rows.select(list(_STAGED_COLUMNS))
        # The same event archived twice (replayed after its month was dropped, then
        # dropped again) is one transaction.
        .unique(subset=["event_id", "occurred_at"], keep="first")
        .with_columns(
            *(pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ") for c in _TIMES),
            pl.col("amount").cast(pl.String),
        )
        .collect()
    )


def create_staging(conn: Connection) -> None:
    """The temporary table the archived rows are copied into, typed like the export view
    (dropped when the export's transaction ends)."""
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} ON COMMIT DROP AS"
            " SELECT {}, 0 AS {} FROM api.export_transactions WITH NO DATA"
        ).format(
            sql.Identifier(STAGED_TABLE),
            sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
            sql.Identifier("amount" + SCALE_SUFFIX),
        )
    )


def stage(conn: Connection, frame: pl.DataFrame) -> None:
    """Replace the staged rows with `frame`'s."""
    table = sql.Identifier("pg_temp", STAGED_TABLE)
    conn.execute(sql.SQL("TRUNCATE {}").format(table))
    # Strings quoted, NULL bare: COPY tells an empty string from a NULL that way.
    text = frame.write_csv(include_header=False, quote_style="non_numeric", null_value="")
    copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        table, sql.SQL(", ").join(map(sql.Identifier, _STAGED_COLUMNS))
    )
    with conn.cursor().copy(copy) as target:
        target.write(text.encode())
