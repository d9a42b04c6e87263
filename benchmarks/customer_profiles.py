"""Speed of the `profiles` side of the customer assets (user_profiles, spending, cohorts).

A history of USERS users over DAYS days at the issue's rate of transactions per user
(20,000,000 a year for 1,000,000 users), as many activity events, registrations spread
over the history and most users submitting KYC, loaded with COPY (no Kafka) into an
embedded PostgreSQL. The days are backfilled in single-run ranges of 31 days (the
automation's largest run), then the last day is measured alone, each asset and all three:
seconds and the CPU seconds of the PostgreSQL backend (/proc), since the machine is
shared. Defaults: 100,000 users (a tenth of the issue's), 60 days (a day's cost follows
what changed that day, not the history: profiles read the day, spending up to two
months, cohorts the registrations); CUSTOMERS_BENCH_USERS / _DAYS / _TRANSACTIONS scale it.

The plain functions measured (`materialize_user_profiles`, `materialize_spending`,
`materialize_cohorts`, each `(conn, start, end, tz) -> WindowStats`) are what the
`customers` benchmark can call as well.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from analytics_platform.customers.cohorts import materialize_cohorts
from analytics_platform.customers.days import WindowStats
from analytics_platform.customers.profiles import materialize_user_profiles
from analytics_platform.customers.spending import materialize_spending
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from benchmarks.database import migrated_database
from benchmarks.rollups import _backend_cpu, transactions_frame

USERS = int(os.environ.get("CUSTOMERS_BENCH_USERS", "100000"))
DAYS = int(os.environ.get("CUSTOMERS_BENCH_DAYS", "60"))
# The rate: 20,000,000 transactions a year for 1,000,000 users; a tenth of it.
TRANSACTIONS = int(os.environ.get("CUSTOMERS_BENCH_TRANSACTIONS", str(2_000_000 * DAYS // 365)))
START = datetime(2025, 3, 3, tzinfo=UTC)
TZ = ZoneInfo("UTC")
RANGE_DAYS = 31

Materialize = Callable[[psycopg.Connection, datetime, datetime, ZoneInfo], WindowStats]
ASSETS: dict[str, Materialize] = {
    "user_profiles": materialize_user_profiles,
    "spending": materialize_spending,
    "cohorts": materialize_cohorts,
}


def copy_rows(conn: psycopg.Connection, table: str, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.6f+00:00")
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT CSV)").format(
        sql.Identifier("raw", table), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getvalue())


def _user_ids(values: np.ndarray) -> pl.Series:
    return ("usr_" + pl.Series(values).cast(pl.Utf8)).alias("user_id")


def lifecycle_frame(
    rng: np.random.Generator, count: int = USERS, start: datetime = START, days: int = DAYS
) -> pl.DataFrame:
    """A registration per user spread over the history; 70% submit KYC within two days
    of it, and 90% of those are verified within another day."""
    span = days * 86_400e6
    registered = (rng.random(count) * span * 0.95).astype(np.int64)
    submits = rng.random(count) < 0.7
    submitted = registered + (rng.random(count) * 2 * 86_400e6).astype(np.int64)
    decided = submitted + (rng.random(count) * 86_400e6).astype(np.int64)
    verified = rng.random(count) < 0.9
    users = np.arange(count)
    parts = [
        (users, registered, "user.registered", 0),
        (users[submits], submitted[submits], "user.kyc_submitted", 1),
        (users[submits & verified], decided[submits & verified], "user.kyc_verified", 2),
        (users[submits & ~verified], decided[submits & ~verified], "user.kyc_rejected", 1),
    ]
    base = int(start.timestamp() * 1_000_000)
    frames = [
        pl.DataFrame(
            {
                "user_id": _user_ids(u),
                "occurred_at": pl.Series(base + t).cast(pl.Datetime("us", "UTC")),
                "event_type": pl.Series([kind] * len(u), dtype=pl.Utf8),
                "kyc_level": pl.Series([level] * len(u), dtype=pl.Int64),
                "country": pl.Series(np.array(["ID", "SG", "MY"])[rng.integers(0, 3, len(u))]),
            }
        )
        for u, t, kind, level in parts
    ]
    frame = pl.concat(frames)
    n = frame.height
    ids = pl.int_range(0, n, eager=True).cast(pl.Utf8).str.zfill(12)
    return frame.with_columns(
        pl.concat_str(pl.lit("00000000-0000-4000-9000-"), ids).alias("event_id"),
        pl.lit(0).alias("kafka_partition"),
        pl.int_range(0, n).alias("kafka_offset"),
    )


def activity_frame(
    rng: np.random.Generator, day: datetime, n: int, first_id: int, count: int = USERS
) -> pl.DataFrame:
    base = int(day.timestamp() * 1_000_000)
    ids = pl.int_range(first_id, first_id + n, eager=True).cast(pl.Utf8).str.zfill(12)
    kinds = rng.integers(0, 3, n)
    return pl.DataFrame(
        {
            "event_id": "00000000-0000-4000-a000-" + ids,
            "occurred_at": pl.Series(base + (rng.random(n) * 86_400e6).astype(np.int64)).cast(
                pl.Datetime("us", "UTC")
            ),
            "user_id": _user_ids(rng.integers(0, count, n)),
            "activity_type": pl.Series(np.array(["login", "view", "logout"])[kinds]),
            "kafka_partition": pl.Series(np.zeros(n, dtype=np.int64)),
            "kafka_offset": pl.Series(np.arange(first_id, first_id + n)),
        }
    )


def load_world(conn: psycopg.Connection, rng: np.random.Generator) -> None:
    """The raw tables and ingest.touched_hours (what the automation reads), by COPY."""
    end = START + timedelta(days=DAYS)
    for table in ("transactions", "user_events", "user_activity"):
        ensure_raw_partitions(conn, table, START, end)
    copy_rows(conn, "user_events", lifecycle_frame(rng))
    per_day = TRANSACTIONS // DAYS
    for day in range(DAYS):
        frame = transactions_frame(rng, START + timedelta(days=day), per_day, day * per_day)
        # transactions_frame draws users among 100,000: spread them over USERS.
        users = pl.Series(rng.integers(0, USERS, per_day))
        frame = frame.with_columns(_user_ids(users.to_numpy()).alias("user_id"))
        copy_rows(conn, "transactions", frame)
        activity = activity_frame(rng, START + timedelta(days=day), per_day, day * per_day)
        copy_rows(conn, "user_activity", activity)
    record_touched_hours(conn)


def record_touched_hours(
    conn: psycopg.Connection,
    tables: tuple[str, ...] = ("transactions", "user_events", "user_activity"),
) -> None:
    """ingest.touched_hours of everything in the raw `tables` (what ingestion would have
    recorded, and what the profile and feature days are judged by), then fresh
    statistics."""
    for table in tables:
        conn.execute(
            sql.SQL(
                "INSERT INTO ingest.touched_hours (raw_table, hour_start, rows_ingested, "
                "max_occurred_at) SELECT {}, date_trunc('hour', occurred_at), count(*), "
                "max(occurred_at) FROM {} GROUP BY 2"
            ).format(sql.Literal(f"raw.{table}"), sql.Identifier("raw", table))
        )
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier("raw", table)))


def _timed(url: str, name: str, start: datetime, end: datetime) -> tuple[float, float | None]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        pid = int(row[0]) if row else 0
        before = _backend_cpu(pid)
        began = time.perf_counter()
        ASSETS[name](conn, start, end, TZ)
        seconds = time.perf_counter() - began
        after = _backend_cpu(pid)
    return seconds, None if before is None or after is None else after - before


def _metric(value: float | None, target: float | None = None, unit: str = "s") -> dict:
    return {"value": value, "unit": unit, "target": target}


def _measure(url: str) -> dict[str, dict]:
    rng = np.random.default_rng(13)
    load_began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        load_world(conn, rng)
    metrics = {"customer_profiles_world_load_s": _metric(time.perf_counter() - load_began)}
    backfill = {name: [0.0, 0.0] for name in ASSETS}
    last = DAYS - 1
    for first in range(0, last, RANGE_DAYS):
        start = START + timedelta(days=first)
        end = START + timedelta(days=min(first + RANGE_DAYS, last))
        for name in ASSETS:
            seconds, cpu = _timed(url, name, start, end)
            backfill[name][0] += seconds
            backfill[name][1] += cpu or 0.0
    for name, (seconds, cpu) in backfill.items():
        metrics[f"customer_{name}_backfill_{last}_days_s"] = _metric(seconds)
        metrics[f"customer_{name}_backfill_{last}_days_server_cpu_s"] = _metric(cpu, unit="cpu s")
    day_start = START + timedelta(days=last)
    day_end = day_start + timedelta(days=1)
    total, total_cpu = 0.0, 0.0
    for name in ASSETS:
        seconds, cpu = _timed(url, name, day_start, day_end)
        total += seconds
        total_cpu += cpu or 0.0
        metrics[f"customer_{name}_one_day_s"] = _metric(seconds)
        metrics[f"customer_{name}_one_day_server_cpu_s"] = _metric(cpu, unit="cpu s")
    metrics["customer_profiles_spending_cohorts_one_day_s"] = _metric(total, 30.0)
    metrics["customer_profiles_spending_cohorts_one_day_server_cpu_s"] = _metric(
        total_cpu, unit="cpu s"
    )
    # The same day again: a re-run replaces exactly its own versions.
    rerun, rerun_cpu = _timed(url, "user_profiles", day_start, day_end)
    metrics["customer_user_profiles_rerun_day_s"] = _metric(rerun)
    metrics["customer_user_profiles_rerun_day_server_cpu_s"] = _metric(rerun_cpu, unit="cpu s")
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("customer_profiles", "customer_profile_currencies", "customer_spending"):
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("marts", table))
            ).fetchone()
            metrics[f"customer_{table}_rows"] = _metric(row[0] if row else None, unit="rows")
    metrics["customer_bench_users"] = _metric(USERS, unit="users")
    metrics["customer_bench_transactions"] = _metric(TRANSACTIONS, unit="transactions")
    return metrics


def run() -> dict[str, dict]:
    with migrated_database("customer-profiles") as (url, _):
        return _measure(url)


if __name__ == "__main__":
    for name, metric in run().items():
        print(name, metric)
