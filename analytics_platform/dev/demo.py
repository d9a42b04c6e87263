"""`analytics-platform demo`: the whole platform on one machine, nothing installed.

Both modes start the embedded PostgreSQL and Kafka in this process, migrate, produce a
seeded history ending now into Kafka and ingest it with the ingest sensors' function.

- `run_demo` (`make demo`) then rolls the history up (one SQL statement per mart),
  starts the Dagster webserver and daemon (`dagster dev`, sensors and automation on),
  launches a Dagster backfill of the history's partitions through the webserver's
  GraphQL API as the UI would, starts a live event stream and the API, creates an admin
  key and prints where everything is, until Ctrl-C stops it all.
- `run_demo_once` (`demo --once`, CI) materializes the history's partitions through
  Dagster in process instead, asks the API in process, prints a summary and returns.

Every child server runs in a process group of its own and is stopped with its group;
the embedded services die with this process at the latest.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import psycopg
from dagster import DagsterInstance

from analytics_platform.dev.child_processes import ChildProcess, ChildProcessError
from analytics_platform.dev.dagster_graphql import (
    FINISHED,
    IN_PROCESS,
    SUCCEEDED,
    AssetPartitionRange,
    BackfillFailedError,
    GraphQLError,
    backfill_failures,
    backfill_runs,
    backfill_status,
    backfill_url,
    launch_backfill,
)
from analytics_platform.dev.dagster_processes import (
    STARTUP_TIMEOUT_SECONDS,
    dagster_dev,
    dagster_environment,
    prepare_dagster_home,
    server_info_url,
)
from analytics_platform.dev.demo_api import (
    EXAMPLES,
    ApiAnswer,
    api_available,
    api_process,
    ask_in_process,
    ask_over_http,
    create_demo_key,
    curl_command,
    has_numbers,
)
from analytics_platform.dev.demo_summary import (
    DemoSummary,
    format_summary,
    grain_lines,
    topic_lines,
)
from analytics_platform.dev.generator import Simulation
from analytics_platform.dev.history import (
    HistoryWindow,
    check_fits_embedded_kafka,
    history_config,
    history_window,
    ingest_history,
    produce_history,
)
from analytics_platform.dev.history_customers import compute_customers, format_customers
from analytics_platform.dev.history_raw_events import RawHistoryReporter
from analytics_platform.dev.history_recommendations import history_recommendations
from analytics_platform.dev.history_rollups import (
    PartitionSpan,
    compute_spans,
    materialize_spans,
    partition_spans,
)
from analytics_platform.dev.live_stream import LiveStream, live_events
from analytics_platform.dev.services import (
    DevServices,
    install_stop_handlers,
    start_dev_services,
)
from analytics_platform.events import TOPICS
from analytics_platform.ingestion.runner import IngestReport
from analytics_platform.migrations import migrate
from analytics_platform.rollups.families import MARTS
from analytics_platform.settings import REPO_ROOT, Settings, load_settings

_STARTED = time.monotonic()
DEFAULT_DATA_DIR = REPO_ROOT / ".demo"
# Dagster batches a run's asset events into one write each this many; the demo's history
# backfill writes thousands of partition events (see dev/history_rollups.py).
DAGSTER_EVENT_BATCH_SIZE = "200"
# How often the running demo checks on its servers and the history backfill.
_WATCH_SECONDS = 5.0


class DemoError(RuntimeError):
    """A demo step failed; the message says which and where its log is."""


class DemoAlreadyRunningError(DemoError):
    """Another demo uses the same data directory."""


@dataclass(frozen=True)
class DemoOptions:
    days: int = 30
    events_per_day: int = 10_000
    seed: int = 42
    data_dir: Path = DEFAULT_DATA_DIR
    host: str = "127.0.0.1"
    dagster_port: int = 3000
    api_port: int = 8000
    live_events_per_second: float = 3.0
    progress: bool = True


class _Stoppable(Protocol):
    error: BaseException | None

    def stop(self, timeout: float = ...) -> None: ...


@dataclass
class _Running:
    """What the demo started, stopped in reverse order."""

    children: list[ChildProcess] = field(default_factory=list)
    threads: list[_Stoppable] = field(default_factory=list)


def _step(message: str) -> None:
    """A step's headline, with the time since the command started (a newcomer sees
    where the minutes go)."""
    elapsed = int(time.monotonic() - _STARTED)
    print(f"==> [{elapsed // 60}:{elapsed % 60:02d}] {message}", flush=True)


@contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """One demo per data directory: a second one would delete the first one's database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "demo.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoAlreadyRunningError(
                f"another demo is running with data in {data_dir}; stop it (Ctrl-C in its "
                "terminal) or give this one another --data-dir"
            ) from None
        yield


