"""Content checksums of the raw table and of the Parquet files.

Every formula sums 64-bit (formula 1: 60-bit) row hashes, so a checksum does not depend
on row order, the checksums of a month's files add up to the month's, and each engine
computes its side in parallel.

- Formula 2 (CHECKSUM_VERSION, what the writer records): two numbers per file, both
  taken by the export itself. `raw_checksum`: PostgreSQL's hash of each raw row the file
  holds (`hash_record_extended`, carried by the COPY beside every row, so in the export's
  snapshot); a verification recomputes it over the raw month. `checksum`: DuckDB's
  `hash()` over the rows read back from the written file; a verification re-reads the
  file. Neither engine builds a text per row (the cost of formula 1).
- Formula 1 (files written before migration 052): the sum of a 60-bit md5 of each row's
  canonical text (columns.py), the same number from PostgreSQL over raw and from DuckDB
  over the files; recorded by a file's first verification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import psycopg
from psycopg import sql

from analytics_platform.archive.columns import (
    RawColumn,
    duckdb_file_row_hash,
    duckdb_row_hash,
    postgres_raw_row_hash,
    postgres_row_hash,
)
from analytics_platform.archive.manifest import month_params
from analytics_platform.resources.warehouse import read_sql

CHECKSUM_VERSION = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# DuckDB does not promise that hash() stays the same across releases. Formula 2's file
# checksums are only comparable while it does: this row's hash, as the DuckDB that
# introduced formula 2 (2.0.0, uv.lock) computes it, is checked before every use, so an
# upgrade that changed it stops with ChecksumFormulaChangedError instead of failing every
# file.
_HASH_PROBE = (
    "SELECT hash('archive'::VARCHAR, TIMESTAMPTZ '2024-01-31 23:59:59.999999+00', "
    "10.5::DECIMAL(38, 18), 1::UTINYINT, 7::INTEGER, 1::SMALLINT, 9007199254740993::BIGINT, "
    "NULL::VARCHAR, true)"
)
_HASH_PROBE_VALUE = 14640968015220131732


class ChecksumFormulaChangedError(RuntimeError):
    """This DuckDB's hash() differs from the one formula 2's checksums were taken with."""


@dataclass(frozen=True)
class Content:
    rows: int
    checksum: int
    min_occurred_at: datetime | None
    max_occurred_at: datetime | None


def raw_month_content(
    conn: psycopg.Connection,
    table: str,
    columns: list[RawColumn],
    month: date,
    version: int = CHECKSUM_VERSION,
) -> Content:
    """Rows and checksum (formula `version`) of raw.<table> over the UTC month."""
    row_hash = postgres_raw_row_hash(columns) if version == 2 else postgres_row_hash(columns)
    statement = sql.SQL(read_sql("archive/raw_month_checksum.sql")).format(
        row_hash=row_hash, table=sql.Identifier("raw", table)
    )
    row = conn.execute(statement, month_params(table, month)).fetchone()
    assert row is not None  # an aggregate always returns a row
    return Content(int(row[0]), int(row[1]), row[2], row[3])


def parquet_content(locations: list[str], columns: list[RawColumn]) -> Content:
    """Rows and formula 1 checksum of Parquet files, read back with DuckDB."""
    if not locations:
        return Content(0, 0, None, None)
    statement = read_sql("archive/parquet_checksum.sql").replace(
        "{row_hash}", duckdb_row_hash(columns)
    )
    with duckdb.connect() as con:
        row = con.execute(statement, {"files": locations}).fetchone()
    assert row is not None
    return Content(int(row[0]), int(row[1]), _from_epoch_us(row[2]), _from_epoch_us(row[3]))


def file_checksums(
    con: duckdb.DuckDBPyConnection, locations: list[str], columns: list[RawColumn]
) -> dict[str, tuple[int, int]]:
    """Formula 2: (rows, checksum) of each Parquet file, read in one multi-threaded pass.
    A file with no rows is absent from the answer."""
    if not locations:
        return {}
    probe = con.execute(_HASH_PROBE).fetchone()
    if probe is None or probe[0] != _HASH_PROBE_VALUE:
        raise ChecksumFormulaChangedError(
            f"DuckDB {duckdb.__version__} hashes differently from the release that took the "
            "archive's checksums (formula 2), so every file would look changed; pin the "
            "DuckDB of uv.lock or re-record the checksums of verified files first"
        )
    statement = read_sql("archive/parquet_file_checksums.sql").replace(
        "{row_hash}", duckdb_file_row_hash(columns)
    )
    rows = con.execute(statement, {"files": locations}).fetchall()
    return {path: (int(count), int(checksum)) for path, count, checksum in rows}


def _from_epoch_us(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)
