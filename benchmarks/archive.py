"""Cold archive speed and size (issue 16).

1. One UTC month of MONTH_EVENTS transactions: seconds to archive it (COPY out with
   PostgreSQL's row hashes, Parquet write, DuckDB's checksum of each written file) and to
   verify it (PostgreSQL's hash over the raw month, every file re-read by DuckDB, and the
   cross-engine spot check of sampled rows, also measured alone: CPU per row of the month
   with and without it), as rows per second of the two together (target >= 200,000),
   CPU per row of each side and in all, the load average over the two (the machine may
   be shared), and
   the Parquet bytes against the raw table's bytes on disk (heap + TOAST, and with its
   primary key index; target <= 1/4).
2. YEAR_EVENTS transactions over YEAR_MONTHS months, archived: monthly revenue by
   currency and status in DuckDB over the archive against the same query in PostgreSQL
   over the raw table, in the same run (target: DuckDB >= 5x faster); then the monthly
   transactions mart of one month re-materialized from the archive after retention
   dropped its raw rows (seconds), beside the same month from raw.
3. What every rollup run pays when nothing it reads was dropped: the manifest query of
   `archive.restore.dropped_rows_restored` over a manifest of PROBE_MONTHS months of
   five tables (four files each, half of them dropped), per call (wall, server CPU).

Client CPU is this process's (polars, DuckDB), server CPU the PostgreSQL backend's and
its parallel workers' (/proc), so a run on a noisy machine still says what the work costs
per row. Sessions are the platform's (`warehouse.connect`: UTC, JIT off, as every asset
runs), PostgreSQL keeps its indexes and default parallelism; DuckDB reads the manifest's
Parquet files through `archive_duckdb` (TimeZone set after connect). Rows go
straight into raw.transactions with COPY (benchmarks/rollups.py's generator) on an
embedded PostgreSQL in a temporary directory. Sizes are parameters:
`ARCHIVE_BENCH_MONTH_EVENTS`, `ARCHIVE_BENCH_YEAR_EVENTS`, `ARCHIVE_BENCH_YEAR_MONTHS`.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import psycopg

from analytics_platform.archive.columns import raw_columns
from analytics_platform.archive.manifest import month_files
from analytics_platform.archive.months import month_end, months_between
from analytics_platform.archive.reader import archive_duckdb
from analytics_platform.archive.restore import dropped_files, rematerialize_from_archive
from analytics_platform.archive.retention import apply_retention
from analytics_platform.archive.spot_check import spot_check_files
from analytics_platform.archive.store import LocalArchiveStore
from analytics_platform.archive.verification import verify_month
from analytics_platform.archive.writer import archive_month
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.families import TRANSACTIONS, Grain, Mart
from analytics_platform.rollups.runner import materialize_window
from benchmarks.database import migrated_database
from benchmarks.rollups import copy_transactions, transactions_frame

MONTH_EVENTS = int(os.environ.get("ARCHIVE_BENCH_MONTH_EVENTS", "6000000"))
YEAR_EVENTS = int(os.environ.get("ARCHIVE_BENCH_YEAR_EVENTS", "24000000"))
YEAR_MONTHS = int(os.environ.get("ARCHIVE_BENCH_YEAR_MONTHS", "12"))
FIRST_MONTH = date(2025, 1, 1)
PROBE_MONTHS = 24
PROBE_CALLS = 2000
# Each statement runs this often; the fastest run is reported (the machine is shared).
QUERY_REPEATS = 3

# The UTC month from epoch microseconds: the same month as `AT TIME ZONE 'UTC'`, without
# ICU's time zone arithmetic per row (0.34 s against 0.59 s over 1M rows here).
REVENUE_DUCKDB = """
SELECT date_trunc('month', make_timestamp(epoch_us(occurred_at))) AS month, currency, status,
       sum(amount) AS revenue, count(*) AS transactions
FROM transactions GROUP BY ALL ORDER BY ALL
"""
REVENUE_POSTGRES = """
SELECT date_trunc('month', occurred_at, 'UTC') AS month, currency, status,
       sum(amount) AS revenue, count(*) AS transactions
