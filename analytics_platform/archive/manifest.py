"""The manifest (`archive.files`, `archive.months`): what was archived and its state.

Every file is recorded when it is written, with its row count and (checksum formula 2,
checksums.py) both checksums; files of formula 1 got theirs from the first verification
that found the month's files equal to the raw month. A month's state
says when it was archived, from what ingestion had committed (`source_rows`), whether a
verification found it equal to the raw table, and whether retention dropped its raw rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import psycopg

from analytics_platform.archive.months import month_end, month_start
from analytics_platform.resources.warehouse import read_sql


@dataclass(frozen=True)
class ArchivedFile:
    path: str
    rows: int
    bytes: int
    min_occurred_at: datetime
    max_occurred_at: datetime
    # Formula 2: DuckDB's over the file. Formula 1: None until a verification recorded it
    # (sql/migrations/051_...).
    checksum: int | None
    raw_dropped_at: datetime | None = None
    checksum_version: int = 2
    # Formula 2: PostgreSQL's over the raw rows the file holds, taken by the export.
    raw_checksum: int | None = None


@dataclass(frozen=True)
class MonthState:
    raw_table: str
    month: date
    archived_at: datetime
    source_rows: int
    verified_at: datetime | None
    verification_problem: str | None
    raw_dropped_at: datetime | None
    files: int
    rows: int
    bytes: int


@contextmanager
def table_archive_lock(conn: psycopg.Connection, table: str) -> Iterator[None]:
    """Held (session-level) while a month of the table is exported and recorded; retention
    takes the same lock for its drop transaction (`lock_table_archive`), so a drop never
    lands between an export reading raw rows and recording them."""
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (_lock_name(table),))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_lock_name(table),))


def lock_table_archive(conn: psycopg.Connection, table: str) -> None:
    """Inside a transaction: wait for any export of the table, then keep exports out."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_lock_name(table),))


def _lock_name(table: str) -> str:
    return f"archive:{table}"


def month_params(table: str, month: date) -> dict[str, object]:
    return {
        "raw_table": table,
        "qualified_table": f"raw.{table}",
        "month": month,
        "month_start": month_start(month),
        "month_end": month_end(month),
    }


def month_source_rows(conn: psycopg.Connection, table: str, month: date) -> int:
    """The row sum ingestion recorded for the month (ingest.touched_hours)."""
    row = conn.execute(
        read_sql("archive/month_source_rows.sql"), month_params(table, month)
    ).fetchone()
    return int(row[0]) if row else 0


def month_files(conn: psycopg.Connection, table: str, month: date) -> list[ArchivedFile]:
    rows = conn.execute(read_sql("archive/month_files.sql"), month_params(table, month))
    return [
        ArchivedFile(
            path,
            rows_,
            bytes_,
            lo,
            hi,
            None if checksum is None else int(checksum),
            dropped,
            version,
            None if raw_checksum is None else int(raw_checksum),
        )
        for path, rows_, bytes_, lo, hi, checksum, dropped, version, raw_checksum in rows
    ]


def months(conn: psycopg.Connection) -> list[MonthState]:
    """Every archived month of every table, in table and month order."""
    return [MonthState(*row) for row in conn.execute(read_sql("archive/months.sql")).fetchall()]


def month_state(conn: psycopg.Connection, table: str, month: date) -> MonthState | None:
    return next((m for m in months(conn) if m.raw_table == table and m.month == month), None)


def record_archive(
    conn: psycopg.Connection,
    table: str,
    month: date,
    source_rows: int,
    files: list[ArchivedFile],
) -> list[str]:
    """Record a new export of a month in one transaction; returns the paths it replaced
    (delete them after the commit: until then the manifest still points at them)."""
    with conn.transaction():
        params = month_params(table, month)
        replaced = [r[0] for r in conn.execute(read_sql("archive/replace_live_files.sql"), params)]
        for f in files:
            conn.execute(
                read_sql("archive/record_file.sql"),
                {
                    **params,
                    "path": f.path,
                    "rows": f.rows,
                    "bytes": f.bytes,
                    "min_occurred_at": f.min_occurred_at,
                    "max_occurred_at": f.max_occurred_at,
                    "checksum": None if f.checksum is None else Decimal(f.checksum),
                    "checksum_version": f.checksum_version,
                    "raw_checksum": None if f.raw_checksum is None else Decimal(f.raw_checksum),
                },
            )
        conn.execute(read_sql("archive/record_month.sql"), {**params, "source_rows": source_rows})
    return replaced
