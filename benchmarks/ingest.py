"""Ingestion throughput: the COPY ceiling against Kafka -> raw.transactions end to end.

All figures come from the same 1,000,000 transaction messages:

- ceiling: their decoded rows (valid, deduplicated, as the loader would insert them)
  written with binary COPY straight into raw.transactions of a fresh migrated database,
  one transaction per `INGEST_BATCH_SIZE` rows. No Kafka, no JSON decode: what the
  database can absorb at best. The loader sends rows already encoded for binary COPY,
  so the ceiling does too (`ingest_copy_ceiling_rows_per_second`: the rows as
  PostgreSQL itself encodes them, produced before the clock starts, written as bytes).
  The earlier ceiling, psycopg formatting each row from Python objects with
  `write_row` (client-bound here), is measured too for comparison
  (`ingest_copy_ceiling_write_row_rows_per_second`).
- end to end: the messages already in Kafka, ingested into another fresh database by
  `ingest_topic`, the function the sensor ticks and the catch-up run call, with the
  default batch size. The loader's compiled fast path is warmed first (loaded from
  numba's cache, or compiled), as a running ingest process has it.

The messages are the synthetic generator's own transactions (payload shapes, nulls,
metadata, its default duplicate and malformed fractions), so dedupe and dead letters
are exercised as in production. Generating 1M transactions the normal way means
simulating about 4.4M events of all five topics (35 s here), so one simulated day of
about 50k transactions is generated and tiled: copy k gets the event ids' first byte
set to k and its dates moved k days, which keeps every event unique (and a duplicate
still identical to its original) and spreads the rows over 20 daily partitions.

The embedded Kafka keeps only about 38k lz4-compressed events per partition, so the
topic gets 64 partitions and the measurement is refused if any low watermark moved.

Each measurement starts after a CHECKPOINT (the previous one's WAL is not written back
during it) and reports CPU per event of this process (decode, COPY formatting, the
consumer's threads) and of the embedded PostgreSQL, plus the cores other processes used
meanwhile: on a shared 2-core machine they can halve a rate, and the CPU figures stay
comparable when the wall-clock ones do not.

DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS, when set, point at the servers to use instead
of the embedded ones; the benchmark then creates (and drops) databases and topics of
its own there, never touching existing data.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql

from analytics_platform.dev.event_sinks import produce_to_kafka
from analytics_platform.dev.generator import GeneratedEvent, GeneratorConfig, generate_events
from analytics_platform.dev.kafka import EmbeddedKafka
from analytics_platform.dev.postgres import EmbeddedPostgres
from analytics_platform.events import EventDecoder, RejectedEvent, topic_spec
from analytics_platform.ingestion.runner import IngestReport, ingest_topic, loader_for
from analytics_platform.migrations import migrate
from analytics_platform.resources.kafka import (
    admin_config,
    get_watermarks,
    producer_config,
    topic_name,
)
from analytics_platform.resources.warehouse import connect
from analytics_platform.settings import Settings, load_settings

SHORT_NAME = "transactions"
MESSAGES = 1_000_000
PARTITIONS = 64
# One simulated day at this rate holds about 50k transaction messages: 20 copies.
POOL_EVENTS_PER_DAY = 40_000
COPIES = 20
TARGET_EVENTS_PER_SECOND = 150_000
TARGET_RATIO = 0.6

_ID_PREFIX = b'{"event_id":"'
_TIME_FIELD = b'","occurred_at":"'
_ID_AT = len(_ID_PREFIX)
_TIME_AT = _ID_AT + 36 + len(_TIME_FIELD)


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while untimed set-up builds millions of objects
    (none of them in cycles): each pass would walk all of them again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------- services
@dataclass
class Services:
    """A PostgreSQL server and a Kafka cluster, embedded or given by the environment."""

    admin_url: str
    bootstrap_servers: str
    embedded_kafka: EmbeddedKafka | None
    postgres: EmbeddedPostgres | None = None
    databases: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)

    def create_database(self, label: str) -> str:
        """A new empty database (dropped at exit); returns its postgresql:// URL."""
        name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.databases.append(name)
        return database_url(self.admin_url, name)

    def create_topic(self, name: str, partitions: int) -> None:
        if self.embedded_kafka is not None:
            self.embedded_kafka.create_topic(name, partitions)
        else:
            admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
            for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
                future.result(timeout=30)
        self.topics.append(name)

    def cleanup(self) -> None:
        # Only what the benchmark created itself, and only on servers it did not start
        # (an embedded server disappears with its temporary directory anyway).
        if self.postgres is None:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                for name in self.databases:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
        if self.embedded_kafka is None and self.topics:
            admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
            for future in admin.delete_topics(self.topics).values():
                try:
                    future.result(timeout=30)
                except Exception as exc:  # best effort: report, do not mask the results
                    log(f"could not delete a benchmark topic: {exc}")


