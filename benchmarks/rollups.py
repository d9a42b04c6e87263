"""Rollup speed on the transaction marts (transactions, failures, cashflow).

1. One day of 1,000,000 transactions: seconds to materialize its 24 hourly partitions
   (one single-run range per mart, as a backfill or catch-up does) plus its daily
   partition, for the three marts of raw.transactions. Reported as wall clock with one
   connection per core (how Dagster runs them: the multiprocess executor runs a run's
   assets side by side, and the hourly and daily runs are separate runs; longest first)
   and as the sequential sum; plus each mart alone, and the 24 hours as 24 separate runs,
   the way the automation runs them as they close.
2. A 30-day single-run backfill of the daily partitions at 200,000 transactions per day,
   the same ways.

The machine is shared, so wall clock depends on what else runs: the figures also come as
the CPU seconds the PostgreSQL backends spent (`*_server_cpu_s`, read from /proc for the
embedded server; the plans use no parallel workers), and the load average before and
after is reported.

Rows go straight into raw.transactions with COPY (no Kafka) on an embedded PostgreSQL
in a temporary directory, so the figures are the SQL's (a Dagster run adds its own
start-up, about 1.4 s in process). Targets are reported, not asserted.
"""

from __future__ import annotations

import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.families import CASHFLOW, FAILURES, TRANSACTIONS, Grain, Mart
from analytics_platform.rollups.runner import materialize_window
from benchmarks.database import migrated_database

DAY_EVENTS = 1_000_000
BACKFILL_DAYS = 30
BACKFILL_EVENTS_PER_DAY = 200_000
FAMILIES = (TRANSACTIONS, FAILURES, CASHFLOW)
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
TZ = "UTC"

_TYPES = ["PAYMENT", "TRANSFER_IN", "TRANSFER_OUT", "TOPUP", "WITHDRAWAL", "REFUND", "BILL_PAYMENT"]
_TYPE_WEIGHTS = [0.55, 0.06, 0.08, 0.12, 0.04, 0.02, 0.13]
_CATEGORIES = [f"category_{i}" for i in range(13)]
_METHODS = ["CARD", "WALLET", "BANK_TRANSFER", "VIRTUAL_ACCOUNT", "QRIS"]
_STATUSES = ["SUCCESS", "FAILED", "EXPIRED", "PENDING", "REFUNDED"]
_STATUS_WEIGHTS = [0.93, 0.04, 0.01, 0.01, 0.01]
_REASONS = ["INSUFFICIENT_FUNDS", "CARD_DECLINED", "TIMEOUT", "FRAUD_SUSPECTED", "NETWORK_ERROR"]
_CURRENCIES = ["IDR", "SGD", "USD"]


