"""Ingesting a topic: from the stored offsets up to end offsets, batch by batch.

The one function the inline sensor tick, the catch-up run and the benchmark all call.
No Dagster here: the sensor and the job are a few lines around `ingest_topic`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from threading import Lock

import psycopg

from analytics_platform.events import EventDecoder, topic_spec
from analytics_platform.ingestion.loader import (
    BatchResult,
    LoaderBusyError,
    PreparedBatch,
    RawLoader,
    collection_paused,
)
from analytics_platform.ingestion.reader import TopicReader
from analytics_platform.resources.kafka import (
    OffsetTruncatedError,
    find_truncations,
    topic_name,
)
from analytics_platform.resources.warehouse import (
    WarehouseUnavailableError,
    connect,
    read_sql,
)
from analytics_platform.settings import Settings

_LOG = logging.getLogger(__name__)


class IngestionBlockedError(RuntimeError):
    """Ingestion of a topic is stopped until an operator acknowledges lost offsets."""


class OffsetBeyondEndError(RuntimeError):
    """A stored offset lies past the end of its partition: the topic was recreated."""


@dataclass(frozen=True)
class TopicState:
    """Where ingestion of one topic stands: stored offsets against Kafka's watermarks."""

    topic: str
    stored: dict[int, int]
    watermarks: dict[int, tuple[int, int]]

    @property
    def start(self) -> dict[int, int]:
        """Next offset to read per partition; a partition never read starts at its low
        watermark (nothing before it exists any more)."""
        return {p: self.stored.get(p, low) for p, (low, _high) in self.watermarks.items()}

    @property
    def end(self) -> dict[int, int]:
        return {p: high for p, (_low, high) in self.watermarks.items()}

    @property
    def lag(self) -> int:
        start = self.start
        return sum(max(0, high - start[p]) for p, (_low, high) in self.watermarks.items())

    def lag_by_partition(self) -> dict[int, int]:
        start = self.start
        return {p: max(0, high - start[p]) for p, (_low, high) in self.watermarks.items()}


@dataclass
class IngestReport:
    topic: str
    state: TopicState
    result: BatchResult
    batches: int = 0
    seconds: float = 0.0
    remaining: int = 0
    stopped_because: str = "drained"
    batch_seconds: list[float] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.result.messages / self.seconds if self.seconds > 0 else 0.0


# Loaders remember recently committed event ids, which only pays off if they outlive a
# sensor tick: one per (database, topic, group) for the life of the process.
_LOADERS: dict[tuple[str, str, str], RawLoader] = {}
_LOADERS_LOCK = Lock()


def loader_for(settings: Settings, short_name: str) -> RawLoader:
    topic = topic_name(settings, short_name)
    key = (settings.database_url, topic, settings.kafka_consumer_group)
    with _LOADERS_LOCK:
        loader = _LOADERS.get(key)
        if loader is None:
            spec = topic_spec(short_name)
            not_before = datetime.combine(settings.start_date, datetime.min.time(), settings.tz)
            decoder = EventDecoder(
                spec,
                not_before,
                timedelta(seconds=settings.event_max_future_skew_seconds),
                settings.ingest_max_message_bytes,
            )
            loader = RawLoader(spec, topic, settings.kafka_consumer_group, decoder, settings.tz)
            _LOADERS[key] = loader
        return loader


def unacknowledged_gaps(conn: psycopg.Connection, consumer_group: str, topic: str) -> list[tuple]:
    return conn.execute(
        "SELECT partition, lost_from, lost_to, detected_at FROM ingest.gaps "
        "WHERE consumer_group = %s AND topic = %s AND acknowledged_at IS NULL "
        "ORDER BY partition, lost_from",
        (consumer_group, topic),
    ).fetchall()


