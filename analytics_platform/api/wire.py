"""An answer's scoped reads sent through libpq's pipeline mode directly: each round trip
is one write and one wait.

psycopg's pipeline (what `scoped_reads` used before) sends each statement as it is
queued: the scope, every read and the Sync were a write, an event-loop turn and a wake-up
of the PostgreSQL backend each, and psycopg's per-statement bookkeeping made that about
130 us of API CPU per statement. Here a block's statements are queued in libpq and
flushed together: the first read of a block carries the scope (`set_config(..., true)`,
local to the implicit transaction), its queries and either a Sync (the block's last
reads: the Sync ends the transaction and the scope with it) or a flush request (more
reads follow, under the same scope). Statements are prepared once per connection (by
their text and parameter types, as psycopg's own cache does), parameters are dumped and
rows loaded by psycopg's Transformer with the connection's adapters, so values are the
ones a psycopg cursor returns (`test_api_wire.py` compares them).

A failing statement raises the error psycopg would (`psycopg.errors.error_from_result`)
after the pipeline is synced again, so the connection goes back to the pool usable and
without a scope. Anything else that interrupts a round trip (a cancelled request, a lost
connection) leaves the protocol state unknown: the connection is closed and the pool
replaces it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import AsyncConnection, pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import error_from_result

# %(name)s as psycopg writes parameters, and %% for a literal percent sign.
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%")

Read = tuple[str, Mapping[str, Any]]  # SQL text with %(name)s parameters, parameters


class PreparedStatements:
    """A connection's prepared statements: (text, parameter types) -> name."""

    def __init__(self) -> None:
        self.names: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
        self._made = 0

    def new_name(self) -> bytes:
        self._made += 1
        return b"ap_%d" % self._made


class ReadAfterLastReadError(RuntimeError):
    """A `scoped_reads` block read again after its last read had ended its scope."""


class UnsupportedPlaceholderError(ValueError):
    """A query uses a placeholder form this module does not convert (only %(name)s)."""


@dataclass(frozen=True)
class Statement:
    """A query converted for the extended protocol: $n placeholders, names in order."""

    text: bytes
    names: tuple[str, ...]


@lru_cache(maxsize=512)
def statement(text: str) -> Statement:
    names: list[str] = []

    def number(found: re.Match[str]) -> str:
        name = found.group(1)
        if name is None:
            if found.group(0) == "%%":
                return "%"
            raise UnsupportedPlaceholderError(
                f"a lone '%' or a placeholder other than %(name)s in: {text[:200]!r} "
                "(write %% for a percent sign)"
            )
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return Statement(_PLACEHOLDER.sub(number, text).encode(), tuple(names))