def transactions_frame(
    rng: np.random.Generator, start: datetime, n: int, first_id: int = 0
) -> pl.DataFrame:
    """n transactions spread over the day from `start`: 100k users, 5k merchants with
    heavy-tailed popularity, realistic status and latency shapes. Ids are built by
    polars from counters (decimal digits are valid hex, so they make valid UUIDs)."""
    pick = rng.choice
    statuses = pick(len(_STATUSES), n, p=_STATUS_WEIGHTS)
    types = pick(len(_TYPES), n, p=_TYPE_WEIGHTS)
    has_merchant = np.isin(types, [0, 5, 6])
    merchants = np.minimum(rng.pareto(1.2, n) * 50, 4_999).astype(np.int64)
    micros = np.sort((rng.random(n) * 86_400e6).astype(np.int64))
    base = int(start.timestamp() * 1_000_000)
    ids = pl.int_range(first_id, first_id + n, eager=True).cast(pl.Utf8).str.zfill(12)
    frame = pl.DataFrame(
        {
            "event_id": ids,
            "occurred_at": pl.Series(base + micros).cast(pl.Datetime("us", "UTC")),
            "user_id": pl.Series(rng.integers(0, 100_000, n)).cast(pl.Utf8),
            "transaction_id": ids,
            "amount": np.round(rng.lognormal(11, 1, n), 2) + 0.01,
            "currency": np.array(_CURRENCIES)[pick(3, n, p=[0.9, 0.05, 0.05])],
            "transaction_type": np.array(_TYPES)[types],
            "category": np.array(_CATEGORIES)[rng.integers(0, len(_CATEGORIES), n)],
            "status": np.array(_STATUSES)[statuses],
            "payment_method": np.array(_METHODS)[rng.integers(0, len(_METHODS), n)],
            "retry_count": pick(4, n, p=[0.9, 0.07, 0.02, 0.01]),
            "processing_ms": rng.lognormal(6, 0.6, n).astype(np.int64),
            "merchant": merchants,
            "has_merchant": has_merchant,
            "reason": np.array(_REASONS)[rng.integers(0, len(_REASONS), n)],
            "failed": statuses == 1,
            "kafka_partition": np.zeros(n, dtype=np.int64),
            "kafka_offset": np.arange(first_id, first_id + n),
        }
    )
    return frame.with_columns(
        pl.concat_str(pl.lit("00000000-0000-4000-8000-"), "event_id").alias("event_id"),
        pl.concat_str(pl.lit("usr_"), "user_id").alias("user_id"),
        pl.concat_str(pl.lit("txn_"), "transaction_id").alias("transaction_id"),
        pl.when("has_merchant")
        .then(pl.concat_str(pl.lit("mch_"), pl.col("merchant").cast(pl.Utf8)))
        .alias("merchant_id"),
        pl.when("failed").then(pl.col("reason")).alias("failure_reason"),
    ).drop("merchant", "has_merchant", "reason", "failed")


def copy_transactions(conn: psycopg.Connection, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.6f+00:00")
    statement = sql.SQL("COPY raw.transactions ({}) FROM STDIN (FORMAT CSV)").format(
        sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getvalue())


def _load(
    conn: psycopg.Connection, rng: np.random.Generator, start: datetime, days: int, per_day: int
) -> None:
    ensure_raw_partitions(conn, "transactions", start, start + timedelta(days=days))
    for day in range(days):
        frame = transactions_frame(rng, start + timedelta(days=day), per_day, day * per_day)
        copy_transactions(conn, frame)
    conn.execute("ANALYZE raw.transactions")


Task = tuple[Mart, datetime, datetime]


@dataclass(frozen=True)
class Timed:
    mart: str
    seconds: float
    # CPU the backend spent on the task; None when its process is not on this machine.
    server_cpu: float | None


def _backend_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a local PostgreSQL backend process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(url: str, tasks: list[Task], workers: int) -> tuple[float, list[Timed]]:
    """Wall-clock seconds to run the tasks on `workers` connections at once (as Dagster's
    multiprocess executor runs a run's assets, and concurrent runs run side by side), and
    each task's own seconds and server CPU. Tasks start in the order given."""

    def one(task: Task) -> Timed:
        mart, start, end = task
        with connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            pid = int(row[0]) if row else 0
            before = _backend_cpu(pid)
            seconds = materialize_window(conn, mart, start, end, TZ).seconds
            after = _backend_cpu(pid)
        cpu = None if before is None or after is None else after - before
        return Timed(mart.name, seconds, cpu)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        timed = list(pool.map(one, tasks))
    return time.perf_counter() - started, timed


def _server_cpu(timed: list[Timed]) -> float | None:
    cpus = [t.server_cpu for t in timed]
    return None if any(c is None for c in cpus) else sum(c for c in cpus if c is not None)


def _reset(conn: psycopg.Connection) -> None:
    tables = [("raw", "transactions"), ("marts", "rollup_buckets")]
    tables += [Mart(family, grain).schema_table for family in FAMILIES for grain in Grain]
    conn.execute(
        sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(*t) for t in tables))
    )


def run() -> dict[str, dict]:
    with migrated_database("rollups") as (url, _):
        return _measure(url)


