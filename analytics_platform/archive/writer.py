"""Writing one UTC month of a raw table to Parquet files and recording them.

The month is read one UTC day at a time with COPY (one partition or chunk each), parsed
by polars, and written as part files of at most `rows_per_file` rows: zstd, row groups
of at most ROW_GROUP_ROWS (100k-1M rows read fastest in DuckDB). Memory stays bounded by
one file's rows whatever the month holds. A file is recorded with its row count and time
range, taken from the rows written, and its two checksums (formula 2, checksums.py): the
sum of PostgreSQL's row hashes the COPY carried beside its rows, and DuckDB's checksum
of the written file read back (about 0.2 us a row). The files of an earlier export of
the month are deleted only after the manifest stopped pointing at them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb
import polars as pl
import psycopg
from psycopg import pq, sql

from analytics_platform.archive.checksums import CHECKSUM_VERSION, file_checksums
from analytics_platform.archive.columns import (
    RAW_HASH,
    RawColumn,
    csv_schema,
    export_select_list,
    raw_columns,
    to_parquet_frame,
)
from analytics_platform.archive.manifest import (
    ArchivedFile,
    month_source_rows,
    record_archive,
    table_archive_lock,
)
from analytics_platform.archive.months import days
from analytics_platform.archive.store import ArchiveStore, file_key
from analytics_platform.resources.warehouse import read_sql

ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 500_000
# Level 1 against 3: about a tenth less CPU for the write, files about 6% larger (still
# about an eighth of the raw table's bytes).
ZSTD_LEVEL = 1
# Days whose COPY may be queued ahead of the one being written (each at most a day's CSV).
DAYS_AHEAD = 3

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
    with table_archive_lock(conn, table):
        return _archive_month(conn, store, table, month, rows_per_file, progress)


def _archive_month(
    conn: psycopg.Connection,
    store: ArchiveStore,
    table: str,
    month: date,
    rows_per_file: int,
    progress: Callable[[str], None],
) -> ArchiveResult:
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
    try:
        with duckdb.connect() as duck:
            writer = _FileWriter(store, duck, table, month, run, columns)
            _write_month(conn, writer, statement, columns, rows_per_file, files, progress)
        replaced = record_archive(conn, table, month, source_rows, files)
    except BaseException:
        # Files of a run that was not recorded are nobody's: remove them (readers go by
        # the manifest and never see them, but a folder listing would).
        for f in files:
            store.delete(f.path)
        raise
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


def _write_month(
    conn: psycopg.Connection,
    writer: _FileWriter,
    statement: sql.Composed,
    columns: list[RawColumn],
    rows_per_file: int,
    files: list[ArchivedFile],
    progress: Callable[[str], None],
) -> None:
    """Export the month day by day into part files, appending each published file."""
    pending: list[pl.DataFrame] = []
    pending_rows = 0
    table, month = writer.table, writer.month
    day_ranges = days(month)
    # One thread only fetches: the next days' COPY runs on the server (up to DAYS_AHEAD
    # queued on the connection) while this thread parses, converts and writes (polars
    # releases the GIL). Parsing here, not in the fetching thread, keeps the server busy
    # during a file's write: measured on 1M rows, the COPY thread was the critical path
    # (COPY then parse, 3.8 s) while this one waited for it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-export") as prefetch:
        fetches = deque(
            prefetch.submit(_copy_out, conn, statement, {"start": start, "end": end})
            for start, end in day_ranges[:DAYS_AHEAD]
        )
        try:
            for index, (day_start, _) in enumerate(day_ranges):
                frame = _parse(fetches.popleft().result(), columns)
                if index + DAYS_AHEAD < len(day_ranges):
                    start, end = day_ranges[index + DAYS_AHEAD]
                    fetches.append(
                        prefetch.submit(_copy_out, conn, statement, {"start": start, "end": end})
                    )
                if frame.height == 0:
                    continue
                where = f"raw.{table} {day_start.date()}"
                pending.append(to_parquet_frame(frame, columns, where))
                pending_rows += frame.height
                while pending_rows >= rows_per_file:
                    whole = pl.concat(pending)
                    head, rest = whole.head(rows_per_file), whole.slice(rows_per_file)
                    files.append(writer.write(len(files), head))
                    pending, pending_rows = ([rest] if rest.height else []), rest.height
                    written = sum(f.rows for f in files)
                    progress(f"raw.{table} {month:%Y-%m}: {written:,} rows written")
        finally:
            for fetch in fetches:  # after a failure: no more COPYs for nothing
                fetch.cancel()
    if pending_rows:
        files.append(writer.write(len(files), pl.concat(pending)))


def _parse(buffer: bytes, columns: list[RawColumn]) -> pl.DataFrame:
    schema = csv_schema(columns)
    if not buffer:
        return pl.DataFrame(schema=schema)
    # PostgreSQL's CSV: an unquoted empty field is NULL, a quoted one an empty string,
    # which is how polars reads them too.
    return pl.read_csv(buffer, has_header=False, new_columns=list(schema), schema=schema)


def _copy_out(conn: psycopg.Connection, statement: sql.Composed, params: dict[str, Any]) -> bytes:
    """The output of a COPY ... TO STDOUT, read with libpq directly.

    psycopg's Copy iterator costs about 7 us a row in Python (one generator round per
    row), more than the whole export may spend; libpq's blocking read is a fraction of
    that. The values are bound the way psycopg binds COPY's (client-side literals).
    """
    if conn.info.transaction_status != pq.TransactionStatus.IDLE or not conn.autocommit:
        # The low-level path bypasses psycopg's transaction bookkeeping.
        with conn.cursor() as cursor, cursor.copy(statement, params) as copy:
            return b"".join(bytes(chunk) for chunk in copy)
    query = sql.SQL(statement.as_string(conn).replace("%%", "%"))
    rendered = psycopg.ClientCursor(conn).mogrify(query.as_string(conn), params)
    pgconn = conn.pgconn
    with conn.lock:
        pgconn.send_query(rendered.encode())
        result = pgconn.get_result()
        if result is None or result.status != pq.ExecStatus.COPY_OUT:
            error = result.error_message.decode(errors="replace") if result else "no result"
            _drain(pgconn)
            raise psycopg.DatabaseError(f"archive export failed: {error.strip()}")
        chunks = []
        while True:
            size, data = pgconn.get_copy_data(0)
            if size < 0:
                break
            chunks.append(bytes(data))
        final = pgconn.get_result()
        _drain(pgconn)
        if final is not None and final.status != pq.ExecStatus.COMMAND_OK:
            error = final.error_message.decode(errors="replace")
            raise psycopg.DatabaseError(f"archive export failed: {error.strip()}")
    return b"".join(chunks)


def _drain(pgconn: pq.abc.PGconn) -> None:
    while pgconn.get_result() is not None:
        pass


@dataclass(frozen=True)
class _FileWriter:
    """Writes the part files of one export and takes their checksums."""

    store: ArchiveStore
    duck: duckdb.DuckDBPyConnection
    table: str
    month: date
    run: str
    columns: list[RawColumn]

    def write(self, number: int, frame: pl.DataFrame) -> ArchivedFile:
        """Publish `frame` (Parquet's types, plus RAW_HASH) as part file `number`."""
        key = file_key(self.table, self.month, self.run, number)
        staged = self.store.staging_path(key)
        lowest, highest = frame["occurred_at"].min(), frame["occurred_at"].max()
        assert isinstance(lowest, datetime) and isinstance(highest, datetime)  # never empty
        raw_checksum = _exact_sum(frame[RAW_HASH])
        try:
            frame.drop(RAW_HASH).write_parquet(
                staged,
                compression="zstd",
                compression_level=ZSTD_LEVEL,
                row_group_size=ROW_GROUP_ROWS,
                statistics=True,
            )
            rows, checksum = file_checksums(self.duck, [str(staged)], self.columns)[str(staged)]
            if rows != frame.height:
                raise OSError(f"{staged} holds {rows} rows after writing {frame.height}")
            size = self.store.publish(staged, key)
        finally:
            staged.unlink(missing_ok=True)
        return ArchivedFile(
            key,
            frame.height,
            size,
            lowest,
            highest,
            checksum=checksum,
            checksum_version=CHECKSUM_VERSION,
            raw_checksum=raw_checksum,
        )


def _exact_sum(hashes: pl.Series) -> int:
    """The sum of 64-bit integers without overflow: polars sums Int64 in Int64, so the
    high and low 32 bits are summed apart (each sum fits in 64 bits for 2^31 rows)."""
    high = hashes // (1 << 32)  # floor division: low stays in [0, 2^32)
    low = hashes - high * (1 << 32)
    return int(high.sum()) * (1 << 32) + int(low.sum())
