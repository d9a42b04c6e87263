"""Latency from produce to queryable row, through the running ingest sensor.

A real `dagster-daemon run` (Dagster storage in PostgreSQL, the repo's dagster.yaml and
workspace.yaml, `INGEST_SENSOR_INTERVAL_SECONDS=5`) ticks the transactions sensor as in
production, while this process produces transactions at a steady 5,000 events/s for
60 s, each stamped with its send time (its `occurred_at`, and the Kafka timestamp).

When is a message queryable? `ingest.offsets` is committed in the same transaction as
the rows, so once a partition's `next_offset` passes a message's offset, its row (or
its dead letter) is visible. A poller reads the 64 stored offsets every 100 ms; a
message's latency is the start of the first poll that saw it minus its send time
(so up to 100 ms pessimistic). Every message sent in the window counts, duplicates and
malformed ones included.

Before the window, one message a second is sent until one is visible: the daemon, its
code server and the sensor's first tick are then up, as in steady state. The sensor's
ticks are read back from Dagster's storage afterwards to report their structure.
"""

from __future__ import annotations

import bisect
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import KafkaError, Message, Producer

from analytics_platform.events import TOPICS
from analytics_platform.migrations import migrate
from analytics_platform.resources.kafka import producer_config, topic_name
from analytics_platform.settings import REPO_ROOT, Settings
from benchmarks.ingest import (
    _TIME_AT,
    PARTITIONS,
    SHORT_NAME,
    Services,
    bench_settings,
    gc_paused,
    has_layout,
    log,
    services,
    transaction_messages,
)

RATE = 5_000  # events/s
DURATION = 60.0  # s
POLL_INTERVAL = 0.1  # s
SENSOR_INTERVAL = 5  # s, the daemon's floor
TARGET_P95 = 5.0  # s
STARTUP_TIMEOUT = 180.0
DRAIN_TIMEOUT = 60.0
_BURST_SECONDS = 0.005  # sends are spread in bursts this far apart
_TIME_WIDTH = len("2026-01-01T00:00:00.000000+00:00")


# --------------------------------------------------------------------------- producing
class PacedProducer:
    """Sends generator-shaped transactions stamped with their send time."""

    def __init__(self, settings: Settings, payloads: list[tuple[bytes, bytes]]) -> None:
        self.topic = topic_name(settings, SHORT_NAME)
        self.payloads = payloads
        self.next = 0
        self.failed = 0
        # (partition, offset, send time in ms) of every acknowledged message.
        self.delivered: list[tuple[int, int, int]] = []
        self.producer = Producer(producer_config(settings))

    def _delivered(self, sent_ms: int, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered.append((message.partition() or 0, message.offset() or 0, sent_ms))
        else:
            self.failed += 1

    def send(self, count: int) -> None:
        """`count` messages stamped now (occurred_at and Kafka timestamp alike)."""
        now = time.time()
        ms = int(now * 1000)
        # Built from the same millisecond as the Kafka timestamp the latency is taken from.
        stamp = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="microseconds")
        stamp_bytes = stamp.encode()
        # The send time travels with the delivery report: delivered messages do not
        # report the timestamp they were produced with.
        report = functools.partial(self._delivered, ms)
        for _ in range(count):
            key, value = self.payloads[self.next % len(self.payloads)]
            self.next += 1
            # Malformed messages may lack the layout: sent as they are.
            if has_layout(value):
                value = value[:_TIME_AT] + stamp_bytes + value[_TIME_AT + _TIME_WIDTH :]
            self.producer.produce(self.topic, value, key, timestamp=ms, on_delivery=report)
        self.producer.poll(0)

    def paced(self, rate: float, seconds: float) -> tuple[float, float, int]:
        """Send at `rate` for `seconds`; returns (start, end) wall times and the count."""
        started_wall = time.time()
        started = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate)
            if due > sent:
                self.send(due - sent)
                sent = due
            self.producer.poll(0)
            time.sleep(_BURST_SECONDS)
        return started_wall, time.time(), sent

    def flush(self) -> None:
        self.producer.flush(30)

    def close(self) -> None:
        # Before the embedded Kafka stops, or the client logs reconnect failures.
        self.producer.flush(30)
        self.producer.close()


