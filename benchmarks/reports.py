"""Monthly reports and the transaction export at a month's scale.

A month of transactions over 2,000 merchants (default 6,000,000; set REPORTS_BENCH_ROWS
to run at a reduced scale, which the table states) goes into raw.transactions with COPY
and is rolled up (transactions and failures marts: hourly, daily, monthly). Then:

1. seconds to render all the month's reports (platform + every merchant) into
   reports.monthly_reports, as reports/monthly does, with the CPU per report of the
   rendering process (reads, stores), of its render workers (build, HTML) and of its
   PostgreSQL backend; the seconds until the first batch is stored (the set-based reads
   and one batch); and the largest HTML's size;
2. the export: `GET /exports/transactions?format=csv` for the whole month from the API
   served by `analytics-platform api` in a child process, read by a streaming client that
   counts and drops the bytes: rows per second, and the API process's memory growth
   (peak RSS during the export minus RSS before it, from /proc).

Targets (issue 15): render everything in at most 60 s; at least 100,000 rows/s CSV with
the API process growing by less than 100 MB. Targets are reported, not asserted.

REPORTS_BENCH_DATA=DIR keeps the loaded and rolled-up month in DIR (an embedded PostgreSQL
there), so a second run at the same scale measures the render and the export again
without loading (about 6 minutes at 6M rows); the default is a temporary directory.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import psycopg

from analytics_platform.api.keys import create_api_key
from analytics_platform.dev.postgres import EmbeddedPostgres
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.migrations import migrate
from analytics_platform.reports.months import ReportMonth
from analytics_platform.reports.store import render_month
from analytics_platform.rollups.families import (
    FAILURES,
    MERCHANT_BREAKDOWN,
    TRANSACTIONS,
    Family,
    Grain,
    Mart,
)
from analytics_platform.rollups.runner import materialize_window
from analytics_platform.settings import load_settings
from benchmarks.database import migrated_database
from benchmarks.rollups import copy_transactions, transactions_frame

ROWS = int(os.environ.get("REPORTS_BENCH_ROWS", "6000000"))
KEEP = os.environ.get("REPORTS_BENCH_DATA")
MERCHANTS = 2_000
MONTH_START = datetime(2026, 4, 1, tzinfo=UTC)
DAYS = 30
TZ = "UTC"


def _load(conn: psycopg.Connection) -> None:
    rng = np.random.default_rng(15)
    ensure_raw_partitions(conn, "transactions", MONTH_START, MONTH_START + timedelta(days=DAYS))
    per_day = ROWS // DAYS
    for day in range(DAYS):
        frame = transactions_frame(
            rng, MONTH_START + timedelta(days=day), per_day, day * per_day
        ).with_columns(
            # 2,000 merchants (the frame draws up to 5,000 with a heavy tail).
            pl.concat_str(
                pl.lit("mch_"),
                (pl.col("merchant_id").str.slice(4).cast(pl.Int64) % MERCHANTS).cast(pl.Utf8),
            ).alias("merchant_id")
        )
        copy_transactions(conn, frame)
    conn.execute("ANALYZE raw.transactions")


def _roll_up(url: str) -> float:
    """The three families side by side on one connection each (the machine's two cores),
    each family's grains in order."""
    started = time.perf_counter()
    end = MONTH_START + timedelta(days=DAYS)

    def family_marts(family: Family) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for grain in (
                g for g in (Grain.HOURLY, Grain.DAILY, Grain.MONTHLY) if g in family.grains
            ):
                window_end = end if grain is not Grain.MONTHLY else datetime(2026, 5, 1, tzinfo=UTC)
                materialize_window(conn, Mart(family, grain), MONTH_START, window_end, TZ)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(family_marts, (TRANSACTIONS, FAILURES, MERCHANT_BREAKDOWN)))
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"{field} not in /proc/{pid}/status")


class CsvRecords:
    """Counts CSV records in a byte stream cut anywhere: a newline ends a record unless it
    is inside a quoted field. A quote toggles 'inside' (an escaped quote is two, so it
    toggles twice); a chunk without quotes, the usual one, costs one count() of C."""

    def __init__(self) -> None:
        self.records = 0
        self._quoted = False

    def feed(self, chunk: bytes) -> None:
        if not self._quoted and b'"' not in chunk:
            self.records += chunk.count(b"\n")
            return
        for part_index, part in enumerate(chunk.split(b'"')):
            if part_index:
                self._quoted = not self._quoted
            if not self._quoted:
                self.records += part.count(b"\n")