FROM raw.transactions GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(pid: int) -> float:
    """CPU seconds of a backend plus those of the postmaster's exited children: the
    parallel workers a query started (PostgreSQL checksums a month with two of them) are
    children of the postmaster, not of the backend, and count there once they exit."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        parent = Path(f"/proc/{fields[1]}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    backend = int(fields[11]) + int(fields[12])
    workers = int(parent[13]) + int(parent[14])
    return (backend + workers) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall clock, this process's CPU and the server's CPU (the backend and its parallel
    workers) around a piece of work."""

    def __init__(self, conn: psycopg.Connection) -> None:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        self.pid = int(row[0]) if row else 0

    def measure(self, work: Callable[[], Any]) -> tuple[Any, float, float, float]:
        wall, client, server = time.perf_counter(), _client_cpu(), _server_cpu(self.pid)
        result = work()
        return (
            result,
            time.perf_counter() - wall,
            _client_cpu() - client,
            _server_cpu(self.pid) - server,
        )


def _load_month(
    conn: psycopg.Connection, rng: np.random.Generator, month: date, n: int, first_id: int
) -> int:
    """COPY n transactions spread over the month's days; returns the next free id."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    days = (month_end(month) - start).days
    ensure_raw_partitions(conn, "transactions", start, month_end(month) - timedelta(seconds=1))
    per_day = n // days
    for day in range(days):
        count = per_day + (n - per_day * days if day == days - 1 else 0)
        frame = transactions_frame(rng, start + timedelta(days=day), count, first_id)
        copy_transactions(conn, frame)
        first_id += count
    return first_id


def _raw_bytes(conn: psycopg.Connection, month: date) -> tuple[int, int]:
    """Bytes on disk of the month's partitions: table (heap + TOAST), and with indexes."""
    row = conn.execute(
        "SELECT coalesce(sum(pg_table_size(c.oid)), 0),"
        " coalesce(sum(pg_total_relation_size(c.oid)), 0)"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'raw.transactions'::regclass AND c.relname LIKE %s",
        (f"transactions_p{month:%Y%m}%",),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _metric(value: float | None, unit: str, target: float | None = None) -> dict:
    return {"value": value, "unit": unit, "target": target}


def _measure_month(url: str, store: LocalArchiveStore) -> dict[str, dict]:
    month = FIRST_MONTH
    with connect(url, autocommit=True) as conn:
        _load_month(conn, np.random.default_rng(16), month, MONTH_EVENTS, 0)
        conn.execute("VACUUM ANALYZE raw.transactions")
        meter = Meter(conn)
        load_before = os.getloadavg()[0]
        written, archive_s, archive_client, archive_server = meter.measure(
            lambda: archive_month(conn, store, "transactions", month)
        )
        verified, verify_s, verify_client, verify_server = meter.measure(
            lambda: verify_month(conn, store, "transactions", month)
        )
        assert verified.ok, verified.problems
        # The spot check alone (it is part of verify_month above): what it adds.
        columns = raw_columns(conn, "transactions")
        live = [f for f in month_files(conn, "transactions", month) if f.raw_dropped_at is None]
        spotted, spot_s, spot_client, spot_server = meter.measure(
            lambda: spot_check_files(conn, store, "transactions", month, columns, live)
        )
        assert not spotted, spotted
        load_after = os.getloadavg()[0]
        table_bytes, total_bytes = _raw_bytes(conn, month)
    rows = written.rows

    def cpu_us(seconds: float) -> float:
        return seconds / rows * 1e6

    return {
        "archive_month_rows": _metric(rows, "rows"),
        "archive_month_s": _metric(archive_s, "s"),
        "archive_verify_month_s": _metric(verify_s, "s"),
        "archive_and_verify_rows_per_s": _metric(rows / (archive_s + verify_s), "rows/s", 200_000),
        "archive_client_cpu_per_row": _metric(cpu_us(archive_client), "us"),
        "archive_server_cpu_per_row": _metric(cpu_us(archive_server), "us"),
        "verify_client_cpu_per_row": _metric(cpu_us(verify_client), "us"),
        "verify_server_cpu_per_row": _metric(cpu_us(verify_server), "us"),
        "verify_spot_check_s": _metric(spot_s, "s"),
        "verify_spot_check_cpu_per_row": _metric(cpu_us(spot_client + spot_server), "us"),
        "verify_spot_check_client_cpu_per_row": _metric(cpu_us(spot_client), "us"),
        "verify_spot_check_server_cpu_per_row": _metric(cpu_us(spot_server), "us"),
        "verify_cpu_per_row_without_spot_check": _metric(
            cpu_us(verify_client + verify_server - spot_client - spot_server), "us"
        ),
        "verify_spot_check_share_of_verify_cpu": _metric(
            (spot_client + spot_server) / (verify_client + verify_server), "ratio"
        ),
        "archive_and_verify_cpu_per_row": _metric(
            cpu_us(archive_client + archive_server + verify_client + verify_server), "us"
        ),
        "archive_load_average_before": _metric(load_before, "1-min"),
        "archive_load_average_after": _metric(load_after, "1-min"),
        "archive_parquet_bytes": _metric(written.bytes, "bytes"),
        "archive_raw_table_bytes": _metric(table_bytes, "bytes"),
        "archive_parquet_vs_raw_table": _metric(written.bytes / table_bytes, "ratio", 0.25),
        "archive_parquet_vs_raw_with_index": _metric(written.bytes / total_bytes, "ratio", 0.25),
    }


def _side_by_side(
    conn: psycopg.Connection, duck: duckdb.DuckDBPyConnection
) -> tuple[list[tuple], list[tuple], dict[str, float]]:
    """The revenue query on both sides, alternating (PostgreSQL, DuckDB, PostgreSQL, ...)
    so that both meet the same moments of a shared machine; the fastest run of each and
    the CPU of that run (PostgreSQL: the backend and its parallel workers; DuckDB: this
    process, all its threads)."""
    pid = Meter(conn).pid
    best = {"pg_s": float("inf"), "duck_s": float("inf"), "pg_cpu": 0.0, "duck_cpu": 0.0}
    from_postgres: list[tuple] = []
    from_duckdb: list[tuple] = []
    for _ in range(QUERY_REPEATS):
        wall, cpu = time.perf_counter(), _server_cpu(pid)
        from_postgres = conn.execute(REVENUE_POSTGRES).fetchall()
        wall, cpu = time.perf_counter() - wall, _server_cpu(pid) - cpu
        if wall < best["pg_s"]:
            best["pg_s"], best["pg_cpu"] = wall, cpu
        wall, cpu = time.perf_counter(), _client_cpu()
        from_duckdb = duck.execute(REVENUE_DUCKDB).fetchall()
        wall, cpu = time.perf_counter() - wall, _client_cpu() - cpu
        if wall < best["duck_s"]:
            best["duck_s"], best["duck_cpu"] = wall, cpu
    return from_postgres, from_duckdb, best


def _revenue_rows(rows: list[tuple]) -> list[tuple]:
    """Rows of either side comparable: the month as a UTC date (PostgreSQL answers a
    timestamptz, DuckDB a timestamp), every other column as it came (exact decimals)."""
    return [
        (
            (r[0].astimezone(UTC) if r[0].tzinfo else r[0]).date(),
            r[1],
            r[2],
            r[3],
            r[4],
        )
        for r in rows
    ]


def _measure_year(url: str, store: LocalArchiveStore) -> dict[str, dict]:
    last = date(FIRST_MONTH.year + (YEAR_MONTHS - 1) // 12, (YEAR_MONTHS - 1) % 12 + 1, 1)
    months = months_between(FIRST_MONTH, last)
    per_month = YEAR_EVENTS // len(months)
    rng = np.random.default_rng(24)
    with connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE raw.transactions, archive.files, archive.months, ingest.touched_hours"
        )
        next_id = 0
        for month in months:
            next_id = _load_month(conn, rng, month, per_month, next_id)
        # What ingestion would have recorded: the archive and retention go by these rows.
        conn.execute(
            "INSERT INTO ingest.touched_hours (raw_table, hour_start, rows_ingested,"
            " max_occurred_at) SELECT 'raw.transactions', date_trunc('hour', occurred_at),"
            " count(*), max(occurred_at) FROM raw.transactions GROUP BY 2"
        )
        conn.execute("VACUUM ANALYZE raw.transactions")
        archive_started = time.perf_counter()
        for month in months:
            archive_month(conn, store, "transactions", month, progress=lambda _: None)
            assert verify_month(conn, store, "transactions", month).ok
        archive_s = time.perf_counter() - archive_started

        with archive_duckdb(conn, store) as duck:
            from_postgres, from_duckdb, query = _side_by_side(conn, duck)
        same = _revenue_rows(from_postgres) == _revenue_rows(from_duckdb) != []

        # One month of the monthly transactions mart, from raw and from the archive.
        mart = Mart(TRANSACTIONS, Grain.MONTHLY)
        month = months[len(months) // 2]
        start, end = datetime(month.year, month.month, 1, tzinfo=UTC), month_end(month)
        from_raw = materialize_window(conn, mart, start, end, "UTC").seconds
        expected = conn.execute(
            "SELECT * FROM marts.transactions_monthly ORDER BY 1, 2, 3, 4"
        ).fetchall()
        later = month_end(months[-1]) + timedelta(days=1)
        apply_retention(conn, "transactions", later, 1)
        started = time.perf_counter()
        _, restored = rematerialize_from_archive(conn, store, mart, start, end, "UTC")
        from_archive = time.perf_counter() - started
        equal = (
            expected
            == conn.execute(
                "SELECT * FROM marts.transactions_monthly ORDER BY 1, 2, 3, 4"
            ).fetchall()
        )
    total = per_month * len(months)
    return {
        "archive_year_rows": _metric(total, "rows"),
        "archive_year_archive_and_verify_s": _metric(archive_s, "s"),
        "revenue_query_postgres_s": _metric(query["pg_s"], "s"),
        "revenue_query_duckdb_s": _metric(query["duck_s"], "s"),
        "revenue_query_duckdb_speedup": _metric(query["pg_s"] / query["duck_s"], "x", 5),
        "revenue_query_postgres_cpu_s": _metric(query["pg_cpu"], "s"),
        "revenue_query_duckdb_cpu_s": _metric(query["duck_cpu"], "s"),
        "revenue_query_cpu_ratio": _metric(query["pg_cpu"] / max(query["duck_cpu"], 1e-9), "x"),
        "revenue_query_same_result": _metric(int(same), "bool"),
        "rollup_month_from_raw_s": _metric(from_raw, "s"),
        "rollup_month_from_archive_s": _metric(from_archive, "s"),
        "rollup_month_restored_rows": _metric(restored, "rows"),
        "rollup_month_archive_equals_raw": _metric(int(equal), "bool"),
    }


def _measure_probe(url: str) -> dict[str, dict]:
    """The manifest query a rollup run makes, for a window nothing was dropped in."""
    first = datetime(2023, 1, 1, tzinfo=UTC)
    tables = ("transactions", "user_activity", "webhook_deliveries", "user_events", "kyc")
    with connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE archive.files")
        # Synthetic rows: only the manifest's size matters here, not real files.
        conn.execute(
            "INSERT INTO archive.files (raw_table, month, path, rows, bytes, min_occurred_at,"
            " max_occurred_at, checksum, checksum_version, raw_checksum, raw_dropped_at)"
            " SELECT t, m::date, t || '/' || m::date || '/' || f, 1000, 1000, m,"
            " m + interval '1 month' - interval '1 microsecond', 0, 2, 0,"
            " CASE WHEN m < %(first)s + %(months)s / 2 * interval '1 month' THEN now() END"
            " FROM unnest(%(tables)s::text[]) t,"
            " generate_series(%(first)s, %(first)s + (%(months)s - 1) * interval '1 month',"
            " interval '1 month') m, generate_series(1, 4) f",
            {"first": first, "months": PROBE_MONTHS, "tables": list(tables)},
        )
        conn.execute("ANALYZE archive.files")
        manifest = conn.execute("SELECT count(*) FROM archive.files").fetchone()
        start = first + timedelta(days=31 * PROBE_MONTHS - 10)
        meter = Meter(conn)
        found, wall, _, server = meter.measure(
            lambda: [
                dropped_files(conn, "transactions", start, start + timedelta(hours=1))
                for _ in range(PROBE_CALLS)
            ]
        )
        assert found[0] == [], "the probe's window holds no dropped rows"
        conn.execute("TRUNCATE archive.files")
    return {
        "rollup_probe_manifest_rows": _metric(manifest[0] if manifest else 0, "rows"),
        "rollup_probe_per_run_ms": _metric(wall / PROBE_CALLS * 1e3, "ms"),
        "rollup_probe_server_cpu_per_run_ms": _metric(server / PROBE_CALLS * 1e3, "ms"),
    }


def run() -> dict[str, dict]:
    with migrated_database("archive") as (url, scratch):
        store = LocalArchiveStore(scratch / "archive")
        metrics = _measure_probe(url)
        metrics.update(_measure_month(url, store))
        metrics.update(_measure_year(url, store))
        return metrics
