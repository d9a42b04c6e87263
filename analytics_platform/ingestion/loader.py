"""Loading a batch of Kafka messages into its raw table, exactly once. No Dagster here.

One batch is one PostgreSQL transaction holding the valid rows, the dead letters and
the advanced offsets, so the database never disagrees with itself about what was read:
a crash before COMMIT leaves no trace, a crash after it leaves nothing to redo.

A batch goes through two steps, so that a caller can overlap them across batches (the
database writes batch N while this process decodes batch N+1): `prepare` is CPU only
(decode, drop duplicates, build the COPY rows), `write` is the transaction. `load`
does both.

Decoding: every message first meets the compiled fast path (`copy_kernel`), which turns
a plain event straight into a binary COPY row without building Python objects. Whatever
it does not take, malformed or merely unusual, is decoded by the event contract's
msgspec decoder as it always was, which alone decides validity and words every
dead-letter reason; the fast path only ever takes messages that decoder accepts, with
the same values (analytics_platform_tests/test_ingest_fast_path.py holds the two
to that).

Rows go in with COPY straight into the raw table, the fastest path PostgreSQL has.
Duplicates (same event_id and occurred_at) are removed first within the batch and
against the ids this loader wrote recently; if one still reaches the table (a
redelivery from before this process started), the COPY fails on the primary key and
the batch is replayed through a staging table with `ON CONFLICT DO NOTHING`. Both paths
leave the same rows, the fast one is simply the common case.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg import sql

from analytics_platform.events import EventDecoder, RejectedEvent, TopicSpec
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.resources.warehouse import read_sql

if TYPE_CHECKING:
    from analytics_platform.ingestion.copy_layout import CopyLayout
    from analytics_platform.ingestion.recent_ids import RecentIds

# The compiled modules (copy_kernel, copy_layout, recent_ids) are imported where first
# used: importing numba costs 1-4 s, which every process loading the Dagster definitions
# (each run worker, the CLI) would otherwise pay without ever ingesting.

_LOG = logging.getLogger(__name__)
# The 19-byte header and 2-byte trailer of a binary COPY stream.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
_SLOT_MICROS = 900 * 1_000_000  # every UTC offset in use is a multiple of 15 minutes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Messages per call of the compiled loop: their bytes (~2 MB) stay in cache while read.
_CHUNK = 4096
# Output buffers in rotation: two batches being written and one being prepared.
BUFFERS = 3
# Daily partitions made past a batch's last day when it needs new ones (_ensure_span).
_DAYS_AHEAD = 7


class KafkaMessage(Protocol):
    """What the loader needs of a message (confluent_kafka.Message has it)."""

    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


# Errors about the data of a row rather than the connection or the statement: a batch
# that meets one is split to find the rows responsible (`RawLoader._isolate`).
DATA_ERRORS: tuple[type[psycopg.Error], ...] = (
    psycopg.DataError,
    psycopg.errors.CheckViolation,
    psycopg.errors.NotNullViolation,
    psycopg.errors.ProgramLimitExceeded,
)


class OffsetConflictError(RuntimeError):
    """Another writer advanced the stored offsets since this batch was read.

    Nothing was written; re-read from the stored offsets. Normally impossible (one
    writer per topic), so it points at two ingest processes for the same topic.
    """


class LoaderNotBoundError(RuntimeError):
    """`prepare` was called before `bind` read the raw table's column types."""


class LoaderBusyError(RuntimeError):
    """Another ingestion in this process is using the same loader (its buffers)."""


@dataclass(frozen=True)
class HourTouched:
    """Rows a batch added to one hour of the reporting time zone."""

    hour_start: datetime
    rows: int
    max_occurred_at: datetime


@dataclass
class BatchResult:
    topic: str
    table: str
    messages: int = 0
    rows_inserted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    next_offsets: dict[int, int] = field(default_factory=dict)
    hours: dict[datetime, HourTouched] = field(default_factory=dict)

    @property
    def max_occurred_at(self) -> datetime | None:
        return max((h.max_occurred_at for h in self.hours.values()), default=None)

    def merge(self, other: BatchResult) -> None:
        """Fold a later batch of the same topic into this summary."""
        self.messages += other.messages
        self.rows_inserted += other.rows_inserted
        self.duplicates += other.duplicates
        self.dead_letters += other.dead_letters
        self.next_offsets.update(other.next_offsets)
        for start, hour in other.hours.items():
            mine = self.hours.get(start)
            self.hours[start] = (
                hour
                if mine is None
                else HourTouched(
                    start, mine.rows + hour.rows, max(mine.max_occurred_at, hour.max_occurred_at)
                )
            )