def read_state(
    conn: psycopg.Connection, reader: TopicReader, loader: RawLoader, timeout: float = 10.0
) -> TopicState:
    """Stored offsets and watermarks, after checking nothing was lost or recreated.

    A truncation is recorded in ingest.gaps before raising, so it stays visible (and
    blocking) until acknowledged, even if Kafka's watermarks later look innocent.
    """
    gaps = unacknowledged_gaps(conn, loader.consumer_group, loader.topic)
    if gaps:
        raise IngestionBlockedError(_blocked_message(loader.topic, gaps))
    partitions = reader.partitions(timeout)
    watermarks = reader.watermarks(partitions, timeout)
    stored = loader.stored_offsets(conn)
    if missing := sorted(set(stored) - set(watermarks)):
        raise OffsetBeyondEndError(
            f"{loader.topic}: partitions {missing} have stored offsets but no longer exist "
            "in Kafka; the topic was recreated with fewer partitions"
        )
    if not stored and reader.settings.ingest_first_start == "latest":
        stored = _start_at_latest(conn, loader, watermarks)
    # A partition never ingested starts at offset 0 (INGEST_FIRST_START=earliest): if
    # Kafka's log no longer begins there, retention deleted events nobody read, which is
    # the same loss as a later truncation and is recorded and blocks the same way.
    first_reads = {p: 0 for p in watermarks if p not in stored}
    if truncations := find_truncations(loader.topic, {**stored, **first_reads}, watermarks):
        _record_gaps(conn, loader.consumer_group, truncations)
        raise (
            truncations[0]
            if len(truncations) == 1
            else IngestionBlockedError(
                _blocked_message(
                    loader.topic, [(t.partition, t.lost_from, t.lost_to, None) for t in truncations]
                )
            )
        )
    ahead = {p: o for p, o in stored.items() if o > watermarks[p][1]}
    if ahead:
        raise OffsetBeyondEndError(
            f"{loader.topic}: stored offsets {ahead} are past the end of their partitions "
            f"(high watermarks { {p: watermarks[p][1] for p in ahead} }); the topic was "
            "recreated or points at another cluster. To read it from its start, delete the "
            f"topic's rows: `DELETE FROM ingest.offsets WHERE topic = '{loader.topic}'` "
            "(events already stored are dropped as duplicates on insert)."
        )
    return TopicState(loader.topic, stored, watermarks)


def _start_at_latest(
    conn: psycopg.Connection, loader: RawLoader, watermarks: dict[int, tuple[int, int]]
) -> dict[int, int]:
    """INGEST_FIRST_START=latest on a topic never ingested: store every partition's high
    watermark as its next offset, and the history skipped as gaps an operator has
    acknowledged by choosing the setting (visible in ingest.gaps, not blocking)."""
    group, by = loader.consumer_group, "INGEST_FIRST_START=latest"
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ingest.offsets (consumer_group, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(group, loader.topic, p, high) for p, (_low, high) in watermarks.items()],
        )
        cur.executemany(
            "INSERT INTO ingest.gaps (consumer_group, topic, partition, lost_from, lost_to, "
            "acknowledged_at, acknowledged_by) VALUES (%s, %s, %s, 0, %s, now(), %s) "
            "ON CONFLICT DO NOTHING",
            [(group, loader.topic, p, high, by) for p, (_low, high) in watermarks.items() if high],
        )
    return loader.stored_offsets(conn)


def _blocked_message(topic: str, gaps: list[tuple]) -> str:
    ranges = ", ".join(f"[{p}] offsets {lo}..{hi - 1}" for p, lo, hi, *_ in gaps)
    return (
        f"{topic}: Kafka deleted events before they were ingested ({ranges}); ingestion of "
        "this topic is stopped. Recover the events from their source if you can, then run "
        f"`analytics-platform ingest acknowledge-gap --topic {topic} --partition P` "
        "for each partition to continue after the gap."
    )


def _record_gaps(
    conn: psycopg.Connection, consumer_group: str, truncations: list[OffsetTruncatedError]
) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            read_sql("ingest/record_gap.sql"),
            [(consumer_group, t.topic, t.partition, t.lost_from, t.lost_to) for t in truncations],
        )


