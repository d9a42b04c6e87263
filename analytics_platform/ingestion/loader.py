"""Loading a batch of Kafka messages into its raw table, exactly once. No Dagster here.

One batch is one PostgreSQL transaction holding the valid rows, the dead letters and
the advanced offsets, so the database never disagrees with itself about what was read:
a crash before COMMIT leaves no trace, a crash after it leaves nothing to redo.

Rows go in with COPY straight into the raw table, the fastest path PostgreSQL has.
Duplicates (same event_id and occurred_at) are removed first within the batch and
against the ids this loader committed recently; if one still reaches the table (a
redelivery from before this process started), the COPY fails on the primary key and
the batch is replayed through a staging table with `ON CONFLICT DO NOTHING`. Both paths
leave the same rows, the fast one is simply the common case.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from analytics_platform.events import EventDecoder, RejectedEvent, TopicSpec
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.resources.warehouse import read_sql

# Binary COPY needs the PostgreSQL type of every column; derived once per table.
_SLOT_SECONDS = 900  # every UTC offset in use is a multiple of 15 minutes


class KafkaMessage(Protocol):
    """What the loader needs of a message (confluent_kafka.Message has it)."""

    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


class OffsetConflictError(RuntimeError):
    """Another writer advanced the stored offsets since this batch was read.

    Nothing was written; re-read from the stored offsets. Normally impossible (one
    writer per topic), so it points at two ingest processes for the same topic.
    """


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


class RecentIds:
    """Bounded memory of the event keys this process committed lately.

    Two generations instead of an LRU: O(1) per lookup and a hard size bound, at the
    price of forgetting a key somewhere between `capacity/2` and `capacity` inserts
    later (which only sends a rare late duplicate down the slower path).
    """

    def __init__(self, capacity: int) -> None:
        self._half = max(1, capacity // 2)
        self._current: set[tuple[Any, Any]] = set()
        self._previous: set[tuple[Any, Any]] = set()

    def __contains__(self, key: tuple[Any, Any]) -> bool:
        return key in self._current or key in self._previous

    def add_all(self, keys: Sequence[tuple[Any, Any]]) -> None:
        for key in keys:
            self._current.add(key)
            if len(self._current) >= self._half:
                self._previous, self._current = self._current, set()


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
    ) -> None:
        self.spec = spec
        self.topic = topic
        self.consumer_group = consumer_group
        self.decoder = decoder
        self.tz = reporting_tz
        self.recent = RecentIds(recent_ids_capacity)
        self._known_days: set[date] = set()
        self._types: list[str] | None = None
        self._schema, self._table = spec.table.split(".")

    # -- reading state ---------------------------------------------------------------
    def stored_offsets(self, conn: psycopg.Connection) -> dict[int, int]:
        rows = conn.execute(
            "SELECT partition, next_offset FROM ingest.offsets "
            "WHERE consumer_group = %s AND topic = %s",
            (self.consumer_group, self.topic),
        )
        return dict(rows.fetchall())

    # -- writing a batch -------------------------------------------------------------
    def load(
        self, conn: psycopg.Connection, messages: Sequence[KafkaMessage], now: datetime
    ) -> BatchResult:
        """Decode and store one batch; offsets must continue exactly from the stored ones.

        `conn` must not be inside a transaction: the batch is its own. Raises
        OffsetConflictError (nothing written) if the stored offsets moved meanwhile.
        """
        result = BatchResult(self.topic, self.spec.table, messages=len(messages))
        with collection_paused():
            rows, letters, starts, keys = self._decode(messages, now, result)
            if rows:
                self.ensure_partitions(conn, rows)
            with conn.transaction():
                self._store_offsets(conn, starts, result.next_offsets)
                result.hours = self.insert_rows(conn, rows)
                result.rows_inserted = sum(h.rows for h in result.hours.values())
                result.duplicates += len(rows) - result.rows_inserted
                if letters:
                    with conn.cursor() as cur:
                        cur.executemany(read_sql("ingest/insert_dead_letter.sql"), letters)
                result.dead_letters = len(letters)
        # Only committed keys may be remembered: a rolled-back batch will be read again.
        self.recent.add_all(keys)
        return result

    def _decode(
        self, messages: Sequence[KafkaMessage], now: datetime, result: BatchResult
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[int, int], list[Any]]:
        decode = self.decoder.decode
        until = self.decoder.accepted_until(now)
        recent = self.recent
        rows: list[tuple[Any, ...]] = []
        letters: list[tuple[Any, ...]] = []
        starts: dict[int, int] = {}
        ends = result.next_offsets
        seen: set[tuple[Any, Any]] = set()
        keys: list[tuple[Any, Any]] = []
        for message in messages:
            partition, offset = message.partition(), message.offset()
            if partition is None or offset is None:
                raise ValueError("a message without partition/offset cannot be ingested")
            if partition not in starts:
                starts[partition] = offset
            elif offset != ends[partition]:
                raise ValueError(
                    f"{self.topic} [{partition}]: offsets not contiguous "
                    f"({ends[partition]} then {offset}); a batch must be read in order"
                )
            ends[partition] = offset + 1
            value = message.value()
            if value is None:
                letters.append(
                    (self.topic, partition, offset, message.key(), b"", "empty message (no value)")
                )
                continue
            try:
                row = decode(value, until)
            except RejectedEvent as rejected:
                letters.append(
                    (self.topic, partition, offset, message.key(), value, rejected.reason)
                )
                continue
            # The UUID's int, not the UUID: a key of an int and a datetime holds no object
            # the garbage collector tracks, and the two million kept in RecentIds would
            # otherwise be walked by every full collection.
            key = (row[0].int, row[1])
            if key in seen or key in recent:
                result.duplicates += 1
                continue
            seen.add(key)
            keys.append(key)
            rows.append((*row, partition, offset))
        return rows, letters, starts, keys

    def ensure_partitions(self, conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Create missing daily partitions in a short transaction of their own.

        Outside the batch transaction because creating a partition locks the parent
        table; known days are cached so the common batch makes no call at all.
        """
        first = min(r[1] for r in rows).astimezone(UTC)
        last = max(r[1] for r in rows).astimezone(UTC)
        days = {
            first.date() + timedelta(days=i) for i in range((last.date() - first.date()).days + 1)
        }
        if days <= self._known_days:
            return
        with conn.transaction():
            ensure_raw_partitions(conn, self._table, first, last)
        self._known_days |= days

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

    def _column_types(self, conn: psycopg.Connection) -> list[str]:
        if self._types is None:
            types = dict(conn.execute(_PG_TYPE_SQL, (self.spec.table,)).fetchall())
            self._types = [types[c] for c in self.spec.columns]
        return self._types

    def _copy(self, conn: psycopg.Connection, target: sql.Composable, rows: list[Any]) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            target, sql.SQL(", ").join(map(sql.Identifier, self.spec.columns))
        )
        types = self._column_types(conn)  # before COPY: the connection is busy during it
        with conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def insert_rows(
        self, conn: psycopg.Connection, rows: list[tuple[Any, ...]]
    ) -> dict[datetime, HourTouched]:
        """Insert full raw rows (event columns, then partition and offset), dropping
        duplicates, and record the hours they touched; returns those hours.

        Runs inside the caller's transaction; partitions must exist (`load` makes them).
        """
        if not rows:
            return {}
        hours = self._hours(self._write_rows(conn, rows))
        self._record_hours(conn, hours)
        return hours

    def _write_rows(self, conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> list[datetime]:
        """Insert rows, dropping duplicates; returns occurred_at of the rows inserted."""
        table = sql.Identifier(self._schema, self._table)
        try:
            with conn.transaction():  # a savepoint: a duplicate undoes only the COPY
                self._copy(conn, table, rows)
            return [r[1] for r in rows]
        except psycopg.errors.UniqueViolation:
            pass
        stage = sql.Identifier(f"stage_{self._table}")
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            ).format(stage, table)
        )
        self._copy(conn, stage, rows)
        columns = sql.SQL(", ").join(map(sql.Identifier, self.spec.columns))
        inserted = conn.execute(
            sql.SQL(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} "
                "ON CONFLICT DO NOTHING RETURNING occurred_at"
            ).format(table=table, columns=columns, stage=stage)
        )
        return [r[0] for r in inserted.fetchall()]

    def _hours(self, times: list[datetime]) -> dict[datetime, HourTouched]:
        """Rows and latest event time per reporting-zone hour.

        Bucketing by 15-minute UTC slots first keeps the per-row work to one division;
        each distinct slot then maps to the local hour it lies in, for any zone offset.
        """
        slots: dict[int, list[float]] = {}
        for ts in times:
            epoch = ts.timestamp()
            slot = int(epoch // _SLOT_SECONDS)
            entry = slots.get(slot)
            if entry is None:
                slots[slot] = [1, epoch]
            else:
                entry[0] += 1
                if epoch > entry[1]:
                    entry[1] = epoch
        hours: dict[datetime, HourTouched] = {}
        for slot, (count, latest) in slots.items():
            local = datetime.fromtimestamp(slot * _SLOT_SECONDS, UTC).astimezone(self.tz)
            start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
            latest_ts = datetime.fromtimestamp(latest, UTC)
            mine = hours.get(start)
            if mine is None:
                hours[start] = HourTouched(start, int(count), latest_ts)
            else:
                hours[start] = HourTouched(
                    start, mine.rows + int(count), max(mine.max_occurred_at, latest_ts)
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