class PeakRss:
    """The peak resident memory of a process from now on: the kernel's high-water mark
    (VmHWM) reset through /proc/PID/clear_refs, or, where that is refused, VmRSS sampled
    every 10 ms by a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = _rss_mb(pid, "VmRSS")
        self._peak = self.before
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self._peak = max(self._peak, _rss_mb(self.pid, "VmRSS"))

    def peak(self) -> float:
        if self._sampler is None:
            return _rss_mb(self.pid, "VmHWM")
        self._stop.set()
        self._sampler.join()
        return self._peak


def _export(url: str, data_dir: Path) -> dict[str, float]:
    """The month as CSV through the API, read in large chunks by this process (which
    shares the cores with the API and PostgreSQL, so its own CPU is reported too)."""
    with psycopg.connect(url, autocommit=True) as conn:
        key = create_api_key(conn, name="bench", scope="admin")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "API_WORKERS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "analytics_platform.cli", "api", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        headers = {"X-API-Key": key}
        # Warm up (imports, pool, plan) on a small range, then measure the month.
        httpx.get(
            f"{base}/api/v1/analytics/exports/transactions",
            params={"start": "2026-04-01", "end": "2026-04-01T00:01:00Z"},
            headers=headers,
            timeout=60,
        ).raise_for_status()
        memory = PeakRss(server.pid)
        cpu_before = _process_cpu(server.pid)
        server_before = _server_cpu(data_dir)
        client_before = _own_cpu()
        records = CsvRecords()
        started = time.perf_counter()
        with (
            httpx.Client(timeout=600) as client,
            client.stream(
                "GET",
                f"{base}/api/v1/analytics/exports/transactions",
                params={"start": "2026-04-01", "end": "2026-05-01", "format": "csv"},
                headers=headers,
            ) as answer,
        ):
            answer.raise_for_status()
            first_byte = None
            # Raw bytes: the export is not compressed, so nothing to decode.
            for chunk in answer.iter_raw(1 << 20):
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                records.feed(chunk)
        seconds = time.perf_counter() - started
        client_cpu = _own_cpu() - client_before
        server_cpu = _server_cpu(data_dir) - server_before
        cpu = _process_cpu(server.pid) - cpu_before
        growth = memory.peak() - memory.before
    finally:
        server.terminate()
        server.wait(timeout=30)
    rows = records.records - 1  # the header
    per_row = 1e6 / max(rows, 1)
    return {
        "rows": rows,
        "seconds": seconds,
        "first_byte_s": first_byte or seconds,
        "rows_per_s": rows / seconds,
        "growth_mb": growth,
        "api_cpu_us_per_row": cpu * per_row,
        "postgres_cpu_us_per_row": server_cpu * per_row,
        "client_cpu_us_per_row": client_cpu * per_row,
    }


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    """CPU of this process's ended, waited-for children (the render's workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run() -> dict[str, dict]:
    if KEEP is None:
        with migrated_database("reports", REPORTING_TIMEZONE=TZ) as (url, scratch):
            return _measure(url, scratch / "pg", loaded=False)
    with _kept_database(Path(KEEP)) as (url, data_dir, loaded):
        return _measure(url, data_dir, loaded=loaded)


@contextmanager
def _kept_database(folder: Path) -> Iterator[tuple[str, Path, bool]]:
    """(URL, data dir, whether the month at this scale is loaded) of the server in
    `folder`, which stays after the run."""
    marker = folder / f"loaded-{ROWS}"
    if folder.exists() and not marker.exists():
        raise SystemExit(f"{folder} holds another scale's month: remove it or pick another")
    server = EmbeddedPostgres(folder / "pg", databases=("bench",)).start()
    try:
        settings = load_settings({"DATABASE_URL": server.url("bench"), "REPORTING_TIMEZONE": TZ})
        migrate(settings)
        loaded = marker.exists()
        yield settings.database_url, folder / "pg", loaded
        marker.touch()
    finally:
        server.stop()


