"""The same content checksum computed on both sides: raw table and Parquet files.

A month's checksum is the sum over its rows of a 60-bit hash of each row's canonical
text (columns.py), so it does not depend on row order, and the checksums of a month's
files add up to the month's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import psycopg
from psycopg import sql

from analytics_platform.archive.columns import RawColumn, duckdb_row_hash, postgres_row_hash
from analytics_platform.archive.manifest import month_params
from analytics_platform.resources.warehouse import read_sql

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Content:
    rows: int
    checksum: int
    min_occurred_at: datetime | None
    max_occurred_at: datetime | None


def raw_month_content(
    conn: psycopg.Connection, table: str, columns: list[RawColumn], month: date
) -> Content:
    """Rows and checksum of raw.<table> over the UTC month."""
    statement = sql.SQL(read_sql("archive/raw_month_checksum.sql")).format(
        row_hash=postgres_row_hash(columns), table=sql.Identifier("raw", table)
    )
    row = conn.execute(statement, month_params(table, month)).fetchone()
    assert row is not None  # an aggregate always returns a row
    return Content(int(row[0]), int(row[1]), row[2], row[3])


def parquet_content(locations: list[str], columns: list[RawColumn]) -> Content:
    """Rows and checksum of Parquet files, read back with DuckDB."""
    if not locations:
        return Content(0, 0, None, None)
    statement = read_sql("archive/parquet_checksum.sql").replace(
        "{row_hash}", duckdb_row_hash(columns)
    )
    with duckdb.connect() as con:
        row = con.execute(statement, {"files": locations}).fetchone()
    assert row is not None
    return Content(int(row[0]), int(row[1]), _from_epoch_us(row[2]), _from_epoch_us(row[3]))


def _from_epoch_us(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)