def ingest_topic(
    settings: Settings,
    short_name: str,
    *,
    end_offsets: Mapping[int, int] | None = None,
    follow: bool = False,
    time_budget: float | None = None,
    batch_size: int = 50_000,
    on_batch: Callable[[BatchResult, int], None] | None = None,
    conn: psycopg.Connection | None = None,
) -> IngestReport:
    """Ingest `short_name` from its stored offsets up to `end_offsets` (default: the
    high watermarks now), committing batch by batch, stopping early after `time_budget`
    seconds. With `follow=True` (the sensor's inline mode; needs a time budget) it keeps
    ingesting new messages as they arrive until the budget is spent, so an event is
    queryable within a second of reaching Kafka during a tick.
    `on_batch(result, remaining)` is called after every committed batch.

    Batches are written (each its own transaction, on worker threads that mostly wait
    on the database) while the next one is read and decoded here, and two consecutive
    batches are written at once on two connections: one of them is nearly always
    copying rows, so PostgreSQL and this process work at the same time instead of
    taking turns (see `_Writers`). Commits still happen in offset order, and a failed
    write stops ingestion before a later batch commits.
    """
    if follow and (time_budget is None or end_offsets is not None):
        raise ValueError("follow=True needs a time_budget and no end_offsets")
    started = time.monotonic()
    loader = loader_for(settings, short_name)
    own_conn = conn is None
    conn = conn or connect(settings.database_url, autocommit=True)
    reader = TopicReader(settings, loader.topic)
    try:
        with recording_run(settings, loader):
            return _ingest(
                conn,
                loader,
                reader,
                started,
                end_offsets,
                follow,
                time_budget,
                batch_size,
                on_batch,
            )
    finally:
        reader.close()
        if own_conn:
            conn.close()


@contextmanager
def recording_run(settings: Settings, loader: RawLoader) -> Iterator[None]:
    """Record in ingest.topic_runs how the ingestion inside ended, for `ingest status`.

    On a connection of its own: the failure may have broken the caller's. Recording is
    best effort; the original error is what propagates.
    """
    try:
        yield
    except LoaderBusyError:
        raise  # another ingestion of the topic is running: not a failure of the topic
    except Exception as exc:
        _record_run(
            settings, loader, "ingest/record_run_failure.sql", f"{type(exc).__name__}: {exc}"
        )
        raise
    _record_run(settings, loader, "ingest/record_run_success.sql", None)


def _record_run(settings: Settings, loader: RawLoader, statement: str, error: str | None) -> None:
    try:
        with connect(settings.database_url, autocommit=True) as conn:
            conn.execute(
                read_sql(statement),
                {"consumer_group": loader.consumer_group, "topic": loader.topic, "error": error},
            )
    except (psycopg.Error, WarehouseUnavailableError) as exc:
        _LOG.warning("%s: could not record how the ingestion run ended: %s", loader.topic, exc)


def last_runs(conn: psycopg.Connection, consumer_group: str) -> dict[str, tuple]:
    """Per topic: (last success, last failure, failures since the success, last error)."""
    rows = conn.execute(
        "SELECT topic, last_succeeded_at, last_failed_at, failures, last_error "
        "FROM ingest.topic_runs WHERE consumer_group = %s",
        (consumer_group,),
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def _ingest(
    conn: psycopg.Connection,
    loader: RawLoader,
    reader: TopicReader,
    started: float,
    end_offsets: Mapping[int, int] | None,
    follow: bool,
    time_budget: float | None,
    batch_size: int,
    on_batch: Callable[[BatchResult, int], None] | None,
) -> IngestReport:
    state = read_state(conn, reader, loader)
    loader.bind(conn)
    if follow:
        reader.assign(state.start, None, known_end=state.end)
    else:
        reader.assign(state.start, dict(end_offsets) if end_offsets is not None else state.end)
    report = IngestReport(loader.topic, state, BatchResult(loader.topic, loader.spec.table))
    with loader.exclusive(), _Writers(reader.settings, conn, loader.spec.name) as writers:
        _pipeline(loader, reader, writers, report, started, time_budget, batch_size, on_batch)
    report.remaining = reader.remaining
    report.seconds = time.monotonic() - started
    return report


class _Writers:
    """Two connections, each written by a thread of its own, for consecutive batches.

    Batch N+1 copies its rows while batch N is still being written; `RawLoader.write`
    orders their updates of the shared rows (touched hours, offsets) through an event
    handed from each batch to the next, so commits follow offset order and a batch
    whose predecessor rolled back rolls back too. The second connection is opened when
    first needed.
    """

    def __init__(self, settings: Settings, conn: psycopg.Connection, short_name: str) -> None:
        self._settings = settings
        self._connections: list[psycopg.Connection] = [conn]
        self._threads = [ThreadPoolExecutor(1, thread_name_prefix=f"ingest-{short_name}-0")]
        self._name = short_name
        self._next = 0
        self._last_ordered: threading.Event | None = None

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc: object) -> None:
        for thread in self._threads:
            thread.shutdown(wait=True)
        for conn in self._connections[1:]:
            conn.close()

    def submit(self, loader: RawLoader, batch: PreparedBatch) -> Future[BatchResult]:
        """Write `batch` on the connection whose previous batch is two batches back."""
        turn = self._next
        self._next = (turn + 1) % 2
        if turn == len(self._connections):
            self._connections.append(connect(self._settings.database_url, autocommit=True))
            self._threads.append(
                ThreadPoolExecutor(1, thread_name_prefix=f"ingest-{self._name}-{turn}")
            )
        after, ordered = self._last_ordered, threading.Event()
        self._last_ordered = ordered
        return self._threads[turn].submit(
            loader.write, self._connections[turn], batch, after=after, ordered=ordered
        )