def _relax_dagster_durability(services: DevServices) -> None:
    """Dagster commits every event on its own; without waiting for the disk flush its
    storage writes take about half the time. A demo's run history may lose its last
    events in a power cut; that is all."""
    with psycopg.connect(services.postgres.admin_url, autocommit=True) as conn:
        conn.execute("ALTER DATABASE dagster SET synchronous_commit = off")


def demo_environment(
    services: DevServices, window: HistoryWindow, options: DemoOptions
) -> dict[str, str]:
    """The variables that point the platform (this process and its children) at the
    embedded services and at the history's partitions."""
    return {
        **services.environment(),
        **dagster_environment(options.data_dir / "dagster_home"),
        "PARTITIONS_START_DATE": window.partitions_start_date.isoformat(),
        "DAGSTER_EVENT_BATCH_SIZE": DAGSTER_EVENT_BATCH_SIZE,
        # The demo's archive lives with its other data, not in the repository's .archive/.
        "ARCHIVE_URL": str(options.data_dir / "archive"),
    }


@contextmanager
def _platform(
    settings: Settings, window: HistoryWindow, options: DemoOptions
) -> Iterator[tuple[Settings, DevServices]]:
    """Embedded services, this process's environment pointed at them, schema migrated."""
    check_fits_embedded_kafka(window.days, options.events_per_day, settings.kafka_topic_partitions)
    with _exclusive(options.data_dir):
        _step("starting the embedded PostgreSQL and Kafka")
        services = start_dev_services(settings, options.data_dir)
        try:
            _relax_dagster_durability(services)
            # This process runs the asset functions (which read the settings from the
            # environment) and the children inherit it.
            os.environ.update(demo_environment(services, window, options))
            settings = load_settings()
            _step("migrating the database")
            report = migrate(settings)
            print(f"    {len(report.applied)} migrations applied", flush=True)
            yield settings, services
        finally:
            _step("stopping the embedded PostgreSQL and Kafka")
            services.stop()


def _load_history(
    settings: Settings, window: HistoryWindow, options: DemoOptions
) -> tuple[Simulation, dict[str, int], dict[str, IngestReport]]:
    """Produce and ingest the history; the simulation is left at its end for the live
    stream to carry on the same world."""
    history = Simulation(history_config(window, options.events_per_day, options.seed))
    _step(
        f"producing {window.days} days of events (about {options.events_per_day:,} "
        f"transactions a day, up to {window.end:%Y-%m-%d %H:%M %Z}) into Kafka"
    )
    produced = produce_history(settings, history, options.progress)
    _step("ingesting them into raw.* with the ingest sensors' function")
    reports = ingest_history(settings, produced, options.progress)
    for name, report in reports.items():
        r = report.result
        print(
            f"    {name:<20} {r.rows_inserted:>9,} rows  {r.duplicates:>6,} duplicates  "
            f"{r.dead_letters:>5,} dead letters",
            flush=True,
        )
    return history, produced, reports


def _spans(window: HistoryWindow) -> list[PartitionSpan]:
    # Imported only now: the partitions module reads PARTITIONS_START_DATE at import.
    from analytics_platform.assets.rollups import PARTITIONS

    return partition_spans(window.start, window.end, PARTITIONS)


