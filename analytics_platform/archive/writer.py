"""Writing one UTC month of a raw table to Parquet files and recording them.

The month is read one UTC day at a time with COPY (one partition or chunk each), parsed
by polars, and written as part files of at most `rows_per_file` rows: zstd, row groups
of at most ROW_GROUP_ROWS (100k-1M rows read fastest in DuckDB). Memory stays bounded by
one file's rows whatever the month holds. Each file is read back with DuckDB for its
count and checksum before it is published and recorded; the files of an earlier export
of the month are deleted only after the manifest stopped pointing at them.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl
import psycopg
from psycopg import sql

from analytics_platform.archive.checksums import parquet_content
from analytics_platform.archive.columns import (
    RawColumn,
    csv_schema,
    export_select_list,
    raw_columns,
    to_parquet_frame,
)
from analytics_platform.archive.manifest import ArchivedFile, month_source_rows, record_archive
from analytics_platform.archive.months import days
from analytics_platform.archive.store import ArchiveStore, file_key
from analytics_platform.resources.warehouse import read_sql

ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 500_000
ZSTD_LEVEL = 3

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveResult:
    table: str
    month: date
    files: tuple[ArchivedFile, ...]
    replaced: tuple[str, ...]
    source_rows: int
    seconds: float

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def checksum(self) -> int:
        return sum(f.checksum for f in self.files)


def archive_month(
    conn: psycopg.Connection,
    store: ArchiveStore,
    table: str,
    month: date,
    rows_per_file: int = ROWS_PER_FILE,
    progress: Callable[[str], None] = log.info,
) -> ArchiveResult:
    """Write the raw rows of `table` in the UTC `month` to Parquet and record them.

    Re-running a month replaces the files that mirror raw rows; files whose raw rows
    retention already dropped are kept (they are the only copy), and the new export
    holds only what raw has now, so together they are the month.
    """
    started = time.perf_counter()
    columns = raw_columns(conn, table)
    # Read before the export: rows committed while it runs raise the sum again later,
    # so the month is seen as changed and archived once more.
    source_rows = month_source_rows(conn, table, month)
    run = uuid.uuid4().hex[:8]
    statement = sql.SQL(read_sql("archive/export_rows.sql")).format(
        columns=export_select_list(columns), table=sql.Identifier("raw", table)
    )
    files: list[ArchivedFile] = []
    pending: list[pl.DataFrame] = []
    pending_rows = 0
    for day_start, day_end in days(month):
        frame = _export(conn, statement, columns, day_start, day_end)
        if frame.height == 0:
            continue
        pending.append(to_parquet_frame(frame, columns, f"raw.{table} {day_start.date()}"))
        pending_rows += frame.height
        while pending_rows >= rows_per_file:
            whole = pl.concat(pending)
            head, rest = whole.head(rows_per_file), whole.slice(rows_per_file)
            files.append(_write_file(store, table, month, run, len(files), head, columns))
            pending, pending_rows = ([rest] if rest.height else []), rest.height
            progress(f"raw.{table} {month:%Y-%m}: {sum(f.rows for f in files):,} rows written")
    if pending_rows:
        files.append(_write_file(store, table, month, run, len(files), pl.concat(pending), columns))
    replaced = record_archive(conn, table, month, source_rows, files)
    for key in replaced:
        store.delete(key)
    result = ArchiveResult(
        table, month, tuple(files), tuple(replaced), source_rows, time.perf_counter() - started
    )
    progress(
        f"raw.{table} {month:%Y-%m}: archived {result.rows:,} rows in {len(files)} file(s), "
        f"{result.bytes:,} bytes, {result.seconds:.1f} s"
    )
    return result


def _export(
    conn: psycopg.Connection,
    statement: sql.Composed,
    columns: list[RawColumn],
    start: object,
    end: object,
) -> pl.DataFrame:
    buffer = io.BytesIO()
    with conn.cursor() as cursor, cursor.copy(statement, {"start": start, "end": end}) as copy:
        for chunk in copy:
            buffer.write(chunk)
    schema = csv_schema(columns)
    if buffer.tell() == 0:
        return pl.DataFrame(schema=schema)
    buffer.seek(0)
    # PostgreSQL's CSV: an unquoted empty field is NULL, a quoted one an empty string.
    return pl.read_csv(
        buffer,
        has_header=False,
        new_columns=list(schema),
        schema=schema,
    )


def _write_file(
    store: ArchiveStore,
    table: str,
    month: date,
    run: str,
    number: int,
    frame: pl.DataFrame,
    columns: list[RawColumn],
) -> ArchivedFile:
    key = file_key(table, month, run, number)
    staged = store.staging_path(key)
    frame.write_parquet(
        staged,
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        row_group_size=ROW_GROUP_ROWS,
        statistics=True,
    )
    # Read back before publishing: the recorded checksum is what a reader gets.
    content = parquet_content([str(staged)], columns)
    if content.rows != frame.height:
        raise OSError(f"{staged}: wrote {frame.height} rows but read back {content.rows}")
    size = store.publish(staged, key)
    assert content.min_occurred_at is not None and content.max_occurred_at is not None
    return ArchivedFile(
        key, content.rows, size, content.min_occurred_at, content.max_occurred_at, content.checksum
    )
