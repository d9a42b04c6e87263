"""Rollup speed on the transaction marts (transactions, failures, cashflow).

1. One day of 1,000,000 transactions: seconds to materialize its 24 hourly partitions
   (one single-run range per mart, as a backfill or catch-up does) plus its daily
   partition, for the three marts of raw.transactions. Reported as wall clock with one
   connection per core (how Dagster runs them: the multiprocess executor runs a run's
   assets side by side, and the hourly and daily runs are separate runs) and as the
   sequential sum; plus each mart alone, and the 24 hours as 24 separate runs, the way the
   automation runs them as they close.
2. A 30-day single-run backfill of the daily partitions at 200,000 transactions per day,
   the same ways.

Rows go straight into raw.transactions with COPY (no Kafka) on an embedded PostgreSQL
in a temporary directory, so the figures are the SQL's. Targets are reported, not
asserted.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import psycopg

from analytics_platform.dev.postgres import EmbeddedPostgres
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.migrations import migrate
from analytics_platform.rollups.families import CASHFLOW, FAILURES, TRANSACTIONS, Grain, Mart
from analytics_platform.rollups.runner import materialize_window
from analytics_platform.settings import load_settings

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
    statement = f"COPY raw.transactions ({', '.join(frame.columns)}) FROM STDIN (FORMAT CSV)"
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


def _run(url: str, tasks: list[Task], workers: int) -> tuple[float, list[tuple[str, float]]]:
    """Wall-clock seconds to run the tasks on `workers` connections at once (as Dagster's
    multiprocess executor runs a run's assets, and concurrent runs run side by side), and
    each task's own seconds. Tasks start in the order given."""

    def one(task: Task) -> tuple[str, float]:
        mart, start, end = task
        with psycopg.connect(url, autocommit=True) as conn:
            return mart.name, materialize_window(conn, mart, start, end, TZ).seconds

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        seconds = list(pool.map(one, tasks))
    return time.perf_counter() - started, seconds


def _reset(conn: psycopg.Connection) -> None:
    marts = [Mart(family, grain).table for family in FAMILIES for grain in Grain]
    conn.execute(f"TRUNCATE raw.transactions, marts.rollup_buckets, {', '.join(marts)}")


def run() -> dict[str, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-rollups-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg", databases=("bench",)).start()
        try:
            settings = load_settings({"DATABASE_URL": server.url("bench")})
            migrate(settings)
            return _measure(settings.database_url)
        finally:
            server.stop()


def _metric(value: float, target: float | None = None, unit: str = "s") -> dict:
    return {"value": value, "unit": unit, "target": target}


def _measure(url: str) -> dict[str, dict]:
    workers = os.cpu_count() or 1
    rng = np.random.default_rng(7)
    day_end = START + timedelta(days=1)
    with psycopg.connect(url, autocommit=True) as conn:
        _load(conn, rng, START, 1, DAY_EVENTS)
    # The day's 24 hours as one range run per mart (a backfill or catch-up) plus the day;
    # the days first, since the longest tasks should not start last.
    day_tasks = [
        (Mart(family, grain), START, day_end)
        for grain in (Grain.DAILY, Grain.HOURLY)
        for family in FAMILIES
    ]
    _, alone = _run(url, day_tasks, 1)
    parallel, _ = _run(url, day_tasks, workers)
    # The same hours one run each, the way the automation runs them as they close.
    hour_tasks = [
        (Mart(family, Grain.HOURLY), START + timedelta(hours=h), START + timedelta(hours=h + 1))
        for h in range(24)
        for family in FAMILIES
    ]
    hourly_runs, _ = _run(url, hour_tasks, 1)

    with psycopg.connect(url, autocommit=True) as conn:
        _reset(conn)
        _load(conn, rng, START, BACKFILL_DAYS, BACKFILL_EVENTS_PER_DAY)
    backfill_end = START + timedelta(days=BACKFILL_DAYS)
    backfill_tasks = [(Mart(family, Grain.DAILY), START, backfill_end) for family in FAMILIES]
    backfill_alone, backfill_each = _run(url, backfill_tasks, 1)
    backfill_parallel, _ = _run(url, backfill_tasks, workers)

    metrics = {
        f"rollup_1m_day_24h_plus_daily_{workers}_workers_s": _metric(parallel, 10.0),
        "rollup_1m_day_24h_plus_daily_sequential_s": _metric(sum(s for _, s in alone), 10.0),
    }
    for name, seconds in alone:
        metrics[f"rollup_1m_day_{name}_s"] = _metric(seconds)
    metrics["rollup_1m_day_as_72_single_hour_runs_s"] = _metric(hourly_runs)
    metrics[f"rollup_30d_daily_backfill_200k_per_day_{workers}_workers_s"] = _metric(
        backfill_parallel, 60.0
    )
    metrics["rollup_30d_daily_backfill_200k_per_day_sequential_s"] = _metric(backfill_alone, 60.0)
    for name, seconds in backfill_each:
        metrics[f"rollup_30d_backfill_{name}_s"] = _metric(seconds)
    return metrics


if __name__ == "__main__":
    for name, metric in run().items():
        print(name, metric)
