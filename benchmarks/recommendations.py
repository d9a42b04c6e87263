"""Recommendations speed and offline quality at USERS users over HISTORY_DAYS days.

The generator's world with its tastes (docs/recommendations.md: drift, churn that follows
from behaviour) writes HISTORY_DAYS days of transactions, app activity and wallet
balances into the raw tables (about one transaction per user and day, the generator's
default density) through the ingestion loader's compiled COPY path, in batches so
memory stays flat (setup, bound by the generator). Then, on the last day of history:

- the feature days a training reads (training and holdout windows), built once: the
  backfill a first deployment pays, not the weekly cost (the daily partitions keep them);
- training of every model in MODELS (name -> function) one after the other: seconds,
  CPU, and its offline metrics beside its baseline's (`reco_<name>_auc` beside
  `reco_<name>_baseline_auc`); and then all of them at once, as the ml_training job
  runs them (one thread and connection each). Target: all models <= 5 min;
- the daily partition, after the previous day's (untimed, as in production: only the
  new day's raw rows are aggregated into the daily tables): each step alone on one
  connection (`reco_day_step_<step>_*`: seconds, CPU, CPU per user scored and that CPU
  at USERS users), then the whole partition as the asset runs it (ml/daily.py: the
  day's features, then every type, in two lanes on two connections). Target: <= 60 s.

Every figure comes with CPU seconds: this process (numpy, scikit-learn, psycopg) and the
PostgreSQL backends (from /proc), so a noisy shared host can be read through them.
`RECO_BENCH_SCALE` (default 1.0) scales the users and the daily transactions together;
the history stays HISTORY_DAYS days. Extrapolations to USERS users are linear in users.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from analytics_platform.dev.generator import GeneratorConfig, generate_events
from analytics_platform.events import TOPICS, EventDecoder
from analytics_platform.ingestion.loader import RawLoader
from analytics_platform.ml import (
    budget,
    budget_alerts,
    daily,
    features,
    idle_balance,
    inactivity,
    ledger_day_stats,
    next_purchase,
    next_purchase_scoring,
    scoring,
    spending_trend,
    surplus,
)
from analytics_platform.resources.warehouse import run_sql_file
from benchmarks.database import migrated_database
from benchmarks.rollups import _backend_cpu

USERS = 200_000
HISTORY_DAYS = 90
START = datetime(2026, 1, 1, tzinfo=UTC)
TZ = "UTC"
# What the features and the rules read (wallet balances: SAVINGS_GOAL and INVESTMENT).
TOPIC_NAMES = ("transactions", "user-activity", "wallet-balances")
BATCH_ROWS = 100_000


def _scale() -> float:
    return float(os.environ.get("RECO_BENCH_SCALE", "1.0"))


def _metric(value: float | None, unit: str = "s", target: float | None = None) -> dict:
    return {"value": value, "unit": unit, "target": target}


class _Message:
    """A generated event as the loader reads a Kafka message (partition 0)."""

    __slots__ = ("_key", "_offset", "_value")

    def __init__(self, key: bytes, value: bytes, offset: int) -> None:
        self._key, self._value, self._offset = key, value, offset

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value


def load_history(url: str, users: int, days: int) -> dict[str, int]:
    """The generator's events of `days` days for `users` users into the raw tables,
    BATCH_ROWS messages at a time through the ingestion loader's own fast path (its
    compiled decoder and binary COPY, as if read from Kafka partition 0): the
    per-row `insert_rows` path took ten minutes for 2M events, this one is bound by the
    generator (about 130k events/s)."""
    config = GeneratorConfig(
        seed=7,
        days=days,
        events_per_day=users,
        users=users,
        start=START,
        late_fraction=0.0,
        duplicate_fraction=0.0,
        malformed_fraction=0.0,
    )
    now = START + timedelta(days=days)
    loaders = {
        name: RawLoader(
            TOPICS[name],
            TOPICS[name].name,
            "bench",
            EventDecoder(TOPICS[name], datetime(2024, 1, 1, tzinfo=UTC), timedelta(minutes=5)),
            ZoneInfo(TZ),
        )
        for name in TOPIC_NAMES
    }
    batches: dict[str, list[_Message]] = {name: [] for name in TOPIC_NAMES}
    written = dict.fromkeys(TOPIC_NAMES, 0)
    with psycopg.connect(url, autocommit=True) as conn:
        for loader in loaders.values():
            loader.bind(conn)

        def flush(name: str) -> None:
            messages = batches[name]
            loader = loaders[name]
            result = loader.write(conn, loader.prepare(messages, now))
            if result.dead_letters:
                raise RuntimeError(f"{name}: {result.dead_letters} generated events refused")
            written[name] += len(messages)
            batches[name] = []

        for event in generate_events(config):
            if event.topic not in batches or event.occurred_at >= now:
                continue
            batch = batches[event.topic]
            batch.append(_Message(event.key, event.value, written[event.topic] + len(batch)))
            if len(batch) >= BATCH_ROWS:
                flush(event.topic)
        for name in TOPIC_NAMES:
            flush(name)
        for name in TOPIC_NAMES:
            conn.execute(
                sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(*TOPICS[name].table.split(".")))
            )
    return written


class Timer:
    """Wall seconds, this process's CPU seconds and the backends' CPU seconds of a block
    (the connection's, plus those of `others`: the day's second lane)."""

    def __init__(self, conn: psycopg.Connection, *others: psycopg.Connection) -> None:
        self.pids = [_backend_pid(c) for c in (conn, *others)]

    def __call__(self, task: Callable[[], Any]) -> tuple[Any, float, float, float | None]:
        backend = [_backend_cpu(pid) for pid in self.pids]
        cpu, started = time.process_time(), time.perf_counter()
        result = task()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        after = [_backend_cpu(pid) for pid in self.pids]
        if None in backend or None in after:
            return result, seconds, cpu, None
        return result, seconds, cpu, sum(a - b for a, b in zip(after, backend, strict=True))  # type: ignore[operator]


def _backend_pid(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    return int(row[0]) if row else 0


def train_inactivity(conn: psycopg.Connection, last_day: date) -> dict[str, float]:
    run = inactivity.train_and_store(
        conn,
        last_day,
        TZ,
        inactivity.HORIZON_DAYS,
        inactivity.HOLDOUT_DAYS,
        inactivity.TRAIN_DAYS,
    )
    return {**run.evaluation.metrics(), "accepted": float(run.accepted)}


def train_budget(conn: psycopg.Connection, last_day: date) -> dict[str, float]:
    # 90 days hold three complete months: one of history before each of one training
    # month and one holdout month (the weekly training uses three and one).
    run = budget.train_and_store(
        conn, last_day, TZ, train_months=1, holdout_months=1, history_months=1, min_habit_months=1
    )
    return {**run.evaluation.metrics(), "accepted": float(run.accepted)}


def train_next_purchase(conn: psycopg.Connection, last_day: date) -> dict[str, float]:
    run = next_purchase.train_and_store(
        conn, last_day, TZ, next_purchase.HOLDOUT_DAYS, HISTORY_DAYS - next_purchase.HOLDOUT_DAYS
    )
    return {**run.evaluation.metrics(), "accepted": float(run.accepted)}


# name -> train on data complete up to the end of the day, store, return the offline
# metrics (each beside its baseline's).
MODELS: dict[str, Callable[[psycopg.Connection, date], dict[str, float]]] = {
    "inactivity": train_inactivity,
    "budget": train_budget,
    "next_purchase": train_next_purchase,
}
# The offline metrics reported, each beside its baseline's.
OFFLINE_METRICS = (
    "auc",
    "baseline_auc",
    "auc_gain_low",
    "brier",
    "baseline_brier",
    "mae",
    "baseline_mae",
    "naive_mae",
    "mae_gain_low",
    "precision",
    "baseline_precision",
    "recall",
    "baseline_recall",
    "ndcg_at_k",
    "baseline_ndcg_at_k",
    "ndcg_gain_low",
    "recall_at_k",
    "baseline_recall_at_k",
)
# The windows every model's feature days must cover (the widest of the models').
TRAINING_WINDOWS = inactivity.windows(
    START.date() + timedelta(days=HISTORY_DAYS - 1),
    inactivity.HORIZON_DAYS,
    inactivity.HOLDOUT_DAYS,
    inactivity.TRAIN_DAYS,
)


def _timed_metrics(prefix: str, seconds: float, cpu: float, backend: float | None) -> dict:
    return {
        f"{prefix}_s": _metric(seconds),
        f"{prefix}_cpu_s": _metric(cpu, "cpu s"),
        f"{prefix}_db_cpu_s": _metric(backend, "cpu s"),
    }


def _day_steps(conn: psycopg.Connection, day: date, scale: float) -> dict[str, dict]:
    """Each step of the day alone on one connection (writing, as the asset does): wall,
    CPU (this process + the backend) per user scored and that CPU at USERS users."""
    timer = Timer(conn)
    steps: dict[str, Callable[[], Any]] = {
        "features": lambda: features.build_day(conn, day, TZ),
        "inactivity": lambda: scoring.score_inactivity(conn, day, TZ),
        "ledger_day": lambda: ledger_day_stats.refresh(conn, [day], TZ, rebuild=[day]),
        "spending_trend": lambda: spending_trend.score_spending_trend(conn, day, TZ),
        "savings_goal": lambda: surplus.score_savings_goal(conn, day, TZ),
        "investment": lambda: idle_balance.score_investment(conn, day, TZ),
        "budget": lambda: budget_alerts.score_budget_alerts(conn, day, TZ),
        "next_purchase": lambda: next_purchase_scoring.score_next_purchase(conn, day, TZ),
    }
    metrics: dict[str, dict] = {}
    users = 1
    for name, step in steps.items():
        result, seconds, cpu, backend = timer(step)
        if name == "features":
            users = max(1, int(result))
            metrics["reco_day_feature_rows"] = _metric(users, "rows")
        total_cpu = cpu + (backend or 0.0)
        metrics.update(_timed_metrics(f"reco_day_step_{name}", seconds, cpu, backend))
        metrics[f"reco_day_step_{name}_cpu_us_per_user"] = _metric(
            1e6 * total_cpu / users, "cpu us/user"
        )
        metrics[f"reco_day_step_{name}_cpu_at_full_scale_s"] = _metric(total_cpu / scale, "cpu s")
    return metrics


def _train_in_parallel(url: str, last_day: date) -> None:
    def train(name: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            MODELS[name](conn, last_day)

    with ThreadPoolExecutor(max_workers=len(MODELS)) as pool:
        for done in [pool.submit(train, name) for name in MODELS]:
            done.result()


def run() -> dict[str, dict]:
    with migrated_database("recommendations") as (url, _):
        return _measure(url)


def _measure(url: str) -> dict[str, dict]:
    scale = _scale()
    users = max(100, int(USERS * scale))
    started = time.perf_counter()
    loaded = load_history(url, users, HISTORY_DAYS)
    metrics: dict[str, dict] = {
        "reco_scale": _metric(scale, "x"),
        "reco_users": _metric(users, "users"),
        "reco_history_days": _metric(HISTORY_DAYS, "days"),
        "reco_transactions": _metric(loaded["transactions"], "rows"),
        "reco_activity_rows": _metric(loaded["user-activity"], "rows"),
        "reco_load_history_s": _metric(time.perf_counter() - started),
    }
    last_day = START.date() + timedelta(days=HISTORY_DAYS - 1)
    w = TRAINING_WINDOWS
    with psycopg.connect(url, autocommit=True) as conn:
        timer = Timer(conn)
        built, seconds, cpu, backend = timer(
            lambda: features.build_missing_days(conn, w.train_first, w.holdout_last, TZ)
        )
        metrics["reco_feature_backfill_days"] = _metric(built, "days")
        metrics.update(_timed_metrics("reco_feature_backfill", seconds, cpu, backend))
        training_total = training_cpu = 0.0
        for name, train in MODELS.items():
            offline, seconds, cpu, backend = timer(lambda t=train: t(conn, last_day))
            training_total += seconds
            training_cpu += cpu + (backend or 0.0)
            metrics.update(_timed_metrics(f"reco_train_{name}", seconds, cpu, backend))
            for key in OFFLINE_METRICS:
                if key in offline:
                    metrics[f"reco_{name}_{key}"] = _metric(offline[key], "")
            metrics[f"reco_{name}_accepted"] = _metric(offline.get("accepted"), "bool")
        metrics["reco_train_all_s"] = _metric(training_total)
        # Linear in users (the rows every step reads grow with them): the estimate at
        # USERS users from a reduced scale, against the targets.
        metrics["reco_train_all_at_full_scale_s"] = _metric(training_total / scale, target=300.0)
        metrics["reco_train_all_cpu_s"] = _metric(training_cpu, "cpu s")
        # The daily partition of the last day. Yesterday's ran first, untimed, as in
        # production (its ml.user_day_stats and the rules' daily aggregates of the
        # look-back are in: the first partition after a deployment builds those once).
        with psycopg.connect(url, autocommit=True) as second:
            daily.recommend_day(conn, last_day - timedelta(days=1), TZ, second)
            metrics.update(_day_steps(conn, last_day, scale))
            # The whole partition as the asset runs it (ml/daily.py): the day's features
            # removed first so that it builds them again, then every type in two lanes
            # on two connections, both backends' CPU counted.
            run_sql_file(conn, "ml/features_delete_day.sql", {"day": last_day})
            both = Timer(conn, second)
            every, a_seconds, a_cpu, a_backend = both(
                lambda: daily.recommend_day(conn, last_day, TZ, second)
            )
        scored = max(1, metrics["reco_day_feature_rows"]["value"])
        metrics.update(_timed_metrics("reco_day_all_types_two_lanes", a_seconds, a_cpu, a_backend))
        metrics["reco_day_all_types_rows"] = _metric(every.written, "rows")
        metrics["reco_day_all_types_at_full_scale_s"] = _metric(a_seconds / scale, target=60.0)
        all_cpu = a_cpu + (a_backend or 0.0)
        metrics["reco_day_all_types_cpu_us_per_user"] = _metric(
            1e6 * all_cpu / scored, "cpu us/user"
        )
        metrics["reco_day_all_types_cpu_at_full_scale_s"] = _metric(all_cpu / scale, "cpu s")
        # The weekly training as the ml_training job runs it: the three model assets at
        # once (Dagster's multiprocess executor), here three threads on three
        # connections; each model's own CPU is in its serial figures above.
        _, p_seconds, _, _ = timer(lambda: _train_in_parallel(url, last_day))
        metrics["reco_train_all_parallel_s"] = _metric(p_seconds)
        metrics["reco_train_all_parallel_at_full_scale_s"] = _metric(
            p_seconds / scale, target=300.0
        )
        # The load beside the figures: wall clock far above CPU means a busy host.
        metrics["reco_load_average_1m"] = _metric(os.getloadavg()[0], "")
    return metrics


if __name__ == "__main__":
    for key, value in run().items():
        print(key, value)