@dataclass
class _Write:
    """A batch handed to a writer."""

    future: Future[BatchResult]
    started: float
    messages: int
    partitions: frozenset[int]
    # It creates partitions: DDL that must not wait on a concurrent batch's locks.
    alone: bool


def _pipeline(
    loader: RawLoader,
    reader: TopicReader,
    writers: _Writers,
    report: IngestReport,
    started: float,
    time_budget: float | None,
    batch_size: int,
    on_batch: Callable[[BatchResult, int], None] | None,
) -> None:
    """Read and prepare batches here while up to two earlier ones are written."""
    in_flight: deque[_Write] = deque()
    # Partitions with a committed offsets row. A batch that would create the row of a
    # partition an unfinished batch also covers must wait for it: store_offsets.sql
    # creates a missing row without checking where the batch starts, so if the earlier
    # batch rolled back, the later one would record offsets past its unread messages.
    stored = set(report.state.stored)

    def settle(write: _Write, unread_here: int) -> None:
        result = write.future.result()
        stored.update(result.next_offsets)
        reader.commit_async(result.next_offsets)
        report.result.merge(result)
        report.batches += 1
        report.batch_seconds.append(time.monotonic() - write.started)
        if on_batch is not None:
            on_batch(result, reader.remaining + unread_here)

    def unread(extra: int) -> int:
        return extra + sum(w.messages for w in in_flight)

    try:
        while not reader.done:
            left = None if time_budget is None else time_budget - (time.monotonic() - started)
            if left is not None and left <= 0:
                report.stopped_because = "time budget"
                break
            batch_started = time.monotonic()
            # confluent_kafka Messages are GC-tracked: 50k of them would trigger
            # collections over the whole (in a code server, large) heap while read.
            with collection_paused():
                read = reader.read(batch_size, timeout=min(left or 5.0, 5.0))
                prepared = (
                    loader.prepare(
                        read.messages, datetime.now(UTC), read.partitions, read.offsets, read.values
                    )
                    if read.messages
                    else None
                )
            size = prepared.messages if prepared else 0
            partitions = frozenset(prepared.start_offsets) if prepared else frozenset()
            alone = prepared is not None and loader.needs_partitions(prepared)
            while in_flight and (
                len(in_flight) == 2
                or alone
                or in_flight[-1].alone
                or in_flight[0].future.done()
                or any((partitions - stored) & w.partitions for w in in_flight)
            ):
                settle(in_flight.popleft(), unread(size))
            if prepared is not None:
                in_flight.append(
                    _Write(writers.submit(loader, prepared), batch_started, size, partitions, alone)
                )
        while in_flight:
            settle(in_flight.popleft(), unread(0))
    except BaseException:
        # The connections must be idle again before anyone else uses or closes them, and
        # event ids of batches that were prepared but not committed must be forgotten.
        wait([w.future for w in in_flight])
        loader.recent.clear()
        raise