def database_url(admin_url: str, name: str) -> str:
    """A URL for database `name` on the server of `admin_url` (a URL or key=value string).

    A URL, not libpq's key=value form: Dagster's storage (SQLAlchemy) parses only URLs.
    """
    params = psycopg.conninfo.conninfo_to_dict(admin_url)
    params["dbname"] = name
    user = quote(str(params.pop("user", "")), safe="")
    password = params.pop("password", None)
    auth = f"{user}:{quote(str(password), safe='')}@" if password is not None else f"{user}@"
    host = str(params.pop("host", ""))
    port = params.pop("port", None)
    # A socket directory (pgserver) cannot sit in the netloc; libpq takes it as ?host=.
    netloc = "" if host.startswith("/") else host + (f":{port}" if port else "")
    query = {k: str(v) for k, v in params.items() if k != "dbname"}
    if host.startswith("/"):
        query["host"] = host
        if port:
            query["port"] = str(port)
    return f"postgresql://{auth}{netloc}/{quote(name)}" + (f"?{urlencode(query)}" if query else "")


@contextmanager
def services() -> Iterator[Services]:
    with ExitStack() as stack:
        postgres = None
        admin_url = os.environ.get("DATABASE_URL")
        if not admin_url:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-pg-")))
            postgres = EmbeddedPostgres(data_dir / "data", databases=()).start()
            stack.callback(postgres.stop)
            admin_url = postgres.admin_url
        embedded = None
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            embedded = stack.enter_context(EmbeddedKafka())
            bootstrap = embedded.bootstrap_servers
        found = Services(admin_url, bootstrap, embedded, postgres)
        stack.callback(found.cleanup)
        yield found


def bench_settings(database_url: str, bootstrap: str, topic_prefix: str, **env: str) -> Settings:
    """Settings from the environment, pointed at the benchmark's database and topics."""
    own = ("DATABASE_URL", "DAGSTER_PG_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX")
    base = {k: v for k, v in os.environ.items() if k not in own}
    return load_settings(
        {
            **base,
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_TOPIC_PREFIX": topic_prefix,
            **env,
        }
    )


# --------------------------------------------------------------------------- messages
def has_layout(value: bytes) -> bool:
    """Whether a message starts like the generator's valid events (id, then time)."""
    return value.startswith(_ID_PREFIX) and value[_ID_AT + 36 : _TIME_AT] == _TIME_FIELD


def _tile(value: bytes, copy: int, dates: dict[bytes, bytes]) -> bytes:
    """Copy `copy` of a generated message: new event id, dates moved `copy` days.

    Messages without the generator's layout (the malformed ones) are kept as they are:
    they are dead letters whatever their ids.
    """
    if not has_layout(value):
        return value
    day = value[_TIME_AT : _TIME_AT + 10]
    moved = dates.get(day)
    if moved is None:
        try:
            shifted = date.fromisoformat(day.decode()) + timedelta(days=copy)
        except ValueError:
            return value
        moved = dates[day] = shifted.isoformat().encode()
    return b"".join(
        (
            value[:_ID_AT],
            b"%02x" % copy,
            value[_ID_AT + 2 : _TIME_AT],
            moved,
            value[_TIME_AT + 10 :],
        )
    )