class ScopedReads:
    """The reads of one `scoped_reads` block on one pooled connection; see the module
    docstring. Not for concurrent use: one read at a time, as a block makes them."""

    def __init__(
        self, conn: AsyncConnection, scope: Read, prepared: PreparedStatements, encoding: str
    ) -> None:
        self.conn = conn
        self._scope: Read | None = scope  # sent with the first read
        self._prepared = prepared
        self._encoding = encoding
        self._transformer = Transformer(conn)
        self._open = False  # in pipeline mode, with a transaction no Sync has ended yet
        self.ended = False
        self.broken = False

    async def read(self, reads: Sequence[Read], *, last: bool) -> list[list[dict[str, Any]]]:
        """The rows of each read, in one round trip; with `last` the Sync goes with them
        and the block can read no more."""
        if self.ended:
            raise ReadAfterLastReadError(
                "a read after the block's last read (last=True) would run without the "
                "block's scope and see nothing: make it part of the last read"
            )
        if last and not reads and self._scope is not None:
            self.ended = True  # nothing read, nothing sent: no transaction to end
            return []
        try:
            outcome = await self._round_trip(reads, last)
        except BaseException:
            self.broken = True  # interrupted mid-protocol: its state is unknown
            raise
        if isinstance(outcome, psycopg.Error):
            raise outcome
        return outcome

    async def close(self) -> None:
        """End the block: a transaction still open is ended by a Sync (a block that read
        only with last=False); a broken connection is closed, so the pool discards it."""
        self.ended = True
        if self.broken:
            await self.conn.close()
            return
        if not self._open:
            return
        try:
            async with self.conn.lock:
                pgconn = self.conn.pgconn
                pgconn.pipeline_sync()
                await _flush(pgconn)
                await _drain_to_sync(pgconn)
                pgconn.exit_pipeline_mode()
                self._open = False
        except BaseException:
            self.broken = True
            await self.conn.close()
            raise

    async def _round_trip(
        self, reads: Sequence[Read], last: bool
    ) -> list[list[dict[str, Any]]] | psycopg.Error:
        pgconn = self.conn.pgconn
        async with self.conn.lock:
            if not self._open:
                pgconn.enter_pipeline_mode()
                self._open = True
            queued: list[Read] = [] if self._scope is None else [self._scope]
            queued.extend(reads)
            self._scope = None
            # Per command sent: the prepared-statement key it prepares, or None (a query).
            commands: list[tuple[bytes, tuple[int, ...]] | None] = []
            for text, params in queued:
                commands.extend(self._send(pgconn, text, params))
            if last:
                pgconn.pipeline_sync()
            else:
                pgconn.send_flush_request()
            await _flush(pgconn)
            results = await _results(pgconn, len(commands))
            failed = next((r for r in results if r.status == pq.ExecStatus.FATAL_ERROR), None)
            if failed is not None and not last:
                pgconn.pipeline_sync()  # leaves the aborted pipeline; ends the transaction
                await _flush(pgconn)
            if last or failed is not None:
                await _drain_to_sync(pgconn)
                pgconn.exit_pipeline_mode()
                self._open = False
                self.ended = True
        answers = []
        for command, result in zip(commands, results, strict=True):
            if command is None:
                answers.append(result)
            elif result.status != pq.ExecStatus.COMMAND_OK:
                del self._prepared.names[command]  # not prepared: prepare it next time
        if failed is not None:
            return error_from_result(failed, self._encoding)
        return [self._rows(result) for result in answers[len(queued) - len(reads) :]]

    def _send(
        self, pgconn: pq.abc.PGconn, text: str, params: Mapping[str, Any]
    ) -> list[tuple[bytes, tuple[int, ...]] | None]:
        """Queue one statement, and its prepare the first time on this connection."""
        converted = statement(text)
        transformer = self._transformer
        values = [params[name] for name in converted.names]
        dumped = transformer.dump_sequence(values, [PyFormat.AUTO] * len(values))
        types = tuple(transformer.types)
        key = (converted.text, types)
        name = self._prepared.names.get(key)
        commands: list[tuple[bytes, tuple[int, ...]] | None] = []
        if name is None:
            name = self._prepared.new_name()
            pgconn.send_prepare(name, converted.text, param_types=types)
            self._prepared.names[key] = name
            commands.append(key)
        pgconn.send_query_prepared(name, dumped, param_formats=transformer.formats)
        commands.append(None)
        return commands

    def _rows(self, result: pq.abc.PGresult) -> list[dict[str, Any]]:
        transformer = self._transformer
        transformer.set_pgresult(result)
        names = [result.fname(i).decode(self._encoding) for i in range(result.nfields)]
        rows = transformer.load_rows(0, result.ntuples, tuple)
        return [dict(zip(names, row, strict=True)) for row in rows]


async def _results(pgconn: pq.abc.PGconn, count: int) -> list[pq.abc.PGresult]:
    """The result of each of `count` commands sent: its last one (a command's results
    end with a NULL from PQgetResult)."""
    results: list[pq.abc.PGresult] = []
    current = None
    while len(results) < count:
        if pgconn.is_busy():
            await _wait(pgconn.socket, write=False)
            pgconn.consume_input()
            continue
        result = pgconn.get_result()
        if result is None:
            if current is not None:
                results.append(current)
            current = None
        else:
            current = result
    return results


async def _drain_to_sync(pgconn: pq.abc.PGconn) -> None:
    """Read (and drop) what is left up to the Sync's result."""
    while True:
        if pgconn.is_busy():
            await _wait(pgconn.socket, write=False)
            pgconn.consume_input()
            continue
        result = pgconn.get_result()
        if result is not None and result.status == pq.ExecStatus.PIPELINE_SYNC:
            return


async def _flush(pgconn: pq.abc.PGconn) -> None:
    """Send what libpq has queued (small writes complete at once; a long one waits for
    the socket, reading meanwhile as libpq asks, so neither side blocks the other)."""
    while pgconn.flush():
        await _wait(pgconn.socket, write=True)
        pgconn.consume_input()


async def _wait(fileno: int, *, write: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    if write:
        loop.add_writer(fileno, _wake, ready)
    else:
        loop.add_reader(fileno, _wake, ready)
    try:
        await ready
    finally:
        if write:
            loop.remove_writer(fileno)
        else:
            loop.remove_reader(fileno)


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)