@dataclass
class PreparedBatch:
    """A decoded batch, ready for `RawLoader.write`.

    `payload` points into one of the loader's `BUFFERS` output buffers, which `prepare`
    uses in turn: write a batch before preparing that many more.
    """

    messages: int
    start_offsets: dict[int, int]
    next_offsets: dict[int, int]
    # Binary COPY rows (no header) of the rows the fast path encoded, in pieces.
    payload: list[memoryview]
    # Rows the msgspec decoder produced: event columns, then partition and offset.
    rows: list[tuple[Any, ...]]
    letters: list[tuple[Any, ...]]
    # occurred_at (microseconds since 1970 UTC) of every row in `payload` and `rows`.
    micros: np.ndarray
    duplicates: int
    # Per message, what `write` needs to insert the rows one by one when PostgreSQL
    # refuses the batch (see `RawLoader._isolate`): none of it is looked at otherwise.
    # Keys, not the messages: confluent_kafka Messages are tracked by the garbage
    # collector, and keeping a batch of them alive until the write ends made each
    # collection between batches walk them.
    keys: Sequence[bytes | None] = ()
    partition_list: Sequence[int | None] = ()
    offset_list: Sequence[int | None] = ()
    values: Sequence[bytes | None] = ()
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    encoded: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    buffer: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    row_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    row_end: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    decoded: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    all_micros: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@contextmanager
def collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch is decoded and written.

    A 50k-message batch allocates about a million small objects, none in a reference
    cycle; the collector's passes over them (and over everything older, which in a
    Dagster code server is a large heap) cost a third of the ingest time: 1M
    transactions took 30-37 s with it, 21-25 s without (client CPU 33 -> 20 us/event,
    benchmarks/ingest.py). The collector is process-wide: concurrent ticks of other
    topics skip collections meanwhile, and whichever batch ends last leaves it enabled.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_PG_TYPE_SQL = """
SELECT a.attname, format_type(a.atttypid, NULL)
FROM pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""


def _micros(moment: datetime) -> int:
    """Microseconds since 1970 UTC of an aware datetime, exactly."""
    return (moment - _EPOCH) // _MICROSECOND


class RawLoader:
    """Writes batches of one topic into its raw table; see the module docstring."""

    def __init__(
        self,
        spec: TopicSpec,
        topic: str,
        consumer_group: str,
        decoder: EventDecoder,
        reporting_tz: ZoneInfo,
        recent_ids_capacity: int = 2_000_000,
        fast_path: bool = True,
    ) -> None:
        """`fast_path=False` decodes every message with msgspec (the reference the
        compiled path is tested against)."""
        self.spec = spec
        self.topic = topic
        self.consumer_group = consumer_group
        self.decoder = decoder
        self.tz = reporting_tz
        self._recent_ids_capacity = recent_ids_capacity
        self._known_days: set[date] = set()
        self._column_types: dict[str, str] | None = None
        self._types: list[str] | None = None
        self._fast_path = fast_path
        self._buffers = [np.empty(0, np.uint8) for _ in range(BUFFERS)]
        self._scratch = np.empty(0, np.uint8)
        self._turn = 0
        self._in_use = threading.Lock()
        self._schema, self._table = spec.table.split(".")

    # -- reading state ---------------------------------------------------------------
    def stored_offsets(self, conn: psycopg.Connection) -> dict[int, int]:
        rows = conn.execute(
            "SELECT partition, next_offset FROM ingest.offsets "
            "WHERE consumer_group = %s AND topic = %s",
            (self.consumer_group, self.topic),
        )
        return dict(rows.fetchall())

    def bind(self, conn: psycopg.Connection) -> None:
        """Read the raw table's column types, which the COPY rows are encoded for.

        Once per loader; `prepare` needs it.
        """
        if self._column_types is not None:
            return
        types = dict(conn.execute(_PG_TYPE_SQL, (self.spec.table,)).fetchall())
        self._types = [types[c] for c in self.spec.columns]
        self._column_types = types

    @cached_property
    def recent(self) -> RecentIds:
        """Event keys written lately (see recent_ids)."""
        from analytics_platform.ingestion.recent_ids import RecentIds

        return RecentIds(self._recent_ids_capacity)

    @cached_property
    def _layout(self) -> CopyLayout | None:
        """The fast path's tables; None when off or when the schema has something it
        cannot encode (then msgspec decodes every event: slower, same result)."""
        if not self._fast_path:
            return None
        if self._column_types is None:
            raise LoaderNotBoundError(f"{self.topic}: call bind(conn) before prepare()")
        from analytics_platform.ingestion.copy_layout import UnsupportedLayoutError, copy_layout

        try:
            return copy_layout(self.spec, self._column_types)
        except UnsupportedLayoutError as exc:
            _LOG.warning("%s: no fast path, msgspec decodes every event: %s", self.topic, exc)
            return None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the loader for one ingestion: batches share its output buffers, so two
        ingestions of one topic in one process must not interleave."""
        if not self._in_use.acquire(blocking=False):
            raise LoaderBusyError(
                f"{self.topic}: another ingestion of this topic is running in this process; "
                "wait for it to finish (one ingestion per topic at a time)"
            )
        try:
            yield
        finally:
            self._in_use.release()

    def warm_up(self) -> None:
        """Compile the fast path now (or load it from numba's cache: 2-3 s, a cold
        compile 15-35 s) instead of inside the first batch. Needs `bind`."""
        from analytics_platform.ingestion import copy_kernel

        none = np.zeros(0, np.int64)
        ids = np.zeros(0, np.uint64)
        flags = np.zeros(0, np.bool_)
        if self._layout is not None:
            copy_kernel.encode_rows(
                *(np.frombuffer(bytearray(), np.uint8), none, none, none, none),
                *self._layout.tables(),
                *(0, 0, np.zeros(0, np.uint8), 0, np.zeros(0, np.int8), none, none, ids, ids, none),
            )
        copy_kernel.check_offsets(none, none, none)
        self.recent.admit(flags, ids, ids, none, flags)

    # -- a batch ---------------------------------------------------------------------
    def load(
        self, conn: psycopg.Connection, messages: Sequence[KafkaMessage], now: datetime
    ) -> BatchResult:
        """Decode and store one batch; offsets must continue exactly from the stored ones.

        `conn` must not be inside a transaction: the batch is its own. Raises
        OffsetConflictError (nothing written) if the stored offsets moved meanwhile.
        """
        self.bind(conn)
        with self.exclusive(), collection_paused():
            try:
                return self.write(conn, self.prepare(messages, now))
            except BaseException:
                self.recent.clear()
                raise

    def prepare(
        self,
        messages: Sequence[KafkaMessage],
        now: datetime,
        partition_list: Sequence[int | None] | None = None,
        offset_list: Sequence[int | None] | None = None,
        values: list[bytes | None] | None = None,
    ) -> PreparedBatch:
        """Decode a batch, drop its duplicates and build its COPY rows. No I/O.

        `partition_list`, `offset_list` and `values`, when given, are the messages'
        partitions, offsets and values (the reader has them already). The kept events'
        keys are remembered at once (see RecentIds.admit): if the batch is then not
        written, call `recent.clear()`.
        """
        if self._types is None:
            raise LoaderNotBoundError(f"{self.topic}: call bind(conn) before prepare()")
        from analytics_platform.ingestion import copy_kernel

        count = len(messages)
        if partition_list is None or offset_list is None:
            partition_list = [m.partition() for m in messages]
            offset_list = [m.offset() for m in messages]
        if None in partition_list or None in offset_list:
            raise ValueError("a message without partition/offset cannot be ingested")
        partitions = np.array(partition_list, np.int64)
        offsets = np.array(offset_list, np.int64)
        start_offsets, next_offsets = self._offset_ranges(partitions, offsets)
        if values is None:
            values = [m.value() for m in messages]
        if None in values:
            lengths = np.fromiter((0 if v is None else len(v) for v in values), np.int64, count)
        else:
            lengths = np.fromiter(map(len, values), np.int64, count)

        status = np.zeros(count, np.int8)
        row_start = np.zeros(count, np.int64)
        row_end = np.zeros(count, np.int64)
        high = np.zeros(count, np.uint64)
        low = np.zeros(count, np.uint64)
        micros = np.zeros(count, np.int64)
        until = self.decoder.accepted_until(now)
        out = self._buffers[0]
        size = 0
        if self._layout is not None and count:
            kernel_values, kernel_lengths = values, lengths
            if int(lengths.max()) > self.decoder.max_message_bytes:
                # Oversized messages skip the fast path: the decoder words their rejection.
                too_big = lengths > self.decoder.max_message_bytes
                kernel_lengths = np.where(too_big, 0, lengths)
                kernel_values = [b"" if big else v for v, big in zip(values, too_big, strict=True)]
            out = self._buffer(int(kernel_lengths.sum()), count)
            not_before, until_micros = _micros(self.decoder.not_before), _micros(until)
            tables = self._layout.tables()
            for first in range(0, count, _CHUNK):
                last = min(first + _CHUNK, count)
                chunk = kernel_values[first:last]
                if None in chunk:
                    chunk = [b"" if v is None else v for v in chunk]
                ends = np.cumsum(kernel_lengths[first:last])
                # Rows go to a small buffer that stays in the CPU cache, then to the batch's
                # in one copy: writing them byte by byte into a buffer not in cache cost
                # half as much again as the whole encoding.
                scratch = self._scratch_for(int(ends[-1]), last - first)
                written = copy_kernel.encode_rows(
                    np.frombuffer(bytearray().join(chunk), np.uint8),
                    ends - kernel_lengths[first:last],
                    ends,
                    partitions[first:last],
                    offsets[first:last],
                    *tables,
                    not_before,
                    until_micros,
                    scratch,
                    0,
                    status[first:last],
                    row_start[first:last],
                    row_end[first:last],
                    high[first:last],
                    low[first:last],
                    micros[first:last],
                )
                out[size : size + written] = scratch[:written]
                row_start[first:last] += size
                row_end[first:last] += size
                size += written

        encoded = status == copy_kernel.ENCODED
        candidate = encoded.copy()
        decoded: dict[int, tuple[Any, ...]] = {}
        letters: list[tuple[Any, ...]] = []
        decode = self.decoder.decode
        for i in np.flatnonzero(~encoded).tolist():
            partition, offset, value = partition_list[i], offset_list[i], values[i]
            if value is None:
                letters.append(
                    (
                        self.topic,
                        partition,
                        offset,
                        messages[i].key(),
                        b"",
                        "empty message (no value)",
                    )
                )
                continue
            try:
                row = decode(value, until)
            except RejectedEvent as rejected:
                letters.append(
                    (self.topic, partition, offset, messages[i].key(), value, rejected.reason)
                )
                continue
            high[i], low[i] = divmod(row[0].int, 1 << 64)
            micros[i] = _micros(row[1])
            decoded[i] = (*row, partition, offset)
            candidate[i] = True

        keep = np.zeros(count, np.bool_)
        kept = self.recent.admit(candidate, high, low, micros, keep)
        # The encoded rows lie in `out` one after the other: the payload is the stretches
        # between dropped duplicates, written as they are.
        payload: list[memoryview] = []
        written = 0
        for i in np.flatnonzero(encoded & ~keep).tolist():
            if row_start[i] > written:
                payload.append(memoryview(out)[written : row_start[i]])
            written = int(row_end[i])
        if size > written:
            payload.append(memoryview(out)[written:size])
        return PreparedBatch(
            messages=count,
            start_offsets=start_offsets,
            next_offsets=next_offsets,
            payload=payload,
            rows=[row for i, row in decoded.items() if keep[i]],
            letters=letters,
            micros=micros[keep],
            duplicates=int(np.count_nonzero(candidate)) - kept,
            keys=[m.key() for m in messages],
            partition_list=partition_list,
            offset_list=offset_list,
            values=values,
            kept=keep,
            encoded=encoded,
            buffer=out,
            row_start=row_start,
            row_end=row_end,
            decoded=decoded,
            all_micros=micros,
        )

    def _offset_ranges(
        self, partitions: np.ndarray, offsets: np.ndarray
    ) -> tuple[dict[int, int], dict[int, int]]:
        """First and next offset of each partition; raises if a batch skips an offset."""
        if not partitions.size:
            return {}, {}
        from analytics_platform.ingestion import copy_kernel

        following = np.full(int(partitions.max()) + 1, -1, np.int64)
        broken = copy_kernel.check_offsets(partitions, offsets, following)
        if broken >= 0:
            partition = int(partitions[broken])
            raise ValueError(
                f"{self.topic} [{partition}]: offsets not contiguous "
                f"({following[partition]} then {offsets[broken]}); a batch must be read in order"
            )
        present, first_index = np.unique(partitions, return_index=True)
        order = np.argsort(first_index)  # in order of first appearance, as read
        starts = {int(present[j]): int(offsets[first_index[j]]) for j in order}
        return starts, {p: int(following[p]) for p in starts}

    def _scratch_for(self, message_bytes: int, messages: int) -> np.ndarray:
        from analytics_platform.ingestion.copy_kernel import row_capacity

        needed = row_capacity(message_bytes, messages, len(self.spec.columns))
        if self._scratch.shape[0] < needed:
            self._scratch = np.empty(needed + needed // 4, np.uint8)
        return self._scratch

    def _buffer(self, message_bytes: int, messages: int) -> np.ndarray:
        """An output buffer big enough for the batch, taken in turn so that the payloads
        of the batches still being written stay intact."""
        from analytics_platform.ingestion.copy_kernel import row_capacity

        self._turn = (self._turn + 1) % BUFFERS
        needed = row_capacity(message_bytes, messages, len(self.spec.columns))
        if self._buffers[self._turn].shape[0] < needed:
            self._buffers[self._turn] = np.empty(needed + needed // 4, np.uint8)
        return self._buffers[self._turn]

    def needs_partitions(self, batch: PreparedBatch) -> bool:
        """Whether writing `batch` creates daily partitions first (see `_ensure_span`)."""
        if not batch.micros.size:
            return False
        return not self._span_days(int(batch.micros.min()), int(batch.micros.max())) <= (
            self._known_days
        )

    def write(
        self,
        conn: psycopg.Connection,
        batch: PreparedBatch,
        *,
        after: threading.Event | None = None,
        ordered: threading.Event | None = None,
    ) -> BatchResult:
        """Store a prepared batch in one transaction (outside any transaction of `conn`).

        Raises OffsetConflictError (nothing written) if the stored offsets moved since
        the batch was read.

        Two consecutive batches may be written at once on two connections. The rows go
        in first; then this write waits for `after`, the previous batch's `ordered`,
        which that write sets once it has locked the touched-hour and offset rows (or
        failed). Only then does it update those rows, so its updates queue behind the
        previous batch's locks in PostgreSQL: they succeed after its commit and find the
        offsets unmoved after its rollback, which rolls this batch back too. Neither
        write ever waits on a lock of the later one, so the pair cannot deadlock.
        """
        try:
            return self._write(conn, batch, after, ordered)
        finally:
            if ordered is not None:
                ordered.set()

    def _write(
        self,
        conn: psycopg.Connection,
        batch: PreparedBatch,
        after: threading.Event | None,
        ordered: threading.Event | None,
    ) -> BatchResult:
        result = BatchResult(self.topic, self.spec.table, messages=batch.messages)
        result.next_offsets = dict(batch.next_offsets)
        result.duplicates = batch.duplicates
        if batch.micros.size:
            self._ensure_span(conn, int(batch.micros.min()), int(batch.micros.max()))
        with conn.transaction():
            letters = batch.letters
            try:
                with conn.transaction():  # a savepoint: a refused row undoes only the COPY
                    inserted = self._insert(conn, batch.payload, batch.rows, batch.micros)
            except DATA_ERRORS as exc:
                _LOG.warning(
                    "%s: PostgreSQL refused a row of the batch at offsets %s (%s); "
                    "isolating the offending messages into dead letters",
                    self.topic,
                    batch.start_offsets,
                    exc,
                )
                inserted, refused = self._isolate(conn, batch)
                letters = [*letters, *refused]
            result.hours = self._hours(inserted)
            result.rows_inserted = sum(h.rows for h in result.hours.values())
            refused = len(letters) - len(batch.letters)
            result.duplicates += batch.micros.size - result.rows_inserted - refused
            if letters:
                with conn.cursor() as cur:
                    cur.executemany(read_sql("ingest/insert_dead_letter.sql"), letters)
            result.dead_letters = len(letters)
            if after is not None:
                after.wait()
            self._record_hours(conn, result.hours)
            self._store_offsets(conn, batch.start_offsets, batch.next_offsets)
            if ordered is not None:
                ordered.set()
        return result

    def _isolate(
        self, conn: psycopg.Connection, batch: PreparedBatch
    ) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
        """Insert the batch's rows in halves, each in a savepoint, down to single rows,
        so that only the rows PostgreSQL refuses become dead letters.

        Returns the occurred_at (microseconds) of the rows inserted and the dead letters.
        Rare (the contract is meant to keep such rows out), so simple: about two COPYs
        per level of halving for each refused row.
        """
        pending = [np.flatnonzero(batch.kept).tolist()]
        inserted: list[np.ndarray] = []
        letters: list[tuple[Any, ...]] = []
        view = memoryview(batch.buffer)
        while pending:
            indices = pending.pop()
            if not indices:
                continue
            payload = [
                view[batch.row_start[i] : batch.row_end[i]] for i in indices if batch.encoded[i]
            ]
            rows = [batch.decoded[i] for i in indices if not batch.encoded[i]]
            try:
                with conn.transaction():
                    inserted.append(self._insert(conn, payload, rows, batch.all_micros[indices]))
            except DATA_ERRORS as exc:
                if len(indices) > 1:
                    middle = len(indices) // 2
                    pending += [indices[middle:], indices[:middle]]
                    continue
                i = indices[0]
                letters.append(
                    (
                        self.topic,
                        batch.partition_list[i],
                        batch.offset_list[i],
                        batch.keys[i],
                        batch.values[i],
                        f"PostgreSQL refused the row ({exc.sqlstate}): "
                        f"{exc.diag.message_primary or exc}",
                    )
                )
        return (np.concatenate(inserted) if inserted else np.zeros(0, np.int64)), letters

    # -- rows built elsewhere (dead-letter replay, tests) ----------------------------
    def ensure_partitions(self, conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Create the daily partitions full raw rows need (see `_ensure_span`)."""
        if rows:
            self._ensure_span(
                conn, _micros(min(r[1] for r in rows)), _micros(max(r[1] for r in rows))
            )

    def insert_rows(
        self, conn: psycopg.Connection, rows: list[tuple[Any, ...]]
    ) -> dict[datetime, HourTouched]:
        """Insert full raw rows (event columns, then partition and offset), dropping
        duplicates, and record the hours they touched; returns those hours.

        Runs inside the caller's transaction; partitions must exist (`ensure_partitions`).
        """
        if not rows:
            return {}
        self.bind(conn)
        micros = np.array([_micros(r[1]) for r in rows], np.int64)
        hours = self._hours(self._insert(conn, [], rows, micros))
        self._record_hours(conn, hours)
        return hours

    # -- internals -------------------------------------------------------------------
    def _ensure_span(self, conn: psycopg.Connection, first: int, last: int) -> None:
        """Create missing daily partitions for [first, last] (microseconds) in a short
        transaction of their own.

        Outside the batch transaction because creating a partition locks the parent
        table; known days are cached so the common batch makes no call at all. A batch
        that creates partitions is written alone (see runner._pipeline), so when one is
        needed the days after the batch are made too, up to `_DAYS_AHEAD` but not past
        tomorrow (maintenance makes those): loading history day by day then pauses the
        concurrent writes once a week instead of once a day.
        """
        days = self._span_days(first, last)
        if days <= self._known_days:
            return
        last_day = max(days)
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        ahead = min(last_day + timedelta(days=_DAYS_AHEAD), max(last_day, tomorrow))
        end = datetime.combine(ahead, datetime.min.time(), UTC)
        with conn.transaction():
            ensure_raw_partitions(conn, self._table, _EPOCH + first * _MICROSECOND, end)
        self._known_days |= days | {
            last_day + timedelta(days=i) for i in range((ahead - last_day).days + 1)
        }

    @staticmethod
    def _span_days(first: int, last: int) -> set[date]:
        """UTC days from `first` to `last` (microseconds), both included."""
        start = (_EPOCH + first * _MICROSECOND).date()
        end = (_EPOCH + last * _MICROSECOND).date()
        return {start + timedelta(days=i) for i in range((end - start).days + 1)}

    def _store_offsets(
        self, conn: psycopg.Connection, starts: dict[int, int], ends: dict[int, int]
    ) -> None:
        partitions = sorted(starts)
        if not partitions:
            return
        stored = conn.execute(
            read_sql("ingest/store_offsets.sql"),
            {
                "consumer_group": self.consumer_group,
                "topic": self.topic,
                "partitions": partitions,
                "start_offsets": [starts[p] for p in partitions],
                "next_offsets": [ends[p] for p in partitions],
            },
        )
        moved = set(partitions) - {r[0] for r in stored.fetchall()}
        if moved:
            raise OffsetConflictError(
                f"{self.topic}: stored offsets of partitions {sorted(moved)} are no longer "
                "where this batch started; another ingest process is writing this topic. "
                "The batch was rolled back; ingestion re-reads from the stored offsets."
            )

    def _copy_statement(self, target: sql.Composable) -> sql.Composed:
        return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            target, sql.SQL(", ").join(map(sql.Identifier, self.spec.columns))
        )

    def _copy(
        self,
        conn: psycopg.Connection,
        target: sql.Composable,
        payload: list[memoryview],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """COPY the encoded rows as they are, then the Python rows through psycopg."""
        assert self._types is not None
        with conn.cursor() as cur:
            if payload:
                with cur.copy(self._copy_statement(target)) as copy:
                    copy.write(COPY_SIGNATURE)
                    for piece in payload:
                        copy.write(piece)
                    copy.write(COPY_TRAILER)
            if rows:
                with cur.copy(self._copy_statement(target)) as copy:
                    copy.set_types(self._types)
                    for row in rows:
                        copy.write_row(row)

    def _insert(
        self,
        conn: psycopg.Connection,
        payload: list[memoryview],
        rows: list[tuple[Any, ...]],
        micros: np.ndarray,
    ) -> np.ndarray:
        """Insert the rows, dropping any already in the table; returns the occurred_at
        (microseconds) of the rows inserted. `micros` are those of all the rows."""
        table = sql.Identifier(self._schema, self._table)
        try:
            with conn.transaction():  # a savepoint: a duplicate undoes only the COPY
                self._copy(conn, table, payload, rows)
            return micros
        except psycopg.errors.UniqueViolation:
            pass
        stage = sql.Identifier(f"stage_{self._table}")
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            ).format(stage, table)
        )
        self._copy(conn, stage, payload, rows)
        columns = sql.SQL(", ").join(map(sql.Identifier, self.spec.columns))
        inserted = conn.execute(
            sql.SQL(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "
                "ON CONFLICT DO NOTHING RETURNING occurred_at"
            ).format(table=table, columns=columns, stage=stage)
        )
        return np.array([_micros(r[0]) for r in inserted.fetchall()], np.int64)

    def _hours(self, micros: np.ndarray) -> dict[datetime, HourTouched]:
        """Rows and latest event time per reporting-zone hour.

        Bucketing by 15-minute UTC slots first keeps the per-row work to one division;
        each distinct slot then maps to the local hour it lies in, for any zone offset.
        """
        if not micros.size:
            return {}
        ordered = np.sort(micros)
        slot_of = ordered // _SLOT_MICROS
        # In sorted order each slot is one run: its count is the run's length and its
        # latest event the run's last element.
        firsts = np.flatnonzero(np.diff(slot_of, prepend=slot_of[0] - 1))
        ends = np.append(firsts[1:], ordered.size)
        slots, counts, latest = slot_of[firsts], ends - firsts, ordered[ends - 1]
        hours: dict[datetime, HourTouched] = {}
        for slot, count, last in zip(slots.tolist(), counts.tolist(), latest.tolist(), strict=True):
            local = (_EPOCH + slot * _SLOT_MICROS * _MICROSECOND).astimezone(self.tz)
            start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
            latest_ts = _EPOCH + last * _MICROSECOND
            mine = hours.get(start)
            if mine is None:
                hours[start] = HourTouched(start, count, latest_ts)
            else:
                hours[start] = HourTouched(
                    start, mine.rows + count, max(mine.max_occurred_at, latest_ts)
                )
        return hours

    def _record_hours(self, conn: psycopg.Connection, hours: dict[datetime, HourTouched]) -> None:
        if not hours:
            return
        ordered = sorted(hours.values(), key=lambda h: h.hour_start)
        conn.execute(
            read_sql("ingest/record_touched_hours.sql"),
            {
                "raw_table": self.spec.table,
                "hour_starts": [h.hour_start for h in ordered],
                "rows": [h.rows for h in ordered],
                "max_occurred_ats": [h.max_occurred_at for h in ordered],
            },
        )
