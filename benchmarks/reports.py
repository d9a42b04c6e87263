"""Monthly reports and the transaction export at a month's scale.

A month of transactions over 2,000 merchants (default 6,000,000; set REPORTS_BENCH_ROWS
to run at a reduced scale, which the table states) goes into raw.transactions with COPY
and is rolled up (transactions and failures marts: hourly, daily, monthly). Then:

1. seconds to render all the month's reports (platform + every merchant) into
   reports.monthly_reports, as reports/monthly does, with the CPU the Python side and the
   PostgreSQL backend spent, per report; and the largest HTML's size;
2. the export: `GET /exports/transactions?format=csv` for the whole month from the API
   served by `analytics-platform api` in a child process, read by a streaming client that
   counts and drops the bytes: rows per second, and the API process's memory growth
   (peak RSS during the export minus RSS before it, from /proc).

Targets (issue 15): render everything in at most 60 s; at least 100,000 rows/s CSV with
the API process growing by less than 100 MB. Targets are reported, not asserted.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import psycopg

from analytics_platform.api.keys import create_api_key
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.reports.months import ReportMonth
from analytics_platform.reports.store import render_month
from analytics_platform.rollups.families import (
    FAILURES,
    MERCHANT_BREAKDOWN,
    TRANSACTIONS,
    Grain,
    Mart,
)
from analytics_platform.rollups.runner import materialize_window
from benchmarks.database import migrated_database
from benchmarks.rollups import _backend_cpu, copy_transactions, transactions_frame

ROWS = int(os.environ.get("REPORTS_BENCH_ROWS", "6000000"))
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
    started = time.perf_counter()
    end = MONTH_START + timedelta(days=DAYS)
    with psycopg.connect(url, autocommit=True) as conn:
        for family in (TRANSACTIONS, FAILURES, MERCHANT_BREAKDOWN):
            for grain in (
                g for g in (Grain.HOURLY, Grain.DAILY, Grain.MONTHLY) if g in family.grains
            ):
                window_end = end if grain is not Grain.MONTHLY else datetime(2026, 5, 1, tzinfo=UTC)
                materialize_window(conn, Mart(family, grain), MONTH_START, window_end, TZ)
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


def _export(url: str) -> dict[str, float]:
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
        before = _rss_mb(server.pid, "VmRSS")
        cpu_before = _process_cpu(server.pid)
        lines = 0
        started = time.perf_counter()
        with httpx.stream(
            "GET",
            f"{base}/api/v1/analytics/exports/transactions",
            params={"start": "2026-04-01", "end": "2026-05-01", "format": "csv"},
            headers=headers,
            timeout=600,
        ) as answer:
            answer.raise_for_status()
            peak = before
            first_byte = None
            for chunk in answer.iter_bytes():
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                lines += chunk.count(b"\n")
                peak = max(peak, _rss_mb(server.pid, "VmRSS"))
        seconds = time.perf_counter() - started
        cpu = _process_cpu(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    rows = lines - 1  # the header
    return {
        "rows": rows,
        "seconds": seconds,
        "first_byte_s": first_byte or seconds,
        "rows_per_s": rows / seconds,
        "growth_mb": peak - before,
        "api_cpu_us_per_row": cpu / max(rows, 1) * 1e6,
    }


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run() -> dict[str, dict]:
    with migrated_database("reports", REPORTING_TIMEZONE=TZ) as (url, scratch):
        return _measure(url, scratch / "pg")


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


def _measure(url: str, data_dir: Path) -> dict[str, dict]:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        _load(conn)
    load_seconds = time.perf_counter() - started
    rollup_seconds = _roll_up(url)
    month = ReportMonth.parse("2026-04", TZ)
    with psycopg.connect(url, autocommit=True) as conn:
        pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        server_before = _backend_cpu(pid)
        client_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        stored = render_month(conn, month, datetime.now(UTC), "benchmark")
        render_seconds = time.perf_counter() - started
        client_after = resource.getrusage(resource.RUSAGE_SELF)
        server_after = _backend_cpu(pid)
    client_cpu = (client_after.ru_utime + client_after.ru_stime) - (
        client_before.ru_utime + client_before.ru_stime
    )
    server_cpu = (
        None if server_before is None or server_after is None else server_after - server_before
    )
    reports = len(stored)
    server_before = _server_cpu(data_dir)
    export = _export(url)
    export_server_cpu = _server_cpu(data_dir) - server_before
    return {
        "reports_transactions": _metric(ROWS, None, "rows"),
        "reports_merchants": _metric(reports - 1, None, "merchants"),
        "reports_load_s": _metric(load_seconds),
        "reports_rollup_s": _metric(rollup_seconds),
        "reports_render_all_s": _metric(render_seconds, 60.0),
        "reports_render_python_cpu_ms_per_report": _metric(client_cpu / reports * 1e3, None, "ms"),
        "reports_render_server_cpu_ms_per_report": _metric(
            None if server_cpu is None else server_cpu / reports * 1e3, None, "ms"
        ),
        "reports_largest_html_kb": _metric(max(len(s.html) for s in stored) / 1024, None, "KiB"),
        "reports_export_rows": _metric(export["rows"], None, "rows"),
        "reports_export_csv_rows_per_s": _metric(export["rows_per_s"], 100_000.0, "rows/s"),
        "reports_export_first_chunk_s": _metric(export["first_byte_s"]),
        "reports_export_api_cpu_us_per_row": _metric(export["api_cpu_us_per_row"], None, "us"),
        "reports_export_postgres_cpu_us_per_row": _metric(
            export_server_cpu / max(export["rows"], 1) * 1e6, None, "us"
        ),
        "reports_export_api_memory_growth_mb": _metric(export["growth_mb"], 100.0, "MB"),
        "reports_load_average_before": _metric(load_before, None, ""),
        "reports_load_average_after": _metric(os.getloadavg()[0], None, ""),
    }
