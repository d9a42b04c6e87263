"""Re-materializing a rollup window whose raw rows retention dropped, from the archive.

The rollup SQL reads `raw.<table>`; rather than a second copy of every template, the
archived rows are put back into the raw table for the length of one transaction: staged
from the Parquet files (DuckDB writes them as CSV, COPY reads it into a temporary table),
inserted into the raw table with their exact values, the rollup window materialized by
the ordinary runner, and the restored rows deleted again before COMMIT. No other session
ever sees them, and the mart rows are the ones the raw rows gave (same SQL, same values,
same scales), to the cent and the percentile.

Every rollup run goes through `dropped_rows_restored` (the Dagster asset, the history
rollups, `rematerialize_from_archive`), so a run over a dropped month -- from the UI, a
backfill, or the automation re-running an hour a late event arrived in -- computes the
mart from the month's rows, not from the empty (or late-rows-only) raw table. When
nothing the window reads was dropped, that costs one manifest query and no transaction;
DuckDB and the column mapping are imported only when rows are restored, so a rollup
process that never reads the archive never loads them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import pq, sql

from analytics_platform.archive.store import ArchiveStore
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.resources.warehouse import read_sql
from analytics_platform.rollups.families import Mart
from analytics_platform.rollups.runner import RollupResult, materialize_window

if TYPE_CHECKING:
    from analytics_platform.archive.columns import RawColumn

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RestoreInTransactionError(RuntimeError):
    """Restoring needs a connection outside a transaction (it must own the transaction)."""


class RestoreCleanupError(RuntimeError):
    """The restored rows could not be removed exactly; the transaction rolls back."""


def dropped_files(
    conn: psycopg.Connection, table: str, start: datetime, end: datetime
) -> list[str]:
    """Files whose raw rows were dropped and that hold rows in [start, end)."""
    rows = conn.execute(
        "SELECT path FROM archive.files WHERE raw_table = %s AND raw_dropped_at IS NOT NULL"
        " AND min_occurred_at < %s AND max_occurred_at >= %s ORDER BY min_occurred_at",
        (table, end, start),
    )
    return [r[0] for r in rows.fetchall()]


def restore_dropped_rows(
    conn: psycopg.Connection,
    store: ArchiveStore,
    table: str,
    start: datetime,
    end: datetime,
    files: Sequence[str] | None = None,
) -> int:
    """Insert the archived rows of [start, end) that retention dropped back into
    raw.<table>, inside the caller's transaction; returns how many. `files`: the
    `dropped_files` of the window when the caller already listed them."""
    if files is None:
        files = dropped_files(conn, table, start, end)
    if not files:
        return 0
    # Imported here: a rollup run imports this module, and restores only rarely.
    import duckdb

    from analytics_platform.archive.columns import raw_columns

    columns = raw_columns(conn, table)
    with tempfile.TemporaryDirectory(prefix="archive-restore-") as scratch:
        staged = Path(scratch) / "rows.csv"
        statement = (
            read_sql("archive/restore_export.duckdb.sql")
            .replace("{columns}", _duckdb_export_list(columns))
            .replace("{target}", str(staged).replace("'", "''"))
        )
        with duckdb.connect() as con:
            con.execute(
                statement,
                {
                    "files": [store.read_location(f) for f in files],
                    "start_us": _epoch_us(start),
                    "end_us": _epoch_us(end),
                },
            )
        conn.execute(
            sql.SQL("CREATE TEMP TABLE archive_restore ({}) ON COMMIT DROP").format(
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(_staging_type(c)))
                    for c in columns
                )
            )
        )
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY pg_temp.archive_restore FROM STDIN (FORMAT csv)") as copy,
            staged.open("rb") as source,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)
    # Temporary tables are never auto-analyzed; the DELETE that removes these rows again
    # joins them with raw and needs their size.
    conn.execute("ANALYZE pg_temp.archive_restore")
    ensure_raw_partitions(conn, table, start, end)
    inserted = conn.execute(
        sql.SQL(read_sql("archive/restore_rows.sql")).format(
            table=sql.Identifier("raw", table),
            columns=sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
            values=sql.SQL(", ").join(_restore_value(c) for c in columns),
        )
    )
    return inserted.rowcount


@contextmanager
def dropped_rows_restored(
    conn: psycopg.Connection, store: ArchiveStore, table: str, start: datetime, end: datetime
) -> Iterator[int]:
    """For the body of the `with`, raw.<table> holds again the archived rows of
    [start, end) that retention dropped; yields how many were restored.

    With nothing dropped there (the common case) this is one manifest query: the body
    runs as it would without it, and yields 0. Otherwise the body runs inside one
    transaction that restores the rows first and deletes exactly them (by primary key,
    among this transaction's own rows) before COMMIT, so no other session ever sees them
    and rows another session commits meanwhile stay; an exception rolls everything back.
    `conn` must then not be inside a transaction already.
    """
    files = dropped_files(conn, table, start, end)
    if not files:
        yield 0
        return
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise RestoreInTransactionError(
            f"restoring the dropped rows of raw.{table} needs a connection outside a "
            "transaction (it owns the transaction); commit or roll back first"
        )
    with conn.transaction():
        restored = restore_dropped_rows(conn, store, table, start, end, files)
        yield restored
        if restored:
            _unrestore(conn, table, restored)


def _unrestore(conn: psycopg.Connection, table: str, restored: int) -> None:
    """Delete exactly the staged rows again (see unrestore_rows.sql); anything else
    rolls the whole transaction back rather than lose a raw row."""
    bounds = conn.execute(
        "SELECT timestamptz 'epoch' + min(occurred_at) * interval '1 microsecond',"
        " timestamptz 'epoch' + max(occurred_at) * interval '1 microsecond'"
        " FROM pg_temp.archive_restore"
    ).fetchone()
    assert bounds is not None  # an aggregate always returns a row
    deleted = conn.execute(
        sql.SQL(read_sql("archive/unrestore_rows.sql")).format(table=sql.Identifier("raw", table)),
        {"first": bounds[0], "last": bounds[1]},
    ).rowcount
    if deleted != restored:
        raise RestoreCleanupError(
            f"removing the {restored} rows restored into raw.{table} deleted {deleted}; "
            "the transaction was rolled back, so raw is as it was before the restore"
        )


def mart_reads_restored(
    conn: psycopg.Connection, store: ArchiveStore, mart: Mart, start: datetime, end: datetime
) -> AbstractContextManager[int]:
    """`dropped_rows_restored` over what a run of the mart's window [start, end) reads:
    its raw table from the family's look-back before `start` to `end`. The run, its
    preview and its checks go inside the `with`."""
    return dropped_rows_restored(
        conn, store, mart.family.raw_table.removeprefix("raw."), start - mart.family.lookback, end
    )


def rematerialize_from_archive(
    conn: psycopg.Connection,
    store: ArchiveStore,
    mart: Mart,
    start: datetime,
    end: datetime,
    tz: str,
) -> tuple[RollupResult, int]:
    """Materialize the mart's window [start, end) with the dropped raw rows it reads
    restored from the archive for the transaction; returns the run and the rows restored.

    `conn` must not be inside a transaction (see `dropped_rows_restored`).
    """
    with mart_reads_restored(conn, store, mart, start, end) as restored:
        result = materialize_window(conn, mart, start, end, tz)
    return result, restored


def _duckdb_export_list(columns: list[RawColumn]) -> str:
    from analytics_platform.archive.columns import duckdb_exact_decimal_text

    parts = []
    for c in columns:
        name = '"' + c.name.replace('"', '""') + '"'
        if c.is_time:
            parts.append(f"epoch_us({name})")
        elif c.is_numeric:
            parts.append(duckdb_exact_decimal_text(c.name))
        else:
            parts.append(name)
    return ", ".join(parts)


def _staging_type(column: RawColumn) -> str:
    if column.is_time:
        return "bigint"
    if column.pg_type in ("uuid", "jsonb", "numeric", "text"):
        return "text"
    return column.pg_type


def _restore_value(column: RawColumn) -> sql.Composable:
    name = sql.Identifier(column.name)
    if column.is_time:
        return sql.SQL("timestamptz 'epoch' + {} * interval '1 microsecond'").format(name)
    if column.pg_type in ("uuid", "jsonb", "numeric"):
        return sql.SQL("{}::{}").format(name, sql.SQL(column.pg_type))
    return name


def _epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)