def run_demo_once(settings: Settings, options: DemoOptions) -> int:
    """The demo without servers or live stream: history, ingestion, Dagster materializations
    in process, API answers in process, a summary. 0 when everything came out right."""
    window = history_window(options.days, datetime.now(UTC), settings.tz)
    with _platform(settings, window, options) as (settings, _services):
        _, produced, reports = _load_history(settings, window, options)

        from analytics_platform.assets.rollups import rollup_assets

        spans = _spans(window)
        _step(
            "materializing the rollup partitions with Dagster, in process: "
            + ", ".join(f"{s.count:,} {s.grain}" for s in spans)
        )
        with DagsterInstance.ephemeral() as instance:
            materialized = materialize_spans(rollup_assets, spans, instance, options.progress)
        _step("computing the customer tables and archiving the raw months that are due")
        customers = format_customers(compute_customers(settings, window.start, window.end))
        _step("training the recommendation models and writing the last day's recommendations")
        customers += history_recommendations(settings, window.start, window.end)

        answers: list[ApiAnswer] = []
        note = None
        if api_available():
            _step("asking the API (in process) with a new demo admin key")
            key = create_demo_key(settings.database_url)
            answers = ask_in_process(settings, key, EXAMPLES)
        else:
            note = "(no API in this checkout: analytics_platform.api.app is missing)"
        summary = DemoSummary(
            topics=topic_lines(produced, reports),
            grains=grain_lines(materialized),
            answers=answers,
            api_note=note,
            customers=customers,
        )
        print(format_summary(summary), flush=True)
    problems = _problems(summary)
    for problem in problems:
        print(f"demo --once: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _problems(summary: DemoSummary) -> list[str]:
    problems = []
    if lagging := [t.topic for t in summary.topics if t.lag]:
        problems.append(f"ingestion left events unread in {', '.join(lagging)}")
    if missing := [t.topic for t in summary.topics if t.produced and not t.ingested]:
        problems.append(f"nothing was ingested from {', '.join(missing)}")
    if summary.checks_failed:
        problems.append(f"{summary.checks_failed} asset check evaluation(s) failed")
    if bad := [a.target for a in summary.answers if a.status != 200]:
        problems.append(f"the API did not answer 200 to {', '.join(bad)}")
    return problems


def _ignore_further_interrupts() -> None:
    """Once stopping has begun, a second Ctrl-C must not abandon children half-stopped."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: print("    still stopping, please wait", flush=True))


def run_demo(settings: Settings, options: DemoOptions) -> int:
    """`make demo`: everything running until Ctrl-C (see the module docstring)."""
    window = history_window(options.days, datetime.now(UTC), settings.tz)
    running = _Running()
    with _platform(settings, window, options) as (settings, services):
        try:
            history, _, reports = _load_history(settings, window, options)
            backfill = _serve(settings, services, window, options, history, reports, running)
            # Until here Ctrl-C raises KeyboardInterrupt mid-step; the finally cleans up.
            stop = install_stop_handlers()
            print("Ctrl-C stops everything.", flush=True)
            return _watch(stop, running, backfill)
        finally:
            _ignore_further_interrupts()
            _step("stopping the live stream, the API and Dagster")
            for thread in reversed(running.threads):
                thread.stop()
            for child in reversed(running.children):
                child.stop()


def _watch(stop: threading.Event, running: _Running, backfill: tuple[str, str]) -> int:
    """Wait for Ctrl-C; say when the history backfill ends; give up (1) if a server dies."""
    dagster_url, backfill_id = backfill
    backfill_done = False
    reported: set[int] = set()
    while not stop.wait(_WATCH_SECONDS):
        for thread in running.threads:
            if thread.error is not None and id(thread) not in reported:
                reported.add(id(thread))
                print(f"demo: {type(thread).__name__} stopped: {thread.error!r}", file=sys.stderr)
        for child in running.children:
            if not child.running():
                print(
                    f"demo: {child.name} exited on its own; its log {child.log_path} ends "
                    f"with:\n{child.log_tail()}\nStopping everything.",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
        if not backfill_done:
            try:
                status = backfill_status(dagster_url, backfill_id)
            except (GraphQLError, BackfillFailedError, OSError) as exc:
                status = f"unknown ({exc})"
            if status in FINISHED:
                backfill_done = True
                try:
                    runs = backfill_runs(dagster_url, backfill_id).describe()
                except (GraphQLError, OSError) as exc:
                    runs = f"runs unknown: {exc}"
                print(
                    f"==> the history backfill ended {status} ({runs}): "
                    f"{backfill_url(dagster_url, backfill_id)}",
                    flush=True,
                )
                if status not in SUCCEEDED:
                    for failure in backfill_failures(dagster_url, backfill_id):
                        print(f"    {failure}", flush=True)
    return 0


def _serve(
    settings: Settings,
    services: DevServices,
    window: HistoryWindow,
    options: DemoOptions,
    history: Simulation,
    reports: dict[str, IngestReport],
    running: _Running,
) -> tuple[str, str]:
    """Start the servers, the backfill and the stream; (Dagster URL, backfill id)."""
    spans = _spans(window)
    _step(
        "rolling the history up, one SQL statement per mart: "
        + ", ".join(f"{s.count:,} {s.grain}" for s in spans)
        + " partitions"
    )
    compute_spans(settings.database_url, spans, settings.reporting_timezone, options.progress)
    _step("computing the customer tables and archiving the raw months that are due")
    for line in format_customers(compute_customers(settings, window.start, window.end)):
        print(f"    {line}", flush=True)
    _step("training the recommendation models and writing the last day's recommendations")
    for line in history_recommendations(settings, window.start, window.end):
        print(f"    {line}", flush=True)

    logs = options.data_dir / "logs"
    environment = dict(os.environ)
    dagster_url = f"http://{options.host}:{options.dagster_port}"
    _step(f"starting the Dagster webserver and daemon (dagster dev; log: {logs}/dagster.log)")
    prepare_dagster_home(settings.dagster_home)
    dagster = dagster_dev(environment, options.host, options.dagster_port, logs / "dagster.log")
    running.children.append(dagster.start())
    try:
        dagster.wait_for_http(
            server_info_url(options.host, options.dagster_port), STARTUP_TIMEOUT_SECONDS
        )
    except ChildProcessError as exc:
        raise DemoError(str(exc)) from None

    by_grain = {s.grain: s for s in spans}
    ranges = [
        AssetPartitionRange(m.schema_table, by_grain[m.grain].first_key, by_grain[m.grain].last_key)
        for m in MARTS
        if m.grain in by_grain
    ]
    _step("launching a backfill of the history's partitions through Dagster's GraphQL API")
    backfill_id = launch_backfill(
        dagster_url, ranges, title="make demo: the history", run_config=IN_PROCESS
    )
    reporter = RawHistoryReporter(reports).start()
    running.threads.append(reporter)

    if options.live_events_per_second > 0:
        _step(
            f"starting the live stream (about {options.live_events_per_second:g} events/s, "
            "the history's users and merchants carried on)"
        )
        events = live_events(history, options.live_events_per_second)
        running.threads.append(LiveStream(settings, events).start())

    api_url = f"http://{options.host}:{options.api_port}"
    key = None
    answers: list[ApiAnswer] = []
    if api_available():
        _step(f"starting the API (analytics-platform api; log: {logs}/api.log)")
        api = api_process(environment, options.host, options.api_port, logs / "api.log")
        running.children.append(api.start())
        try:
            api.wait_for_http(f"{api_url}/health/live", STARTUP_TIMEOUT_SECONDS)
        except ChildProcessError as exc:
            raise DemoError(str(exc)) from None
        key = create_demo_key(settings.database_url)
        answers = ask_over_http(api_url, key, EXAMPLES)

    _print_banner(
        dagster_url=dagster_url,
        backfill=backfill_url(dagster_url, backfill_id),
        partitions=sum(s.count for s in spans for m in MARTS if m.grain is s.grain),
        api_url=api_url if key else None,
        key=key,
        answers=answers,
        services=services,
        options=options,
    )
    return dagster_url, backfill_id


def _print_banner(
    *,
    dagster_url: str,
    backfill: str,
    partitions: int,
    api_url: str | None,
    key: str | None,
    answers: list[ApiAnswer],
    services: DevServices,
    options: DemoOptions,
) -> None:
    lines = [
        "",
        "analytics-platform demo is running",
        "",
        f"Dagster UI: {dagster_url}",
        f"    asset lineage:    {dagster_url}/asset-groups",
        f"    history backfill: {backfill}  ({partitions:,} partitions, in the background)",
        f"    sensors:          {dagster_url}/automation",
    ]
    if api_url and key:
        lines += [
            f"API docs: {api_url}/docs",
            f"API key: {key}",
            "",
            "Try:",
        ]
        for example, answer in zip(EXAMPLES, answers, strict=True):
            lines.append(f"  # {example.meaning}")
            lines.append(f"  {curl_command(api_url, key, example.target)}")
            marker = "" if has_numbers(answer) else "  (no numbers yet)"
            lines.append(f"  -> {answer.status} {answer.excerpt()}{marker}")
    else:
        lines.append("API: not started (analytics_platform.api.app is missing in this checkout)")
    lines += [
        "",
        f"Embedded services (data in {options.data_dir}):",
        f"  DATABASE_URL={services.database_url}",
        f"  KAFKA_BOOTSTRAP_SERVERS={services.kafka_bootstrap_servers}",
        f"Topics: {', '.join(TOPICS)} (prefix {load_settings().kafka_topic_prefix!r})",
        "",
    ]
    print("\n".join(lines), flush=True)