def transaction_messages(count: int = MESSAGES, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """`count` (key, value) transaction messages in the generator's production order."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = GeneratorConfig(
        seed=seed,
        days=1,
        events_per_day=POOL_EVENTS_PER_DAY,
        start=today - timedelta(days=COPIES + 1),
    )
    pool = [(e.key, e.value) for e in generate_events(config) if e.topic == SHORT_NAME]
    copies = -(-count // len(pool))
    messages: list[tuple[bytes, bytes]] = []
    for copy in range(copies):
        dates: dict[bytes, bytes] = {}
        messages.extend((key, _tile(value, copy, dates)) for key, value in pool)
    return messages[:count]


def produce(settings: Settings, messages: Sequence[tuple[bytes, bytes]]) -> None:
    """Send the messages with the platform's producer settings (lz4, idempotent)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    produce_to_kafka(
        (GeneratedEvent(SHORT_NAME, key, value, epoch) for key, value in messages),
        producer_config(settings),
        settings.kafka_topic_prefix,
        total=len(messages),
        progress=False,
    )


def check_retention(settings: Settings, expected: int) -> dict[int, tuple[int, int]]:
    """Watermarks of the topic; raises if Kafka dropped anything (the run is invalid)."""
    topic = topic_name(settings, SHORT_NAME)
    admin = AdminClient(admin_config(settings))
    watermarks = get_watermarks(admin, topic, range(PARTITIONS), timeout=30)
    truncated = {p: low for p, (low, _) in watermarks.items() if low > 0}
    if truncated:
        raise RuntimeError(
            f"{topic}: retention already dropped messages (low watermarks {truncated}); "
            "the measurement would be invalid. Use more partitions."
        )
    held = sum(high for _, high in watermarks.values())
    if held != expected:
        raise RuntimeError(f"{topic}: holds {held:,} messages, expected {expected:,}")
    return watermarks


# --------------------------------------------------------------------------- ceiling
def decoded_rows(settings: Settings, messages: Sequence[tuple[bytes, bytes]]) -> list[tuple]:
    """The rows the loader inserts for these messages: valid, deduplicated, with a
    (partition, offset) of the same shape as Kafka's."""
    spec = topic_spec(SHORT_NAME)
    not_before = datetime.combine(settings.start_date, datetime.min.time(), settings.tz)
    decoder = EventDecoder(
        spec, not_before, timedelta(seconds=settings.event_max_future_skew_seconds)
    )
    until = decoder.accepted_until(datetime.now(UTC))
    seen: set[tuple[Any, Any]] = set()
    rows: list[tuple] = []
    for index, (_key, value) in enumerate(messages):
        try:
            row = decoder.decode(value, until)
        except RejectedEvent:
            continue
        if (row[0], row[1]) in seen:
            continue
        seen.add((row[0], row[1]))
        rows.append((*row, index % PARTITIONS, index // PARTITIONS))
    return rows


def _copy_statement(conn: psycopg.Connection) -> tuple[sql.Composed, list[str]]:
    spec = topic_spec(SHORT_NAME)
    columns = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
    statement = sql.SQL("COPY raw.transactions ({}) FROM STDIN (FORMAT BINARY)").format(columns)
    types = dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
            "WHERE attrelid = 'raw.transactions'::regclass AND attnum > 0"
        ).fetchall()
    )
    return statement, [types[c] for c in spec.columns]


def copy_rows(conn: psycopg.Connection, rows: Sequence[tuple], batch_size: int) -> None:
    """Binary COPY of `rows` into raw.transactions, one transaction per batch."""
    statement, column_types = _copy_statement(conn)
    for start in range(0, len(rows), batch_size):
        with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(column_types)
            for row in rows[start : start + batch_size]:
                copy.write_row(row)


