"""RFM speed: one daily partition of customers/rfm_scores over a year of purchases.

A history of USERS users and TRANSACTIONS successful purchases spread over 365 days
(skewed: many users pay once, a few often; ties in amounts) goes into raw.transactions
with COPY (no Kafka) on an embedded PostgreSQL. Then, per look-back (365 and 90 days):

- the cold start: the day before the measured day, built by the full computation (every
  day's purchases aggregated from raw, then the state over the window);
- one day (median of three runs): the measured day, built incrementally from the
  previous day's state: the cost the daily schedule pays. The target is <= 10 s, and
  the 365-day look-back must cost at most 1.5x the 90-day one (a day's cost follows
  the users, not the history);
- the transitions of that day (against the previous day);
- a range backfill of BACKFILL_DAYS days after it as one run.

Figures come with the server backend's CPU seconds (from /proc; no parallel workers).
`RFM_BENCH_SCALE` (default 1.0) scales users and purchases together, e.g. 0.25;
`RFM_BENCH_BACKFILL_DAYS` (default 30) shortens the backfill on a slow day.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import psycopg

from analytics_platform.customers.rfm import materialize_rfm
from analytics_platform.customers.segments import load_rules
from analytics_platform.customers.transitions import materialize_transitions
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from benchmarks.database import migrated_database
from benchmarks.rollups import _backend_cpu, copy_transactions

USERS = 1_000_000
TRANSACTIONS = 20_000_000
HISTORY_DAYS = 365
BACKFILL_DAYS = 30
FIRST_DAY = date(2025, 1, 1)
TZ = "UTC"


def _scale() -> float:
    return float(os.environ.get("RFM_BENCH_SCALE", "1.0"))


def _backfill_days() -> int:
    return int(os.environ.get("RFM_BENCH_BACKFILL_DAYS", str(BACKFILL_DAYS)))


def purchases_frame(
    rng: np.random.Generator, day: date, n: int, users: int, first_id: int
) -> pl.DataFrame:
    """n successful purchases on `day`; user ids skewed (u^3: low ids pay often, most ids
    rarely), amounts on a coarse grid so equal amounts are common."""
    start = int(datetime.combine(day, datetime.min.time(), UTC).timestamp() * 1_000_000)
    user = (users * rng.random(n) ** 3).astype(np.int64)
    ids = pl.int_range(first_id, first_id + n, eager=True).cast(pl.Utf8).str.zfill(12)
    frame = pl.DataFrame(
        {
            "event_id": ids,
            "occurred_at": pl.Series(
                start + np.sort((rng.random(n) * 86_400e6).astype(np.int64))
            ).cast(pl.Datetime("us", "UTC")),
            "user_id": pl.Series(user).cast(pl.Utf8),
            "transaction_id": ids,
            "amount": np.round(rng.lognormal(3, 1, n)) + 1.0,
            # A user's currency is fixed by their id: 90% IDR, 5% SGD, 5% USD.
            "currency": np.array(["IDR"] * 18 + ["SGD", "USD"])[user % 20],
            "transaction_type": np.where(rng.random(n) < 0.8, "PAYMENT", "BILL_PAYMENT"),
            "category": "shopping",
            "status": "SUCCESS",
            "payment_method": "CARD",
            "retry_count": 0,
            "processing_ms": 100,
            "kafka_partition": 0,
            "kafka_offset": np.arange(first_id, first_id + n),
        }
    )
    return frame.with_columns(
        pl.concat_str(pl.lit("00000000-0000-4000-8000-"), "event_id").alias("event_id"),
        pl.concat_str(pl.lit("usr_"), "user_id").alias("user_id"),
        pl.concat_str(pl.lit("txn_"), "transaction_id").alias("transaction_id"),
    )


def load_history(conn: psycopg.Connection, users: int, per_day: int, days: int) -> None:
    rng = np.random.default_rng(13)
    first = datetime.combine(FIRST_DAY, datetime.min.time(), UTC)
    ensure_raw_partitions(conn, "transactions", first, first + timedelta(days=days))
    for d in range(days):
        copy_transactions(
            conn, purchases_frame(rng, FIRST_DAY + timedelta(days=d), per_day, users, d * per_day)
        )
    conn.execute("VACUUM ANALYZE raw.transactions")


def _timed(url: str, task: Callable[[psycopg.Connection], Any]) -> tuple[float, float | None]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        pid = int(row[0]) if row else 0
        before = _backend_cpu(pid)
        started = time.perf_counter()
        task(conn)
        seconds = time.perf_counter() - started
        after = _backend_cpu(pid)
    return seconds, (None if before is None or after is None else after - before)


def _metric(value: float | None, target: float | None = None, unit: str = "s") -> dict:
    return {"value": value, "unit": unit, "target": target}


def run() -> dict[str, dict]:
    with migrated_database("customers") as (url, _):
        return _measure(url)


def _measure(url: str) -> dict[str, dict]:
    scale = _scale()
    users, transactions = int(USERS * scale), int(TRANSACTIONS * scale)
    backfill_days = _backfill_days()
    days = HISTORY_DAYS + 1 + backfill_days
    per_day = transactions // HISTORY_DAYS
    rules = load_rules()
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        load_history(conn, users, per_day, days)
    load_seconds = time.perf_counter() - started
    # The measured day has a full year of history behind it.
    day = FIRST_DAY + timedelta(days=HISTORY_DAYS)
    metrics: dict[str, dict] = {
        "rfm_scale": _metric(scale, unit="x"),
        "rfm_users": _metric(users, unit="users"),
        "rfm_purchases_in_year": _metric(per_day * HISTORY_DAYS, unit="rows"),
        "rfm_load_copy_s": _metric(load_seconds),
    }
    day_costs: dict[int, float] = {}
    for lookback in (365, 90):
        previous = day - timedelta(days=1)
        cold, cold_cpu = _timed(
            url, lambda c, d=previous, lb=lookback: materialize_rfm(c, d, d, TZ, lb, rules)
        )
        seconds, cpu = _timed(
            url, lambda c, lb=lookback: materialize_rfm(c, day, day, TZ, lb, rules)
        )
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT users FROM customers.rfm_score_days WHERE day = %s", (day,)
            ).fetchone()
            method = conn.execute(
                "SELECT method FROM customers.rfm_state_days WHERE day = %s", (day,)
            ).fetchone()
        day_costs[lookback] = seconds
        metrics[f"rfm_{lookback}d_cold_start_full_day_s"] = _metric(cold)
        metrics[f"rfm_{lookback}d_cold_start_server_cpu_s"] = _metric(cold_cpu, unit="cpu s")
        metrics[f"rfm_{lookback}d_one_day_s"] = _metric(seconds, 10.0)
        metrics[f"rfm_{lookback}d_one_day_server_cpu_s"] = _metric(cpu, unit="cpu s")
        metrics[f"rfm_{lookback}d_one_day_users_scored"] = _metric(
            row[0] if row else None, unit="users"
        )
        metrics[f"rfm_{lookback}d_one_day_state_method"] = _metric(
            method[0] if method else None, unit=""
        )
        if cpu is not None and row and row[0]:
            metrics[f"rfm_{lookback}d_server_cpu_us_per_user"] = _metric(
                cpu / row[0] * 1e6, unit="cpu us"
            )
    metrics["rfm_one_day_365d_over_90d"] = _metric(day_costs[365] / day_costs[90], 1.5, unit="x")
    # Transitions and the backfill at the default look-back.
    _timed(url, lambda c: materialize_rfm(c, day - timedelta(days=1), day, TZ, 365, rules))
    seconds, cpu = _timed(url, lambda c: materialize_transitions(c, day, day, FIRST_DAY))
    metrics["segment_transitions_one_day_s"] = _metric(seconds)
    metrics["segment_transitions_one_day_server_cpu_s"] = _metric(cpu, unit="cpu s")
    last = day + timedelta(days=backfill_days)
    seconds, cpu = _timed(
        url, lambda c: materialize_rfm(c, day + timedelta(days=1), last, TZ, 365, rules)
    )
    metrics[f"rfm_365d_backfill_{backfill_days}_days_s"] = _metric(seconds)
    metrics[f"rfm_365d_backfill_{backfill_days}_days_server_cpu_s"] = _metric(cpu, unit="cpu s")
    metrics["rfm_machine_load_1min_before"] = _metric(load_before, unit="load")
    metrics["rfm_machine_load_1min_after"] = _metric(os.getloadavg()[0], unit="load")
    return metrics


if __name__ == "__main__":
    for name, metric in run().items():
        print(name, metric)
