"""The itemized transaction export's rows as byte chunks, produced on a synchronous
connection of its own in a worker thread (api/threaded_stream.py streams them).

CSV leaves PostgreSQL as the final bytes (`COPY ... TO STDOUT (FORMAT csv)`): the API only
gathers rows into chunks, it never parses or re-encodes a row. JSON lines come from a
server-side cursor, `row_to_json` per row, a batch per fetch. The window goes a UTC day per
statement (api/export_archive.py's segments: each day sorted in memory); a day whose raw
rows retention dropped reads the archive's rows beside raw, staged in a temporary table.

The connection reads under the key's scope (db.scoped_sync), through the security-barrier
view api.export_transactions: a merchant key's export holds its own rows whatever the
request asks.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg import Connection, sql

from analytics_platform.api.db import Database
from analytics_platform.api.export_archive import (
    create_staging,
    dropped_files,
    read_segment,
    segments,
    stage,
)
from analytics_platform.api.keys import Scope
from analytics_platform.archive.store import open_store

# Rows per fetch of the JSON export's server-side cursor, and bytes per chunk handed to the
# response: COPY hands over one row per read, and a chunk per row would cost more in the
# ASGI stack than the row itself.
FETCH_ROWS = 5_000
CHUNK_BYTES = 256 * 1024
# An export's statement lasts as long as the client takes to read it, so the API's
# per-query timeout (API_STATEMENT_TIMEOUT_MS, for interactive reads) does not fit it.
_EXPORT_TIMEOUT = "30min"
_TIMEOUT = "SELECT set_config('statement_timeout', %s, true)"
# A day's rows are sorted in memory (about 200 bytes a row: 200,000 rows a day, 6M a
# month, fit); the default 4 MB would spill each day's sort to disk. For the export's
# transaction only.
_EXPORT_WORK_MEM = "SELECT set_config('work_mem', '96MB', true)"
# One statement of an export and its parameters.
_Statement = tuple[sql.Composed, dict[str, object]]


@dataclass(frozen=True)
class TransactionExport:
    """What one request exports: [start, end) as `scope` sees it, times also in `zone`."""

    start: datetime
    end: datetime
    zone: str
    scope: Scope
    format: Literal["csv", "json"]
    archive_url: str


def chunks(db: Database, export: TransactionExport) -> Generator[bytes]:
    """The export's bytes, CSV with its header or JSON lines, in chunks of about
    CHUNK_BYTES (a JSON chunk is a fetch's rows)."""
    with db.scoped_sync(export.scope) as conn:
        statements = _statements(db, conn, export)
        if export.format == "csv":
            yield from _csv(conn, statements)
        else:
            yield from _json_lines(conn, statements)


def _statements(db: Database, conn: Connection, export: TransactionExport) -> Iterator[_Statement]:
    """The export's statement per segment of the window, its archived rows staged."""
    template = db.text("reports/export_transactions.sql").rstrip().rstrip(";")
    from_raw = sql.SQL(template).format(rows=sql.SQL("api.export_transactions"))
    with_archive = sql.SQL(template).format(
        rows=sql.SQL(db.text("reports/export_rows_with_archive.sql").strip())
    )
    conn.execute(_TIMEOUT, (_EXPORT_TIMEOUT,))
    conn.execute(_EXPORT_WORK_MEM)
    files = dropped_files(conn, export.start, export.end)
    if files:
        # Only now: an export that reads no dropped month does not need the archive.
        store = open_store(export.archive_url)
        create_staging(conn)
    merchant = export.scope.merchant_id if export.scope.kind == "merchant" else None
    for segment in segments(export.start, export.end, files):
        params: dict[str, object] = {
            "start": segment.start,
            "end": segment.end,
            "tz": export.zone,
        }
        if not segment.files:
            yield from_raw, params
            continue
        stage(conn, read_segment(store, segment, merchant))
        yield with_archive, params


def _csv(conn: Connection, statements: Iterator[_Statement]) -> Generator[bytes]:
    header = sql.SQL("HEADER")
    buffer = bytearray()
    for query, params in statements:
        copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, {})").format(query, header)
        header = sql.SQL("HEADER false")
        with conn.cursor().copy(copy, params) as out:
            for row in out:
                buffer += row
                if len(buffer) >= CHUNK_BYTES:
                    yield bytes(buffer)
                    buffer.clear()
    if buffer:
        yield bytes(buffer)


def _json_lines(conn: Connection, statements: Iterator[_Statement]) -> Generator[bytes]:
    for query, params in statements:
        lines = sql.SQL("SELECT row_to_json(t)::text FROM ({}) t").format(query)
        with conn.cursor(name="transaction_export") as cursor:
            cursor.execute(lines, params)
            while batch := cursor.fetchmany(FETCH_ROWS):
                yield "".join(f"{line}\n" for (line,) in batch).encode()