def encoded_batches(
    conn: psycopg.Connection, rows: Sequence[tuple], batch_size: int
) -> list[bytes]:
    """The rows as PostgreSQL encodes them for binary COPY, one stream per batch: what the
    server itself would read back, with no client formatting left to time."""
    _, column_types = _copy_statement(conn)
    spec = topic_spec(SHORT_NAME)
    columns = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
    conn.execute("CREATE TEMP TABLE encoded_rows AS SELECT * FROM raw.transactions WITH NO DATA")
    load = sql.SQL("COPY encoded_rows ({}) FROM STDIN (FORMAT BINARY)").format(columns)
    dump = sql.SQL("COPY (SELECT {} FROM encoded_rows) TO STDOUT (FORMAT BINARY)").format(columns)
    batches = []
    for start in range(0, len(rows), batch_size):
        conn.execute("TRUNCATE encoded_rows")
        with conn.cursor() as cur:
            with cur.copy(load) as copy:
                copy.set_types(column_types)
                for row in rows[start : start + batch_size]:
                    copy.write_row(row)
            with cur.copy(dump) as copy:
                batches.append(b"".join(bytes(chunk) for chunk in copy))
    conn.execute("DROP TABLE encoded_rows")
    return batches


def copy_encoded(conn: psycopg.Connection, batches: Sequence[bytes]) -> None:
    """Binary COPY of already encoded batches into raw.transactions, one transaction each."""
    statement, _ = _copy_statement(conn)
    for batch in batches:
        with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            copy.write(batch)


def prepare_partitions(database_url: str, rows: Sequence[tuple]) -> None:
    """Create the daily partitions the rows need, outside the timed COPY."""
    first = min(r[1] for r in rows)
    last = max(r[1] for r in rows)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT ingest.ensure_raw_partitions('transactions', %s, %s)", (first, last))


def table_rows(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM raw.transactions").fetchone()
        return int(row[0]) if row else 0


# --------------------------------------------------------------------------- CPU
# This machine is shared: other processes' CPU during a run is reported next to the
# rates, and client and server CPU per event say which side a change should target.
_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _ticks(pid: int | str, reaped: bool = False) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, from /proc (Linux only); with `reaped`,
    plus the CPU of its children that exited and it waited for."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return int(fields[1]), ticks / _HZ


def _server_processes(postmaster: int) -> dict[int, float]:
    """CPU seconds of each child of the postmaster (backends, workers), and of the
    postmaster itself with its exited children (a backend closed during a measurement,
    like the ingest's second connection, counts there once reaped)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        ticks = _ticks(pid, reaped=pid == postmaster)
        if ticks is not None and postmaster in (ticks[0], pid):
            found[pid] = ticks[1]
    return found


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / _HZ  # minus idle and iowait


@dataclass
class CpuUse:
    """CPU seconds spent during a measurement, by whom (None where unknown)."""

    wall: float
    client: float
    server: float | None
    others: float | None


class CpuMeter:
    """Measures a block: this process, the embedded PostgreSQL, everything else."""

    def __init__(self, postmaster: int | None) -> None:
        self.postmaster = postmaster if Path("/proc/stat").exists() else None
        self.use: CpuUse | None = None

    @contextmanager
    def measure(self) -> Iterator[None]:
        server_before = _server_processes(self.postmaster) if self.postmaster else {}
        busy_before = _machine_busy() if self.postmaster else 0.0
        client_before, wall_before = time.process_time(), time.perf_counter()
        yield
        wall = time.perf_counter() - wall_before
        client = time.process_time() - client_before
        if not self.postmaster:
            self.use = CpuUse(wall, client, None, None)
            return
        # A backend that exited during the block counts in the postmaster's reaped
        # children once the postmaster has waited for it, a moment after it exits.
        time.sleep(0.2)
        server_after = _server_processes(self.postmaster)
        server = sum(server_after[p] - server_before.get(p, 0.0) for p in server_after)
        others = _machine_busy() - busy_before - client - server
        self.use = CpuUse(wall, client, server, max(0.0, others))


def postmaster_pid(found: Services) -> int | None:
    if found.postgres is None:
        return None
    pid_file = found.postgres.data_dir / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def checkpoint(database_url: str) -> None:
    """Start a measurement with no dirty WAL of the previous one to write back."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        try:
            conn.execute("CHECKPOINT")
        except psycopg.Error as exc:  # needs superuser or pg_checkpoint on a real server
            log(f"no CHECKPOINT before the measurement ({exc.sqlstate})")


# --------------------------------------------------------------------------- run
@dataclass
class Throughput:
    messages: int
    ceiling_rows: int
    ceiling_seconds: float
    write_row_ceiling_seconds: float
    report: IngestReport
    end_to_end_seconds: float
    rows_in_table: int
    cpu: CpuUse | None
    ceiling_cpu: CpuUse | None
    write_row_ceiling_cpu: CpuUse | None

    @property
    def ceiling_rate(self) -> float:
        return self.ceiling_rows / self.ceiling_seconds

    @property
    def write_row_ceiling_rate(self) -> float:
        return self.ceiling_rows / self.write_row_ceiling_seconds

    @property
    def end_to_end_rate(self) -> float:
        return self.messages / self.end_to_end_seconds


def measure_ceilings(
    found: Services, url: str, rows: list[tuple], batch_size: int
) -> tuple[CpuUse, CpuUse]:
    """COPY of the rows pre-encoded, then (after emptying the table) with write_row."""
    prepare_partitions(url, rows)
    with connect(url, autocommit=True) as conn:
        batches = encoded_batches(conn, rows, batch_size)
    uses = []
    for label, write in (
        ("encoded", lambda conn: copy_encoded(conn, batches)),
        ("write_row", lambda conn: copy_rows(conn, rows, batch_size)),
    ):
        with connect(url, autocommit=True) as conn:
            conn.execute("TRUNCATE raw.transactions")
        checkpoint(url)
        meter = CpuMeter(postmaster_pid(found))
        with connect(url, autocommit=True) as conn, meter.measure():
            write(conn)
        assert meter.use is not None
        log(f"ceiling ({label}): {len(rows):,} rows in {meter.use.wall:.2f} s")
        uses.append(meter.use)
    # Autovacuum would otherwise vacuum and analyze these million rows while the
    # end-to-end run is measured, and its CPU would count as the ingest's server CPU.
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) raw.transactions")
    return uses[0], uses[1]