# --------------------------------------------------------------------------- visibility
@dataclass
class OffsetPoller:
    """Polls ingest.offsets; remembers when each partition's next_offset moved."""

    settings: Settings
    topic: str
    # partition -> [(poll start wall time, next_offset)], next_offset increasing
    history: dict[int, list[tuple[float, int]]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)

    def run(self) -> None:
        try:
            with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
                while not self.stop.is_set():
                    polled_at = time.time()
                    rows = conn.execute(
                        "SELECT partition, next_offset FROM ingest.offsets "
                        "WHERE consumer_group = %s AND topic = %s",
                        (self.settings.kafka_consumer_group, self.topic),
                    ).fetchall()
                    for partition, next_offset in rows:
                        seen = self.history.setdefault(partition, [])
                        if not seen or seen[-1][1] != next_offset:
                            seen.append((polled_at, next_offset))
                    self.stop.wait(POLL_INTERVAL)
        except Exception as exc:  # reported by the main thread, which owns the outcome
            self.errors.append(repr(exc))

    def visible_at(self, partition: int, offset: int) -> float | None:
        """Start of the first poll that found `offset` committed, if any did."""
        seen = self.history.get(partition, [])
        index = bisect.bisect_right([n for _, n in seen], offset)
        return seen[index][0] if index < len(seen) else None

    def all_visible(self, delivered: list[tuple[int, int, int]]) -> bool:
        last: dict[int, int] = {}
        for partition, offset, _ in delivered:
            last[partition] = max(last.get(partition, -1), offset)
        return all(self.visible_at(p, o) is not None for p, o in last.items())


