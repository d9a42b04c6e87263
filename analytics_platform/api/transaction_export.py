"""The itemized transaction export's rows as byte chunks, produced in worker threads on
synchronous connections of their own (api/threaded_stream.py streams them).

CSV leaves PostgreSQL as the final bytes (`COPY ... TO STDOUT (FORMAT csv)`): the API only
gathers rows into chunks, it never parses or re-encodes a row. JSON lines come from a
server-side cursor, `row_to_json` per row, a batch per fetch.

The window goes in parts, one statement each, sorted on its own: an hour of raw rows, or
a UTC day where retention dropped raw rows (api/export_archive.py: that day's archived
rows are staged in a temporary table and read beside raw). BACKENDS connections take
turns part by part, so one backend sorts and prints the next hour while another's rows
stream: PostgreSQL's CPU is most of an export's (about 2.7 us a row against the API's
1-1.5), and one backend alone is one core.

Each connection reads under the key's scope (db.scoped_sync), through the security-barrier
view api.export_transactions: a merchant key's export holds its own rows whatever the
request asks.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from psycopg import Connection, sql

from analytics_platform.api.db import Database
from analytics_platform.api.export_archive import (
    Segment,
    create_staging,
    dropped_files,
    read_segment,
    segments,
    stage,
)
from analytics_platform.api.keys import Scope
from analytics_platform.api.threaded_stream import PART_END, PartEnd, Producer
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
# Connections (PostgreSQL backends) per export, taking turns part by part.
BACKENDS = 2
# A part of raw rows: an hour is about 8,000 rows at 6M a month, a statement's overhead
# (a round trip, planning) about 0.1 us a row, and its sort fits in memory at any scale.
RAW_PART = timedelta(hours=1)
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


def producers(db: Database, export: TransactionExport) -> list[Producer]:
    """BACKENDS producers of the export's bytes (CSV with its header, or JSON lines), in
    chunks of about CHUNK_BYTES (a JSON chunk is a fetch's rows), taking turns part by
    part (threaded_stream)."""
    return [partial(_chunks, db, export, turn, BACKENDS) for turn in range(BACKENDS)]


def _chunks(
    db: Database, export: TransactionExport, turn: int, turns: int
) -> Generator[bytes | PartEnd]:
    with db.scoped_sync(export.scope) as conn:
        statements = _statements(db, conn, export, turn, turns)
        if export.format == "csv":
            yield from _csv(conn, statements, header=turn == 0)
        else:
            yield from _json_lines(conn, statements)


def _parts(segment: Segment) -> Iterator[Segment]:
    """A segment of raw rows cut into RAW_PART; one holding archived rows whole."""
    if segment.files:
        yield segment
        return
    start = segment.start
    while start < segment.end:
        end = min(start + RAW_PART, segment.end)
        yield Segment(start, end, ())
        start = end


def _statements(
    db: Database, conn: Connection, export: TransactionExport, turn: int, turns: int
) -> Iterator[_Statement]:
    """The statements of this producer's parts (every `turns`-th from `turn`), their
    archived rows staged."""
    template = db.text("reports/export_transactions.sql").rstrip().rstrip(";")
    from_raw = sql.SQL(template).format(rows=sql.SQL("api.export_transactions"))
    with_archive = sql.SQL(template).format(
        rows=sql.SQL(db.text("reports/export_rows_with_archive.sql").strip())
    )
    conn.execute(_TIMEOUT, (_EXPORT_TIMEOUT,))
    conn.execute(_EXPORT_WORK_MEM)
    files = dropped_files(conn, export.start, export.end)
    staging = False
    merchant = export.scope.merchant_id if export.scope.kind == "merchant" else None
    parts = (
        part for segment in segments(export.start, export.end, files) for part in _parts(segment)
    )
    for index, part in enumerate(parts):
        if index % turns != turn:
            continue
        params: dict[str, object] = {"start": part.start, "end": part.end, "tz": export.zone}
        if not part.files:
            yield from_raw, params
            continue
        if not staging:
            # Only now: an export that reads no dropped month does not need the archive.
            store = open_store(export.archive_url)
            create_staging(conn)
            staging = True
        stage(conn, read_segment(store, part, merchant))
        yield with_archive, params


def _csv(
    conn: Connection, statements: Iterator[_Statement], header: bool
) -> Generator[bytes | PartEnd]:
    """Each statement's rows as COPY prints them; the header with the first statement's
    when `header` (the export's first part)."""
    buffer = bytearray()
    for query, params in statements:
        option = sql.SQL("HEADER" if header else "HEADER false")
        header = False
        copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, {})").format(query, option)
        with conn.cursor().copy(copy, params) as out:
            for row in out:
                buffer += row
                if len(buffer) >= CHUNK_BYTES:
                    yield bytes(buffer)
                    buffer.clear()
        if buffer:
            yield bytes(buffer)
            buffer.clear()
        yield PART_END


def _json_lines(conn: Connection, statements: Iterator[_Statement]) -> Generator[bytes | PartEnd]:
    for query, params in statements:
        lines = sql.SQL("SELECT row_to_json(t)::text FROM ({}) t").format(query)
        with conn.cursor(name="transaction_export") as cursor:
            cursor.execute(lines, params)
            while batch := cursor.fetchmany(FETCH_ROWS):
                yield "".join(f"{line}\n" for (line,) in batch).encode()
        yield PART_END
