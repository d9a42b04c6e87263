"""The cross-engine spot check of formula 2 files: sampled rows of each file against raw.

Formula 2's checksums (checksums.py) prove that raw still holds what the export read and
that each file still holds what the writer wrote, but not that the writer wrote what it
read: a conversion bug (a number losing its scale, a time shifted by the float epoch
path, a jsonb text changed) writes files whose checksums agree with themselves. So for
each file that still mirrors raw rows, DuckDB reads a deterministic sample -- the first
and the last ROWS_PER_END rows of every row group, which touches both ends of the file
and every row group while DuckDB reads only the pages they fall in -- decoded as the
restore decodes it (restore.py), and PostgreSQL returns the same rows by primary key in
one statement. Every archived column must be equal: times as UTC epoch microseconds
(PostgreSQL's exact numeric path), numbers as their exact text with their own scale
(the `__scale` column), uuids and jsonb as PostgreSQL's canonical text, the rest as
values. Each difference, or a sampled row raw lacks, is a problem naming the file, the
key and the column.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import psycopg
from psycopg import sql

from analytics_platform.archive.columns import (
    RawColumn,
    duckdb_exact_decimal_text,
    duckdb_identifier,
)
from analytics_platform.archive.manifest import ArchivedFile, month_params
from analytics_platform.archive.store import ArchiveStore
from analytics_platform.resources.warehouse import read_sql

# Rows read at each end of every row group: with the writer's 500k-row groups and 1M-row
# files, 512 rows a file (about 0.05% of it).
ROWS_PER_END = 128
# Differences reported per file; the rest are counted.
REPORTED_PER_FILE = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def spot_check_files(
    conn: psycopg.Connection,
    store: ArchiveStore,
    table: str,
    month: date,
    columns: list[RawColumn],
    files: list[ArchivedFile],
) -> list[str]:
    """Problems found comparing sampled rows of `files` with raw.<table> (none: equal)."""
    names = [c.name for c in columns]
    key = (names.index("event_id"), names.index("occurred_at"))
    problems: list[str] = []
    with duckdb.connect() as con:
        for f in files:
            try:
                sample = _file_sample(con, store.read_location(f.path), columns)
            except (duckdb.Error, OSError) as exc:
                problems.append(f"{f.path}: cannot be sampled ({type(exc).__name__}: {exc})")
                continue
            problems.extend(_compare(conn, table, month, columns, key, f.path, sample))
    return problems


def _file_sample(
    con: duckdb.DuckDBPyConnection, location: str, columns: list[RawColumn]
) -> list[tuple[Any, ...]]:
    """The sampled rows of one file, each column decoded as the restore decodes it."""
    groups = con.execute(
        "SELECT row_group_id, any_value(row_group_num_rows) FROM parquet_metadata($file)"
        " GROUP BY row_group_id ORDER BY row_group_id",
        {"file": location},
    ).fetchall()
    ranges: list[tuple[int, int]] = []
    first = 0
    for _, rows in groups:
        end = first + int(rows)
        ranges.append((first, min(end, first + ROWS_PER_END)))
        ranges.append((max(first + ROWS_PER_END, end - ROWS_PER_END), end))
        first = end
    ranges = [(start, end) for start, end in ranges if start < end]
    if not ranges:
        return []
    params: dict[str, object] = {"file": location}
    conditions = []
    for number, (start, end) in enumerate(ranges):
        conditions.append(
            f"(file_row_number >= $start_{number} AND file_row_number < $end_{number})"
        )
        params[f"start_{number}"], params[f"end_{number}"] = start, end
    statement = (
        read_sql("archive/spot_check_file_rows.duckdb.sql")
        .replace("{columns}", _duckdb_select_list(columns))
        .replace("{ranges}", " OR ".join(conditions))
    )
    return con.execute(statement, params).fetchall()


def _compare(
    conn: psycopg.Connection,
    table: str,
    month: date,
    columns: list[RawColumn],
    key: tuple[int, int],
    path: str,
    sample: list[tuple[Any, ...]],
) -> list[str]:
    if not sample:
        return []
    event_ids = [row[key[0]] for row in sample]
    # A savepoint when the caller is inside a transaction: a file's malformed key must not
    # abort it.
    try:
        with conn.transaction():
            raw = _raw_rows(
                conn,
                "archive/spot_check_raw_rows.sql",
                table,
                columns,
                {
                    "event_ids": event_ids,
                    "occurred_us": [row[key[1]] for row in sample],
                    **month_params(table, month),
                },
            )
    except psycopg.DataError as exc:
        return [
            f"{path}: its sampled keys (columns event_id, occurred_at) are not keys raw can"
            f" hold ({type(exc).__name__}: {exc})"
        ]
    by_position = {int(row[0]): row[1:] for row in raw}
    unmatched = [n for n in range(1, len(sample) + 1) if n not in by_position]
    if unmatched:
        # A file whose occurred_at is wrong still finds its raw row by event id, and the
        # problem then names occurred_at rather than a missing row.
        found = _raw_rows(
            conn,
            "archive/spot_check_raw_rows_by_event_id.sql",
            table,
            columns,
            {
                "event_ids": [sample[n - 1][key[0]] for n in unmatched],
                "positions": unmatched,
                **month_params(table, month),
            },
        )
        by_position.update((int(row[0]), row[1:]) for row in found)
    differences: list[str] = []
    for position, row in enumerate(sample, start=1):
        where = f"event_id {row[key[0]]}, occurred_at {_instant(row[key[1]])}"
        raw_row = by_position.get(position)
        if raw_row is None:
            differences.append(f"{path}: row ({where}) is not in raw.{table}")
            continue
        for column, archived, held in zip(columns, row, raw_row, strict=True):
            if archived != held or type(archived) is not type(held):
                differences.append(
                    f"{path}: row ({where}) differs from raw.{table} in column {column.name}:"
                    f" the file has {_shown(column, archived)}, raw {_shown(column, held)}"
                )
    if len(differences) <= REPORTED_PER_FILE:
        return differences
    more = len(differences) - REPORTED_PER_FILE
    return [
        *differences[:REPORTED_PER_FILE],
        f"{path}: {more} more sampled value(s) differ from raw.{table}",
    ]


def _raw_rows(
    conn: psycopg.Connection,
    statement_file: str,
    table: str,
    columns: list[RawColumn],
    params: dict[str, object],
) -> list[tuple[Any, ...]]:
    statement = sql.SQL(read_sql(statement_file)).format(
        columns=sql.SQL(", ").join(_postgres_value(c) for c in columns),
        table=sql.Identifier("raw", table),
    )
    return conn.execute(statement, params).fetchall()


def _duckdb_select_list(columns: list[RawColumn]) -> str:
    parts = []
    for c in columns:
        if c.is_time:
            parts.append(f"epoch_us({duckdb_identifier(c.name)})")
        elif c.is_numeric:
            parts.append(duckdb_exact_decimal_text(c.name))
        else:
            parts.append(duckdb_identifier(c.name))
    return ", ".join(parts)


def _postgres_value(column: RawColumn) -> sql.Composable:
    """A raw column as the check compares it; times by the exact numeric path, not the
    export's float one, so a rounding of the export shows."""
    name = sql.Identifier("r", column.name)
    if column.is_time:
        return sql.SQL("(extract(epoch FROM {}) * 1000000)::int8").format(name)
    if column.pg_type in ("uuid", "jsonb", "numeric"):
        return sql.SQL("{}::text").format(name)
    return name


def _instant(epoch_us: object) -> str:
    if not isinstance(epoch_us, int):
        return repr(epoch_us)
    return (_EPOCH + timedelta(microseconds=epoch_us)).isoformat()


def _shown(column: RawColumn, value: object) -> str:
    if column.is_time and isinstance(value, int):
        return f"{_instant(value)} ({value} us)"
    return repr(value)