# --------------------------------------------------------------------------- the daemon
@contextmanager
def dagster_daemon(env: dict[str, str], workdir: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` on the repo's workspace, stopped (with its code server) at exit."""
    log_path = workdir / "daemon.log"
    with log_path.open("w") as out:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own process group: the code server it spawns is stopped with it.
            start_new_session=True,
        )
        try:
            yield daemon
        finally:
            stop_group(daemon)


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group (the daemon and its code server), SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass  # already gone
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def daemon_log_tail(workdir: Path, chars: int = 3000) -> str:
    path = workdir / "daemon.log"
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@dataclass(frozen=True)
class Tick:
    start: float
    end: float
    status: str
    messages: int | None


def sensor_ticks(home: Path, dagster_pg_url: str, sensor: str) -> list[Tick]:
    """The sensor's ticks as Dagster stored them, oldest first."""
    from dagster import DagsterInstance

    previous = os.environ.get("DAGSTER_PG_URL")
    # dagster.yaml reads the storage URL from the environment.
    os.environ["DAGSTER_PG_URL"] = dagster_pg_url
    try:
        instance = DagsterInstance.from_config(str(home))
        try:
            ticks: list[Tick] = []
            for state in instance.all_instigator_state():
                if state.instigator_name != sensor:
                    continue
                for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id):
                    if tick.end_timestamp is None:
                        continue
                    messages = None
                    if tick.cursor:
                        messages = json.loads(tick.cursor).get("messages")
                    ticks.append(
                        Tick(tick.timestamp, tick.end_timestamp, tick.status.value, messages)
                    )
            return sorted(ticks, key=lambda t: t.start)
        finally:
            instance.dispose()
    finally:
        if previous is None:
            del os.environ["DAGSTER_PG_URL"]
        else:
            os.environ["DAGSTER_PG_URL"] = previous


# --------------------------------------------------------------------------- run
@dataclass
class LatencyRun:
    latencies: list[float]
    sent: int
    rate: float
    ticks: list[Tick]
    window: tuple[float, float]
    never_visible: int


def wait_until(condition: Any, timeout: float, daemon: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited (code {daemon.returncode}) {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s {what}")
        time.sleep(0.2)


def warm_up(producer: PacedProducer, poller: OffsetPoller, daemon: subprocess.Popen) -> None:
    """One message a second until the sensor has ingested one: daemon, code server and
    loader are then up, as they are in steady state."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        producer.send(1)
        producer.flush()
        sent = list(producer.delivered)
        for _ in range(10):
            if poller.all_visible(sent):
                return
            if daemon.poll() is not None:
                raise RuntimeError(f"dagster-daemon exited (code {daemon.returncode})")
            time.sleep(0.1)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no message ingested within {STARTUP_TIMEOUT:.0f} s")


def measure(found: Services, workdir: Path) -> LatencyRun:
    prefix = f"lat{uuid.uuid4().hex[:6]}."
    analytics_url = found.create_database("latency")
    dagster_pg_url = found.create_database("dagster")
    settings = bench_settings(analytics_url, found.bootstrap_servers, prefix)
    migrate(settings)
    # Every topic the sensors read must exist, or their ticks fail.
    for short_name in TOPICS:
        found.create_topic(topic_name(settings, short_name), PARTITIONS)
    with gc_paused():
        payloads = transaction_messages(int(RATE * DURATION * 1.1))

    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": dagster_pg_url,
        "DATABASE_URL": analytics_url,
        "KAFKA_BOOTSTRAP_SERVERS": found.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": prefix,
        "INGEST_SENSOR_INTERVAL_SECONDS": str(SENSOR_INTERVAL),
    }
    producer = PacedProducer(settings, payloads)
    poller = OffsetPoller(settings, producer.topic)
    polling = threading.Thread(target=poller.run, name="offset-poller", daemon=True)
    polling.start()
    try:
        with dagster_daemon(env, workdir) as daemon:
            started = time.monotonic()
            warm_up(producer, poller, daemon)
            log(f"daemon up, sensor ingesting after {time.monotonic() - started:.1f} s")
            first_measured = len(producer.delivered)
            window_start, window_end, sent = producer.paced(RATE, DURATION)
            producer.flush()
            log(f"sent {sent:,} messages in {window_end - window_start:.1f} s")
            measured = producer.delivered[first_measured:]
            try:
                wait_until(lambda: poller.all_visible(measured), DRAIN_TIMEOUT, daemon, "draining")
            except TimeoutError:
                log("not every message became visible in time; they count as missing")
    except Exception:
        log("daemon log tail:\n" + daemon_log_tail(workdir))
        raise
    finally:
        producer.close()
        poller.stop.set()
        polling.join()
    if poller.errors:
        raise RuntimeError(f"polling ingest.offsets failed: {poller.errors[0]}")
    if producer.failed:
        raise RuntimeError(f"{producer.failed} messages were not delivered to Kafka")
    latencies: list[float] = []
    never = 0
    for partition, offset, ms in measured:
        seen = poller.visible_at(partition, offset)
        if seen is None:
            never += 1
        else:
            latencies.append(seen - ms / 1000)
    ticks = sensor_ticks(home, dagster_pg_url, "ingest_" + SHORT_NAME)
    return LatencyRun(
        latencies=latencies,
        sent=len(measured),
        rate=len(measured) / (window_end - window_start),
        ticks=[t for t in ticks if window_start - SENSOR_INTERVAL <= t.start <= window_end + 30],
        window=(window_start, window_end),
        never_visible=never,
    )


def describe_ticks(ticks: list[Tick], window_start: float) -> None:
    for tick in ticks:
        messages = "-" if tick.messages is None else f"{tick.messages:,}"
        log(
            f"tick at {tick.start - window_start:+7.2f} s: {tick.end - tick.start:5.2f} s, "
            f"{messages} messages ({tick.status})"
        )


def metrics_of(r: LatencyRun) -> dict[str, dict]:
    if len(r.latencies) < 100:
        raise RuntimeError(f"only {len(r.latencies)} messages became visible")
    q = statistics.quantiles(r.latencies, n=100, method="inclusive")
    durations = [t.end - t.start for t in r.ticks]
    intervals = [b.start - a.start for a, b in zip(r.ticks, r.ticks[1:], strict=False)]
    gaps = [b.start - a.end for a, b in zip(r.ticks, r.ticks[1:], strict=False)]

    def metric(value: float | int | None, unit: str, target: float | None = None) -> dict:
        return {"value": value, "unit": unit, "target": target}

    return {
        "ingest_latency_p50_seconds": metric(q[49], "s"),
        "ingest_latency_p95_seconds": metric(q[94], "s", TARGET_P95),
        "ingest_latency_p99_seconds": metric(q[98], "s"),
        "ingest_latency_max_seconds": metric(max(r.latencies), "s"),
        "ingest_latency_rate": metric(r.rate, "events/s", RATE),
        "ingest_latency_messages": metric(r.sent, "messages"),
        "ingest_latency_never_visible": metric(r.never_visible, "messages"),
        "ingest_latency_ticks": metric(len(r.ticks), "ticks"),
        "ingest_latency_tick_seconds_median": metric(
            statistics.median(durations) if durations else None, "s"
        ),
        "ingest_latency_tick_seconds_max": metric(max(durations, default=None), "s"),
        "ingest_latency_tick_interval_seconds_median": metric(
            statistics.median(intervals) if intervals else None, "s"
        ),
        "ingest_latency_tick_gap_seconds_max": metric(max(gaps, default=None), "s"),
    }


def run() -> dict[str, dict]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-latency-") as workdir,
        services() as found,
    ):
        result = measure(found, Path(workdir))
    describe_ticks(result.ticks, result.window[0])
    return metrics_of(result)


if __name__ == "__main__":
    for name, metric in run().items():
        print(name, metric)
