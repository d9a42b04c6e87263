"""Rule-based recommendations (SPENDING_TREND, SAVINGS_GOAL, INVESTMENT): one day's scoring.

USERS users with HISTORY_DAYS days of history (the issue's benchmark: 200,000 users, 90
days), about one successful transaction per user per day (heavy-tailed activity), each
with its wallet change (running balances per user). Users differ in how much of their
traffic is money coming in, so some save, some drain and some sit on a balance. Rows go
into raw.transactions and raw.wallet_balances with COPY (no Kafka) on an embedded
PostgreSQL. The daily ledger aggregates of the earlier days are built first (what the
earlier daily partitions left behind; reported, not counted in the day), then the day's
own aggregates are rebuilt and each rule scores the last day once, replacing its rows:
seconds, the PostgreSQL backend's CPU seconds (from /proc) and this process's CPU
seconds, per step, with CPU per 1,000 users. Each rule's raw-reading reference (the SQL
before the aggregates) is timed beside it on the same data, and its rows compared. The
target: the whole daily partition (features + every type's scoring + writes) in 60 s at
200,000 users; these three rules are a share of that.
`RECO_RULES_BENCH_SCALE` (default 1.0) scales the users, e.g. 0.25.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.ml import idle_balance, ledger_day_stats, spending_trend, surplus
from analytics_platform.ml.scoring import ScoringReport
from benchmarks.database import migrated_database
from benchmarks.rollups import _backend_cpu

USERS = 200_000
HISTORY_DAYS = 90
TZ = "UTC"
START = datetime(2026, 1, 1, tzinfo=UTC)
_CATEGORIES = ["groceries", "food_delivery", "transport", "shopping", "health", "utilities"]
_CREDIT_TYPES = (["TOPUP", "TRANSFER_IN", "REFUND"], [0.85, 0.10, 0.05])
_DEBIT_TYPES = (["PAYMENT", "BILL_PAYMENT", "TRANSFER_OUT", "WITHDRAWAL"], [0.7, 0.2, 0.07, 0.03])
_CURRENCIES = np.array(["IDR", "SGD", "USD"])
_TX_COLUMNS = [
    "event_id", "occurred_at", "user_id", "transaction_id", "amount", "currency",
    "transaction_type", "category", "status", "payment_method", "retry_count",
    "processing_ms", "kafka_partition", "kafka_offset",
]  # fmt: skip
_WALLET_COLUMNS = [
    "event_id", "occurred_at", "user_id", "wallet_id", "balance", "currency",
    "change_amount", "change_type", "kafka_partition", "kafka_offset",
]  # fmt: skip


def _scale() -> float:
    return float(os.environ.get("RECO_RULES_BENCH_SCALE", "1.0"))


class _Population:
    def __init__(self, rng: np.random.Generator, users: int) -> None:
        self.users = users
        activity = rng.lognormal(0.0, 1.0, users)
        self.cumulative = np.cumsum(activity / activity.sum())
        self.currency = rng.choice(3, users, p=[0.9, 0.05, 0.05])
        self.credit_share = rng.beta(2.0, 5.5, users)  # mean 0.27 of transactions are credits
        self.balance = np.round(rng.lognormal(np.log(3e5), 1.2, users), 2)
        self.taste = rng.dirichlet(np.ones(len(_CATEGORIES)), users).cumsum(axis=1)


def _day_frames(
    rng: np.random.Generator, people: _Population, day: int, first_id: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = people.users
    micros = np.sort((rng.random(n) * 86_400e6).astype(np.int64))
    user = np.minimum(np.searchsorted(people.cumulative, rng.random(n)), n - 1)
    credit = rng.random(n) < people.credit_share[user]
    credit_type = rng.choice(3, n, p=_CREDIT_TYPES[1])
    debit_type = rng.choice(4, n, p=_DEBIT_TYPES[1])
    kind = np.where(
        credit, np.array(_CREDIT_TYPES[0])[credit_type], np.array(_DEBIT_TYPES[0])[debit_type]
    )
    amount = np.round(rng.lognormal(np.log(np.where(credit, 2.4e5, 8e4)), 0.7), 2) + 0.01
    currency_index = people.currency[user]
    amount = np.where(currency_index == 0, amount, np.round(amount / 12_000, 2) + 0.01)
    category = np.array(_CATEGORIES)[
        (people.taste[user] < rng.random(n)[:, None]).sum(axis=1).clip(0, len(_CATEGORIES) - 1)
    ]
    category = np.where(np.isin(kind, ["PAYMENT", "BILL_PAYMENT", "REFUND"]), category, "other")
    signed = np.where(credit, amount, -amount)
    # Running balance per user: the day's changes in time order on top of yesterday's.
    order = np.lexsort((np.arange(n), user))
    sorted_users, sorted_signed = user[order], signed[order]
    running = np.cumsum(sorted_signed)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    offsets = np.repeat(running[starts] - sorted_signed[starts], np.diff(np.r_[starts, n]))
    balance = np.empty(n)
    balance[order] = people.balance[sorted_users] + running - offsets
    np.add.at(people.balance, user, signed)
    ids = pl.int_range(first_id, first_id + n, eager=True).cast(pl.Utf8).str.zfill(12)
    base = int((START + timedelta(days=day)).timestamp() * 1_000_000)
    common = {
        "occurred_at": pl.Series(base + micros).cast(pl.Datetime("us", "UTC")),
        "user_id": pl.Series(user).cast(pl.Utf8),
        "currency": _CURRENCIES[currency_index],
        "kafka_partition": np.zeros(n, dtype=np.int64),
        "kafka_offset": np.arange(first_id, first_id + n),
    }
    tx = pl.DataFrame(
        {
            "event_id": ids,
            "transaction_id": ids,
            "amount": amount,
            "transaction_type": kind,
            "category": category,
            "status": np.full(n, "SUCCESS"),
            "payment_method": np.full(n, "WALLET"),
            "retry_count": np.zeros(n, dtype=np.int64),
            "processing_ms": np.full(n, 300),
            **common,
        }
    ).with_columns(
        pl.concat_str(pl.lit("00000000-0000-4000-8000-"), "event_id").alias("event_id"),
        pl.concat_str(pl.lit("usr_"), "user_id").alias("user_id"),
    )
    wallet = pl.DataFrame(
        {
            "event_id": ids,
            "balance": np.round(balance, 2),
            "change_amount": amount,
            "change_type": np.where(credit, "CREDIT", "DEBIT"),
            **common,
        }
    ).with_columns(
        pl.concat_str(pl.lit("00000000-0000-4000-9000-"), "event_id").alias("event_id"),
        pl.concat_str(pl.lit("usr_"), "user_id").alias("user_id"),
        pl.concat_str(pl.lit("wal_"), "user_id").alias("wallet_id"),
    )
    return tx.select(_TX_COLUMNS), wallet.select(_WALLET_COLUMNS)


def _copy(conn: psycopg.Connection, table: str, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_csv(
        buffer,
        include_header=False,
        datetime_format="%Y-%m-%dT%H:%M:%S%.6f+00:00",
        float_precision=2,  # amounts and balances are money: two decimals, no float noise
    )
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT CSV)").format(
        sql.Identifier("raw", table), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getvalue())


def _load(conn: psycopg.Connection, users: int) -> int:
    rng = np.random.default_rng(14)
    people = _Population(rng, users)
    end = START + timedelta(days=HISTORY_DAYS)
    for table in ("transactions", "wallet_balances"):
        ensure_raw_partitions(conn, table, START, end)
    for day in range(HISTORY_DAYS):
        tx, wallet = _day_frames(rng, people, day, day * users)
        _copy(conn, "transactions", tx)
        _copy(conn, "wallet_balances", wallet)
    conn.execute("ANALYZE raw.transactions")
    conn.execute("ANALYZE raw.wallet_balances")
    return HISTORY_DAYS * users


def _timed(conn: psycopg.Connection, work: Callable[[], Any]) -> dict[str, Any]:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    pid = int(row[0]) if row else 0
    server_before, client_before = _backend_cpu(pid), time.process_time()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    server_after = _backend_cpu(pid)
    server = None if server_before is None or server_after is None else server_after - server_before
    return {
        "seconds": seconds,
        "server_cpu": server,
        "client_cpu": time.process_time() - client_before,
        "result": result,
    }


def _put(metrics: dict[str, dict[str, Any]], name: str, t: dict[str, Any], users: int) -> None:
    per_k = 1_000 / users
    metrics[f"{name}_s"] = {"value": t["seconds"], "unit": "s", "target": None}
    if t["server_cpu"] is not None:
        metrics[f"{name}_server_cpu_ms_per_1k_users"] = {
            "value": t["server_cpu"] * 1_000 * per_k,
            "unit": "ms",
            "target": None,
        }
    metrics[f"{name}_client_cpu_ms_per_1k_users"] = {
        "value": t["client_cpu"] * 1_000 * per_k,
        "unit": "ms",
        "target": None,
    }


def run() -> dict[str, dict[str, Any]]:
    users = max(1_000, round(USERS * _scale()))
    day = (START + timedelta(days=HISTORY_DAYS - 1)).date()
    rules: dict[str, tuple[Callable[..., ScoringReport], Callable[..., Any]]] = {
        "spending_trend": (spending_trend.score_spending_trend, spending_trend.detect),
        "savings_goal": (surplus.score_savings_goal, surplus.detect),
        "investment": (idle_balance.score_investment, idle_balance.detect),
    }
    with (
        migrated_database("reco-rules", REPORTING_TIMEZONE=TZ) as (url, _),
        psycopg.connect(url, autocommit=True) as conn,
    ):
        started = time.perf_counter()
        events = _load(conn, users)
        load_seconds = time.perf_counter() - started
        # The earlier days' aggregates, as the earlier daily partitions left them.
        earlier = ledger_day_stats.days_ending(
            day - timedelta(days=1), ledger_day_stats.LOOKBACK_DAYS - 1
        )
        backfill = _timed(conn, lambda: ledger_day_stats.refresh(conn, earlier, TZ))
        # The partition's own day: what the daily run adds before its rules.
        own_day = _timed(conn, lambda: ledger_day_stats.refresh(conn, [day], TZ, rebuild=[day]))
        timed = {
            name: _timed(conn, lambda score=score: score(conn, day, TZ))
            for name, (score, _) in rules.items()
        }
        reference = {
            name: _timed(conn, lambda detect=detect: detect(conn, day, TZ, from_stats=False))
            for name, (_, detect) in rules.items()
        }
        same = all(
            detect(conn, day, TZ) == reference[name]["result"]
            for name, (_, detect) in rules.items()
        )
    metrics: dict[str, dict[str, Any]] = {
        "reco_rules_users": {"value": users, "unit": "users", "target": None},
        "reco_rules_history_transactions": {"value": events, "unit": "rows", "target": None},
        "reco_rules_load_s": {"value": load_seconds, "unit": "s", "target": None},
        "reco_ledger_stats_backfill_days": {"value": len(earlier), "unit": "days", "target": None},
    }
    _put(metrics, "reco_ledger_stats_backfill", backfill, users)
    _put(metrics, "reco_ledger_stats_day", own_day, users)
    for name, t in timed.items():
        _put(metrics, f"reco_{name}", t, users)
        written = t["result"].written
        metrics[f"reco_{name}_rows"] = {"value": written, "unit": "rows", "target": None}
        _put(metrics, f"reco_{name}_raw_reference", reference[name], users)
    total = own_day["seconds"] + sum(t["seconds"] for t in timed.values())
    metrics["reco_rules_total_s"] = {"value": total, "unit": "s", "target": None}
    cpu = [own_day, *timed.values()]
    if all(t["server_cpu"] is not None for t in [*cpu, *reference.values()]):
        new_cpu = sum(t["server_cpu"] for t in cpu)
        raw_cpu = sum(t["server_cpu"] for t in reference.values())
        metrics["reco_rules_server_cpu_ms_per_1k_users"] = {
            "value": new_cpu * 1_000_000 / users,
            "unit": "ms",
            "target": None,
        }
        metrics["reco_rules_raw_reference_server_cpu_ms_per_1k_users"] = {
            "value": raw_cpu * 1_000_000 / users,
            "unit": "ms",
            "target": None,
        }
        metrics["reco_rules_raw_over_daily_cpu_ratio"] = {
            "value": raw_cpu / new_cpu,
            "unit": "x",
            "target": None,
        }
    metrics["reco_rules_same_as_raw_reference"] = {"value": int(same), "unit": "bool", "target": 1}
    return metrics
