"""Reading the archive: DuckDB views named like the raw tables, ad hoc queries, and a
streaming reader of archived rows for a time range.

Files are listed from the manifest (`archive.files`), never by globbing the folder, so a
reader sees exactly the recorded files: no file of an export still being written, none
an export replaced. Only DuckDB's built-in Parquet reader is used (no extension is
loaded, so nothing is downloaded). Money columns are DECIMAL(38, 18) (exact), times
UTC instants; the `<column>__scale` columns the files carry are left out of the views.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl
import psycopg

from analytics_platform.archive.columns import RawColumn, raw_columns, view_select_list
from analytics_platform.archive.store import ArchiveStore
from analytics_platform.ingestion.raw_storage import raw_table_names


class EmptyArchiveError(LookupError):
    """A query or read over a table the archive holds no file of."""


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]


def archived_files(
    conn: psycopg.Connection,
    table: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[str]:
    """Manifest paths of the table's files holding rows in [start, end), oldest first."""
    rows = conn.execute(
        "SELECT path FROM archive.files WHERE raw_table = %(table)s"
        " AND (%(end)s::timestamptz IS NULL OR min_occurred_at < %(end)s)"
        " AND (%(start)s::timestamptz IS NULL OR max_occurred_at >= %(start)s)"
        " ORDER BY min_occurred_at, path",
        {"table": table, "start": start, "end": end},
    )
    return [r[0] for r in rows.fetchall()]


def archive_duckdb(conn: psycopg.Connection, store: ArchiveStore) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per archived raw table (`transactions`, ...)."""
    con = duckdb.connect()
    for table in raw_table_names():
        files = archived_files(conn, table)
        if not files:
            continue
        columns = raw_columns(conn, table)
        relation = con.read_parquet([store.read_location(f) for f in files])
        relation.select(view_select_list(columns)).create_view(table)
    return con


def query_archive(conn: psycopg.Connection, store: ArchiveStore, statement: str) -> QueryResult:
    """Run DuckDB SQL over the archive views; tables without files have no view."""
    with archive_duckdb(conn, store) as con:
        try:
            cursor = con.execute(statement)
        except duckdb.CatalogException as exc:
            archived = [t for t in raw_table_names() if archived_files(conn, t)]
            raise EmptyArchiveError(
                f"{exc}. Archived tables: {', '.join(archived) or 'none yet'}"
            ) from exc
        names = tuple(d[0] for d in cursor.description or ())
        return QueryResult(names, cursor.fetchall())


def stream_archived_rows(
    conn: psycopg.Connection,
    store: ArchiveStore,
    table: str,
    start: datetime,
    end: datetime,
    batch_rows: int = 100_000,
) -> Iterator[pl.DataFrame]:
    """The archived rows of raw.<table> with occurred_at in [start, end), in batches.

    One file at a time (at most a million rows in memory), each file's rows in
    (occurred_at, event_id) order; files come oldest first. Columns as in the raw table,
    money as exact decimals.
    """
    columns = raw_columns(conn, table)
    for path in archived_files(conn, table, start, end):
        frame = _read_range(store.read_location(path), columns, start, end)
        for offset in range(0, frame.height, batch_rows):
            yield frame.slice(offset, batch_rows)


def stream_archived_transactions(
    conn: psycopg.Connection,
    store: ArchiveStore,
    start: datetime,
    end: datetime,
    batch_rows: int = 100_000,
) -> Iterator[pl.DataFrame]:
    """Archived transactions in [start, end): what an itemized export of months beyond
    retention reads (see stream_archived_rows)."""
    return stream_archived_rows(conn, store, "transactions", start, end, batch_rows)


def _read_range(
    location: str, columns: list[RawColumn], start: datetime, end: datetime
) -> pl.DataFrame:
    return (
        pl.scan_parquet(location)
        .filter((pl.col("occurred_at") >= start) & (pl.col("occurred_at") < end))
        .select([c.name for c in columns])
        .sort("occurred_at", "event_id")
        .collect()
    )