def _metric(value: float | None, target: float | None = None, unit: str = "s") -> dict:
    return {"value": value, "unit": unit, "target": target}


def _server_cpu(data_dir: Path) -> float:
    """CPU seconds of every process of the PostgreSQL server (backends, parallel workers,
    background processes): the server's side of the export, whichever backend serves it."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        elif stat.parent.name == str(postmaster):
            # Its own time and that of its ended children (parallel workers that exited).
            ticks = sum(int(f) for f in fields[11:15])
            total += ticks / os.sysconf("SC_CLK_TCK")
    return total


def _measure(url: str, data_dir: Path, loaded: bool) -> dict[str, dict]:
    load_before = os.getloadavg()[0]
    load_seconds = rollup_seconds = None
    if not loaded:
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            _load(conn)
        load_seconds = time.perf_counter() - started
        rollup_seconds = _roll_up(url)
    render_load = os.getloadavg()[0]
    month = ReportMonth.parse("2026-04", TZ)
    with psycopg.connect(url, autocommit=True) as conn:
        # The whole server: the render's backend, the side reads' backends, parallel
        # workers (ended ones through the postmaster's children time).
        server_before = _server_cpu(data_dir)
        parent_before, workers_before = _own_cpu(), _children_cpu()
        first_batch: list[float] = []

        def progress(done: int, total: int, merchant: str | None) -> None:
            if not first_batch:
                first_batch.append(time.perf_counter() - started)

        started = time.perf_counter()
        stored = render_month(conn, month, datetime.now(UTC), "benchmark", progress=progress)
        render_seconds = time.perf_counter() - started
        # The render's worker processes have ended (and were waited for) by now.
        parent_cpu = _own_cpu() - parent_before
        workers_cpu = _children_cpu() - workers_before
    server_cpu = _server_cpu(data_dir) - server_before
    reports = len(stored)
    export_load = os.getloadavg()[0]
    export = _export(url, data_dir)
    with psycopg.connect(url, autocommit=True) as conn:
        (expected,) = conn.execute("SELECT count(*) FROM raw.transactions").fetchone() or (0,)
    if export["rows"] != expected:
        raise AssertionError(f"the export gave {export['rows']:,} rows of {expected:,}")
    return {
        "reports_transactions": _metric(ROWS, None, "rows"),
        "reports_merchants": _metric(reports - 1, None, "merchants"),
        "reports_load_s": _metric(load_seconds),
        "reports_rollup_s": _metric(rollup_seconds),
        "reports_render_all_s": _metric(render_seconds, 60.0),
        "reports_render_reads_and_first_batch_s": _metric(first_batch[0] if first_batch else None),
        "reports_render_parent_cpu_ms_per_report": _metric(parent_cpu / reports * 1e3, None, "ms"),
        "reports_render_workers_cpu_ms_per_report": _metric(
            workers_cpu / reports * 1e3, None, "ms"
        ),
        "reports_render_server_cpu_ms_per_report": _metric(server_cpu / reports * 1e3, None, "ms"),
        "reports_largest_html_kb": _metric(max(len(s.html) for s in stored) / 1024, None, "KiB"),
        "reports_export_rows": _metric(export["rows"], None, "rows"),
        "reports_export_csv_rows_per_s": _metric(export["rows_per_s"], 100_000.0, "rows/s"),
        "reports_export_first_chunk_s": _metric(export["first_byte_s"]),
        "reports_export_api_cpu_us_per_row": _metric(export["api_cpu_us_per_row"], None, "us"),
        "reports_export_postgres_cpu_us_per_row": _metric(
            export["postgres_cpu_us_per_row"], None, "us"
        ),
        "reports_export_client_cpu_us_per_row": _metric(
            export["client_cpu_us_per_row"], None, "us"
        ),
        "reports_export_api_memory_growth_mb": _metric(export["growth_mb"], 100.0, "MB"),
        "reports_load_average_before": _metric(load_before, None, ""),
        "reports_load_average_at_render": _metric(render_load, None, ""),
        "reports_load_average_at_export": _metric(export_load, None, ""),
        "reports_load_average_after": _metric(os.getloadavg()[0], None, ""),
    }