def measure(found: Services) -> Throughput:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    started = time.perf_counter()
    with gc_paused():
        messages = transaction_messages()
    count = len(messages)
    log(f"{count:,} transaction messages built in {time.perf_counter() - started:.1f} s")

    e2e_url = found.create_database("e2e")
    settings = bench_settings(e2e_url, found.bootstrap_servers, prefix)
    migrate(settings)
    found.create_topic(topic_name(settings, SHORT_NAME), PARTITIONS)
    started = time.perf_counter()
    produce(settings, messages)
    log(f"produced to Kafka in {time.perf_counter() - started:.1f} s")
    check_retention(settings, count)

    ceiling_url = found.create_database("ceiling")
    migrate(bench_settings(ceiling_url, found.bootstrap_servers, prefix))
    with gc_paused():
        rows = decoded_rows(settings, messages)
    del messages
    encoded_use, write_row_use = measure_ceilings(
        found, ceiling_url, rows, settings.ingest_batch_size
    )
    # Millions of live objects would make every garbage collection of the end-to-end
    # run slower than in an ingest process, which holds one batch at a time.
    del rows
    gc.collect()

    checkpoint(e2e_url)
    meter = CpuMeter(postmaster_pid(found))
    # The connection is the caller's, as in the sensor, so its backend outlives the run
    # and its CPU can be read.
    with connect(settings.database_url, autocommit=True) as conn:
        loader = loader_for(settings, SHORT_NAME)
        loader.bind(conn)
        loader.warm_up()
        with meter.measure():
            report = ingest_topic(
                settings, SHORT_NAME, batch_size=settings.ingest_batch_size, conn=conn
            )
    assert meter.use is not None
    seconds = meter.use.wall
    log(
        f"end to end: {report.result.messages:,} messages in {seconds:.2f} s, "
        f"{report.batches} batches"
    )
    # The retention check again: a truncation during the run would have failed it.
    check_retention(settings, count)
    result = Throughput(
        messages=report.result.messages,
        ceiling_rows=table_rows(ceiling_url),
        ceiling_seconds=encoded_use.wall,
        write_row_ceiling_seconds=write_row_use.wall,
        report=report,
        end_to_end_seconds=seconds,
        rows_in_table=table_rows(e2e_url),
        cpu=meter.use,
        ceiling_cpu=encoded_use,
        write_row_ceiling_cpu=write_row_use,
    )
    if result.messages != count or result.rows_in_table != result.ceiling_rows:
        raise RuntimeError(
            f"ingested {result.messages:,} of {count:,} messages into "
            f"{result.rows_in_table:,} rows; the ceiling wrote {result.ceiling_rows:,}"
        )
    return result