def _metric(value: float | None, target: float | None = None, unit: str = "s") -> dict:
    return {"value": value, "unit": unit, "target": target}


def _measure(url: str) -> dict[str, dict]:
    workers = os.cpu_count() or 1
    rng = np.random.default_rng(7)
    day_end = START + timedelta(days=1)
    load_before = os.getloadavg()[0]
    with psycopg.connect(url, autocommit=True) as conn:
        _load(conn, rng, START, 1, DAY_EVENTS)
    # The day's 24 hours as one range run per mart (a backfill or catch-up) plus the day,
    # longest first so that the last task to start is a short one.
    day_tasks = [
        (Mart(family, grain), START, day_end)
        for family in FAMILIES
        for grain in (Grain.DAILY, Grain.HOURLY)
    ]
    _, alone = _run(url, day_tasks, 1)
    day_tasks.sort(key=lambda task: -next(t.seconds for t in alone if t.mart == task[0].name))
    parallel, _ = _run(url, day_tasks, workers)
    # The same hours one run each, the way the automation runs them as they close.
    hour_tasks = [
        (Mart(family, Grain.HOURLY), START + timedelta(hours=h), START + timedelta(hours=h + 1))
        for h in range(24)
        for family in FAMILIES
    ]
    hourly_runs, hourly_timed = _run(url, hour_tasks, 1)

    with psycopg.connect(url, autocommit=True) as conn:
        _reset(conn)
        _load(conn, rng, START, BACKFILL_DAYS, BACKFILL_EVENTS_PER_DAY)
    backfill_end = START + timedelta(days=BACKFILL_DAYS)
    backfill_tasks = [(Mart(family, Grain.DAILY), START, backfill_end) for family in FAMILIES]
    _, backfill_each = _run(url, backfill_tasks, 1)
    backfill_tasks.sort(
        key=lambda task: -next(t.seconds for t in backfill_each if t.mart == task[0].name)
    )
    backfill_parallel, _ = _run(url, backfill_tasks, workers)
    load_after = os.getloadavg()[0]

    metrics = {
        f"rollup_1m_day_24h_plus_daily_{workers}_workers_s": _metric(parallel, 10.0),
        "rollup_1m_day_24h_plus_daily_sequential_s": _metric(sum(t.seconds for t in alone), 10.0),
        "rollup_1m_day_24h_plus_daily_server_cpu_s": _metric(_server_cpu(alone), unit="cpu s"),
    }
    for t in alone:
        metrics[f"rollup_1m_day_{t.mart}_s"] = _metric(t.seconds)
        metrics[f"rollup_1m_day_{t.mart}_server_cpu_s"] = _metric(t.server_cpu, unit="cpu s")
    metrics["rollup_1m_day_as_72_single_hour_runs_s"] = _metric(hourly_runs)
    metrics["rollup_1m_day_as_72_single_hour_runs_server_cpu_s"] = _metric(
        _server_cpu(hourly_timed), unit="cpu s"
    )
    metrics[f"rollup_30d_daily_backfill_200k_per_day_{workers}_workers_s"] = _metric(
        backfill_parallel, 60.0
    )
    metrics["rollup_30d_daily_backfill_200k_per_day_sequential_s"] = _metric(
        sum(t.seconds for t in backfill_each), 60.0
    )
    metrics["rollup_30d_daily_backfill_200k_per_day_server_cpu_s"] = _metric(
        _server_cpu(backfill_each), unit="cpu s"
    )
    for t in backfill_each:
        metrics[f"rollup_30d_backfill_{t.mart}_s"] = _metric(t.seconds)
        metrics[f"rollup_30d_backfill_{t.mart}_server_cpu_s"] = _metric(t.server_cpu, unit="cpu s")
    metrics["rollup_machine_load_1min_before"] = _metric(load_before, unit="load")
    metrics["rollup_machine_load_1min_after"] = _metric(load_after, unit="load")
    return metrics


if __name__ == "__main__":
    for name, metric in run().items():
        print(name, metric)
