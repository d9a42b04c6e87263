"""A 30-day backfill of every mart: the rollup runner alone, and the same through Dagster.

The demo's history backfill took 17 minutes on a loaded machine, although each mart's
SQL over the range takes seconds: this measures where the time goes.

1. `backfill_30d_runner_s`: every mart over its grain's span with the runner, one SQL
   statement per mart (`dev/history_rollups.compute_spans`, what the demo does first).
2. `backfill_30d_all_marts_s`: the same partitions through a Dagster asset backfill,
   launched through the webserver's GraphQL API as `make demo` and the UI launch one
   (one range run per mart, in process, two at a time), until the backfill is done.
3. `backfill_30d_command_s`: the same through `analytics-platform backfill`'s path: one
   run per grain over the range, launched directly (no backfill daemon).

Beside the wall clock: the CPU seconds the Dagster processes (webserver, daemon, code
servers and runs) spent per phase, read from /proc for the process trees, per partition.
A real webserver and daemon (`dagster-webserver`, `dagster-daemon`) run against an
embedded PostgreSQL and Kafka in a temporary directory; the history is the generator's,
written straight into the raw tables. Volume: BENCH_BACKFILL_EVENTS_PER_DAY transactions
a day (default 1,000: the Dagster overhead does not depend on it, and the SQL stays a
small part of the time).
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil

DAYS = 30
EVENTS_PER_DAY = int(os.environ.get("BENCH_BACKFILL_EVENTS_PER_DAY", "1000"))
TIMEOUT_SECONDS = 3600.0


def _tree_cpu(pids: list[int]) -> float:
    """CPU seconds of the processes and their descendants, including children they reaped."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            continue
    return total


@contextmanager
def _timed(results: dict[str, float], name: str, pids: list[int]) -> Iterator[None]:
    cpu_before, started = _tree_cpu(pids), time.perf_counter()
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    yield
    own = resource.getrusage(resource.RUSAGE_SELF)
    results[f"{name}_s"] = time.perf_counter() - started
    results[f"{name}_dagster_cpu_s"] = _tree_cpu(pids) - cpu_before
    results[f"{name}_client_cpu_s"] = (own.ru_utime + own.ru_stime) - (
        own_before.ru_utime + own_before.ru_stime
    )
    # Said at once: a later phase may fail or be cut short.
    wall, cpu = results[f"{name}_s"], results[f"{name}_dagster_cpu_s"]
    print(f"{name}: {wall:.1f} s, Dagster CPU {cpu:.1f} s", file=sys.stderr, flush=True)


def run() -> dict[str, dict]:
    from analytics_platform.dev.history import history_window

    # The demo's window: the 30 days up to now, so the rollup automation, running in the
    # daemon as in the demo, finds no closed bucket after the history to materialize.
    window = history_window(DAYS, datetime.now(UTC), ZoneInfo("UTC"))
    # The partitions module reads these at import: set them before anything imports it.
    os.environ["PARTITIONS_START_DATE"] = window.partitions_start_date.isoformat()
    os.environ["REPORTING_TIMEZONE"] = "UTC"
    saved = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
            return _measure(Path(tmp), window.start, window.end)
    finally:
        # The embedded services' URLs must not outlive them (machine_info reads
        # DATABASE_URL afterwards).
        os.environ.clear()
        os.environ.update(saved)


def _measure(tmp: Path, start: datetime, end: datetime) -> dict[str, dict]:
    from analytics_platform.dev.dagster_graphql import (
        IN_PROCESS,
        AssetPartitionRange,
        launch_backfill,
        wait_for_backfill,
    )
    from analytics_platform.dev.dagster_processes import (
        STARTUP_TIMEOUT_SECONDS,
        dagster_daemon,
        dagster_environment,
        dagster_webserver,
        prepare_dagster_home,
        server_info_url,
    )
    from analytics_platform.dev.generator import GeneratorConfig
    from analytics_platform.dev.raw_rows import load_generated_rows
    from analytics_platform.dev.services import start_dev_services
    from analytics_platform.migrations import migrate
    from analytics_platform.settings import load_settings

    services = start_dev_services(load_settings(), tmp)
    try:
        os.environ.update(services.environment())
        settings = load_settings()
        migrate(settings)
        config = GeneratorConfig(
            seed=1, days=DAYS, events_per_day=EVENTS_PER_DAY, start=start, malformed_fraction=0
        )
        load_generated_rows(settings.database_url, config, end, ZoneInfo("UTC"))

        from analytics_platform.assets.rollups import PARTITIONS
        from analytics_platform.automation.backfill import GrainRange, run_backfill
        from analytics_platform.dev.history_rollups import compute_spans, partition_spans
        from analytics_platform.rollups.families import MARTS

        spans = partition_spans(start, end, PARTITIONS)
        partitions = sum(s.count for s in spans for m in MARTS if m.grain is s.grain)
        results: dict[str, float] = {}
        load_before = os.getloadavg()[0]
        with _timed(results, "backfill_30d_runner", []):
            compute_spans(settings.database_url, spans, "UTC", progress=False)

        home = prepare_dagster_home(tmp / "dagster_home")
        environment = {
            **os.environ,
            **dagster_environment(home),
            "DAGSTER_EVENT_BATCH_SIZE": "200",
        }
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        webserver = dagster_webserver(environment, "127.0.0.1", port, tmp / "webserver.log")
        daemon = dagster_daemon(environment, tmp / "daemon.log")
        url = f"http://127.0.0.1:{port}"
        with webserver, daemon:
            webserver.wait_for_http(server_info_url("127.0.0.1", port), STARTUP_TIMEOUT_SECONDS)
            pids = [webserver.pid, daemon.pid]
            ranges = [
                AssetPartitionRange(list(m.schema_table), s.first_key, s.last_key)
                for s in spans
                for m in MARTS
                if m.grain is s.grain
            ]
            # The command's path first: the asset backfill then finds the same rows.
            plans = [GrainRange(s.grain, s.first_key, s.last_key) for s in spans]
            with _timed(results, "backfill_30d_command", pids):
                run_backfill(url, plans, TIMEOUT_SECONDS, say=lambda _line: None)
            with _timed(results, "backfill_30d_all_marts", pids):
                backfill = launch_backfill(url, ranges, "bench", run_config=IN_PROCESS)
                wait_for_backfill(url, backfill, TIMEOUT_SECONDS)
        load_after = os.getloadavg()[0]
    finally:
        services.stop()

    def metric(value: float, unit: str = "s") -> dict:
        return {"value": value, "unit": unit, "target": None}

    out = {name: metric(value) for name, value in results.items()}
    runner = results["backfill_30d_runner_s"]
    for name in ("backfill_30d_all_marts", "backfill_30d_command"):
        out[f"{name}_vs_runner"] = metric(results[f"{name}_s"] / runner, "x")
        out[f"{name}_dagster_cpu_per_partition_ms"] = metric(
            1000 * results[f"{name}_dagster_cpu_s"] / partitions, "ms"
        )
    out["backfill_30d_partitions"] = metric(partitions, "partitions")
    out["backfill_30d_transactions_per_day"] = metric(EVENTS_PER_DAY, "transactions")
    out["backfill_30d_load_average"] = metric(round((load_before + load_after) / 2, 1), "load")
    return out