def metrics_of(t: Throughput) -> dict[str, dict]:
    r = t.report.result
    return {
        "ingest_copy_ceiling_rows_per_second": {
            "value": t.ceiling_rate,
            "unit": "rows/s",
            "target": None,
        },
        "ingest_copy_ceiling_write_row_rows_per_second": {
            "value": t.write_row_ceiling_rate,
            "unit": "rows/s",
            "target": None,
        },
        "ingest_end_to_end_events_per_second": {
            "value": t.end_to_end_rate,
            "unit": "events/s",
            "target": TARGET_EVENTS_PER_SECOND,
        },
        "ingest_end_to_end_to_ceiling_ratio": {
            "value": t.end_to_end_rate / t.ceiling_rate,
            "unit": "ratio",
            "target": TARGET_RATIO,
        },
        "ingest_end_to_end_to_write_row_ceiling_ratio": {
            "value": t.end_to_end_rate / t.write_row_ceiling_rate,
            "unit": "ratio",
            "target": None,
        },
        "ingest_end_to_end_seconds": {
            "value": t.end_to_end_seconds,
            "unit": "s",
            "target": None,
        },
        "ingest_messages": {"value": t.messages, "unit": "messages", "target": None},
        "ingest_rows_inserted": {"value": r.rows_inserted, "unit": "rows", "target": None},
        "ingest_duplicates_dropped": {"value": r.duplicates, "unit": "messages", "target": None},
        "ingest_dead_letters": {"value": r.dead_letters, "unit": "messages", "target": None},
        "ingest_batches": {"value": t.report.batches, "unit": "batches", "target": None},
        **cpu_metrics(t),
    }


def cpu_metrics(t: Throughput) -> dict[str, dict]:
    """Who used the CPU: per event end to end, per row for the ceiling, other processes."""

    def metric(value: float | None, unit: str) -> dict:
        return {"value": value, "unit": unit, "target": None}

    def per(seconds: float | None, count: int) -> float | None:
        return None if seconds is None else seconds / count * 1e6

    def cores(use: CpuUse) -> float | None:
        return None if use.others is None else use.others / use.wall

    metrics: dict[str, dict] = {}
    if (use := t.ceiling_cpu) is not None:
        metrics["ingest_ceiling_server_cpu_us_per_row"] = metric(
            per(use.server, t.ceiling_rows), "us/row"
        )
        metrics["ingest_ceiling_other_processes_cpu_cores"] = metric(cores(use), "cores")
    if (use := t.write_row_ceiling_cpu) is not None:
        metrics["ingest_write_row_ceiling_client_cpu_us_per_row"] = metric(
            per(use.client, t.ceiling_rows), "us/row"
        )
        metrics["ingest_write_row_ceiling_server_cpu_us_per_row"] = metric(
            per(use.server, t.ceiling_rows), "us/row"
        )
    if (use := t.cpu) is not None:
        metrics["ingest_client_cpu_us_per_event"] = metric(per(use.client, t.messages), "us/event")
        metrics["ingest_server_cpu_us_per_event"] = metric(per(use.server, t.messages), "us/event")
        metrics["ingest_other_processes_cpu_cores"] = metric(cores(use), "cores")
    return metrics


def run() -> dict[str, dict]:
    with services() as found:
        return metrics_of(measure(found))


if __name__ == "__main__":
    for name, metric in run().items():
        print(name, metric)
