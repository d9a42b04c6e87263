"""Recommendations speed and offline quality at USERS users over HISTORY_DAYS days.

The generator's world with its tastes (docs/recommendations.md: drift, churn that follows
from behaviour) writes HISTORY_DAYS days of transactions, app activity and wallet
balances into the raw tables (about one transaction per user and day, the generator's
default density): each topic's UTC day decoded by the ingestion loader's compiled path
and written with one COPY FREEZE into its day partition (`load_history`; setup, bound by
the generator). With `RECO_BENCH_DATA_DIR` the server's data directory is kept there: a
later run at the same scale finds the world loaded (table `public.reco_bench_world`),
empties the ml and recommendations tables and measures again without loading.
Then, on the last day of history:

- the feature days a training reads (training and holdout windows), built once: the
  backfill a first deployment pays, not the weekly cost (the daily partitions keep them);
- training of every model in MODELS (name -> function) one after the other: seconds,
  CPU, and its offline metrics beside its baseline's (`reco_<name>_auc` beside
  `reco_<name>_baseline_auc`); and then all of them as the ml_training job runs them
  (two at a time, budget first: one thread and connection each). Target: all models
  <= 5 min. `RECO_BENCH_TRAIN_ONLY=1` measures only the training, on the kept world
  and its feature days (`_measure_training`);
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
import resource
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from analytics_platform.assets.recommendations import TRAINING_LANES
from analytics_platform.assets.recommendations import TRAINING_ORDER as TRAINING_ORDER_KEYS
from analytics_platform.dev.day_batches import day_batches
from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.events import TOPICS, EventDecoder
from analytics_platform.ingestion.loader import (
    COPY_SIGNATURE,
    COPY_TRAILER,
    PreparedBatch,
    RawLoader,
)
from analytics_platform.ingestion.raw_storage import ensure_raw_partitions
from analytics_platform.ml import (
    budget,
    budget_alerts,
    budget_day_spend,
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
from benchmarks.customer_profiles import record_touched_hours
from benchmarks.database import migrated_database
from benchmarks.rollups import _backend_cpu

USERS = 200_000
HISTORY_DAYS = 90
START = datetime(2026, 1, 1, tzinfo=UTC)
TZ = "UTC"
# What the features and the rules read (wallet balances: SAVINGS_GOAL and INVESTMENT).
TOPIC_NAMES = ("transactions", "user-activity", "wallet-balances")


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


def copy_batch_frozen(
    conn: psycopg.Connection, loader: RawLoader, day: date, batch: PreparedBatch
) -> None:
    """COPY a prepared batch (the loader's own binary rows) straight into the UTC day
    partition of its raw table, emptied in the same transaction, with FREEZE: no
    ON CONFLICT staging (the generated world has no duplicates), no VACUUM pass after,
    and no hint bits left for the first measured query to set (as customers'
    `copy_day_frozen`, which takes CSV frames rather than the loader's binary rows)."""
    if batch.rows:
        # Rows the compiled encoder left to psycopg (a value it does not encode): the
        # generator's events have none, and this loader keeps to the binary rows.
        raise RuntimeError(
            f"{loader.topic} {day}: {len(batch.rows)} rows not encoded by the compiled path"
        )
    schema, table = loader.spec.table.split(".")
    partition = sql.Identifier(schema, f"{table}_p{day:%Y%m%d}")
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY, FREEZE)").format(
        partition,
        sql.SQL(", ").join(map(sql.Identifier, loader.spec.columns)),
    )
    # COPY FREEZE needs the table emptied in the same transaction.
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("TRUNCATE {}").format(partition))
        with cur.copy(statement) as copy:
            copy.write(COPY_SIGNATURE)
            for piece in batch.payload:
                copy.write(piece)
            copy.write(COPY_TRAILER)


def load_history(
    url: str, users: int, days: int, processes: int = 2
) -> tuple[dict[str, int], float | None]:
    """The generator's events of `days` days for `users` users into the raw tables,
    one UTC day of one topic per COPY FREEZE into its day partition
    (`copy_batch_frozen`), decoded and encoded by the ingestion loader's compiled path
    (`prepare`), then ingest.touched_hours as ingestion would have recorded it.

    Profiled at 2,000 users (docs/recommendations.md): the loader's `write` path waited
    on PostgreSQL for half the wall clock (COPY into a staging table on the first
    duplicate-free batch was cheap, but every batch is a savepoint, hourly bookkeeping and
    a VACUUM ANALYZE of everything at the end); the other half is the generator. Here
    three things overlap: with `processes=2` the generator draws the next days in a
    child process (`day_batches`: the same batches as with 1), this process decodes and
    encodes a batch, and the COPY of the one before runs on a second connection in a
    thread (its backend on whichever core is free). (Rows per topic, the COPY backend's
    CPU seconds.)"""
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
    end = START + timedelta(days=days)
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
    written = dict.fromkeys(TOPIC_NAMES, 0)
    tables = tuple(TOPICS[name].table.removeprefix("raw.") for name in TOPIC_NAMES)
    with (
        psycopg.connect(url, autocommit=True) as conn,
        psycopg.connect(url, autocommit=True) as writer,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        for table in tables:
            ensure_raw_partitions(conn, table, START, end)
        for loader in loaders.values():
            loader.bind(conn)
        writer_pid = _backend_pid(writer)
        writer_cpu = _backend_cpu(writer_pid)
        # One COPY at a time: a loader's output buffers are reused after BUFFERS
        # batches, so a batch must be written before two more of its topic are prepared.
        writing: Future[None] | None = None
        for batch in day_batches(config, TOPIC_NAMES, processes):
            loader = loaders[batch.topic]
            # Offsets run on per topic in the generator's order, as a Kafka partition's.
            first = written[batch.topic]
            offsets = list(range(first, first + len(batch.values)))
            messages = [
                _Message(key, value, offset)
                for key, value, offset in zip(batch.keys, batch.values, offsets, strict=True)
            ]
            prepared = loader.prepare(messages, end, [0] * len(offsets), offsets, batch.values)
            if prepared.letters or prepared.duplicates:
                raise RuntimeError(
                    f"{batch.topic} {batch.day}: {len(prepared.letters)} generated events "
                    f"refused, {prepared.duplicates} duplicates: the generator's world is "
                    "not clean"
                )
            if writing is not None:
                writing.result()
            writing = pool.submit(copy_batch_frozen, writer, loader, batch.day, prepared)
            written[batch.topic] += len(messages)
        if writing is not None:
            writing.result()
        after = _backend_cpu(writer_pid)
        record_touched_hours(conn, tables)
    copy_cpu = None if writer_cpu is None or after is None else after - writer_cpu
    return written, copy_cpu


def _reaped_cpu(backend_pid: int) -> float | None:
    """CPU seconds of the postmaster's children that have exited (the backend's parent's
    cutime + cstime): parallel query workers are processes of their own, short-lived, so
    a backend's own CPU leaves out the workers its plan started (SPENDING_TREND's daily
    rows are summed by two workers: about a fifth of its CPU). Autovacuum workers that
    end during a block are counted too."""
    try:
        stat = Path(f"/proc/{backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        parent = Path(f"/proc/{stat[1]}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(parent[13]) + int(parent[14])) / os.sysconf("SC_CLK_TCK")


class Timer:
    """Wall seconds, this process's CPU seconds and the backends' CPU seconds of a block
    (the connection's, plus those of `others`: the day's second lane, plus the parallel
    workers their plans started: `_reaped_cpu`)."""

    def __init__(self, conn: psycopg.Connection, *others: psycopg.Connection) -> None:
        self.pids = [_backend_pid(c) for c in (conn, *others)]

    def __call__(self, task: Callable[[], Any]) -> tuple[Any, float, float, float | None]:
        backend = [_backend_cpu(pid) for pid in self.pids] + [_reaped_cpu(self.pids[0])]
        cpu, started = time.process_time(), time.perf_counter()
        result = task()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        after = [_backend_cpu(pid) for pid in self.pids] + [_reaped_cpu(self.pids[0])]
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
        conn,
        last_day,
        TZ,
        **budget.SMALLEST_TRAINING,
        read=budget_day_spend.read_features_at_cuts,
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


def as_the_day_after(conn: psycopg.Connection, day: date) -> None:
    """Leave `day`'s state as the daily schedule finds it, after its steps ran alone: the
    rules' carried cells back at the day before (a re-run of the day sums them in full),
    and the day's features removed (the partition builds them)."""
    with daily.serial_plans(conn):
        spending_trend.detect(conn, day - timedelta(days=1), TZ)
        surplus.detect(conn, day - timedelta(days=1), TZ)
    run_sql_file(conn, "ml/features_delete_day.sql", {"day": day})


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
        # Planned as the partition plans them (ml/daily.py: no parallel workers).
        with daily.serial_plans(conn):
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


# The ml_training job's order (the highest `dagster/priority` first) and lanes.
TRAINING_ORDER = tuple(key.path[-1].removesuffix("_model") for key in TRAINING_ORDER_KEYS)


def _train_in_parallel(url: str, last_day: date, lanes: int = TRAINING_LANES) -> None:
    """Every model, `lanes` at a time in TRAINING_ORDER, as the ml_training job's
    executor starts them (one thread and connection each)."""

    def train(name: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            MODELS[name](conn, last_day)

    with ThreadPoolExecutor(max_workers=lanes) as pool:
        for done in [pool.submit(train, name) for name in TRAINING_ORDER]:
            done.result()


def _data_dir() -> Path | None:
    folder = os.environ.get("RECO_BENCH_DATA_DIR")
    return Path(folder) if folder else None


def _load_only() -> bool:
    return os.environ.get("RECO_BENCH_LOAD_ONLY", "") == "1"


def _train_only() -> bool:
    return os.environ.get("RECO_BENCH_TRAIN_ONLY", "") == "1"


def run() -> dict[str, dict]:
    with migrated_database("recommendations", data_dir=_data_dir()) as (url, _):
        if _load_only():
            # The world loaded (or found in RECO_BENCH_DATA_DIR) and nothing measured:
            # a full-scale load prepared ahead of the measuring runs.
            return _load_figures(url, _scale())
        if _train_only():
            return _measure_training(url)
        return _measure(url)


def _measure_training(url: str) -> dict[str, dict]:
    """RECO_BENCH_TRAIN_ONLY=1: only the weekly training, on the world kept in
    RECO_BENCH_DATA_DIR with its feature days (loaded first if it is not there): the
    model store emptied, the missing feature days built (untimed in the totals), every
    model alone (`_train_serially`), then all three at once and in the ml_training job's
    two lanes (`_train_in_parallel`)."""
    scale = _scale()
    users = max(100, int(USERS * scale))
    with psycopg.connect(url, autocommit=True) as conn:
        kept = kept_world(conn)
    if kept is None or kept["users"] != users or kept["days"] != HISTORY_DAYS:
        metrics = _load_figures(url, scale)
    else:
        metrics = {
            "reco_scale": _metric(scale, "x"),
            "reco_users": _metric(users, "users"),
            "reco_load_average_1m_before": _metric(os.getloadavg()[0], ""),
        }
    last_day = START.date() + timedelta(days=HISTORY_DAYS - 1)
    w = TRAINING_WINDOWS
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE ml.models")
        timer = Timer(conn)
        built, seconds, cpu, backend = timer(
            lambda: features.build_missing_days(conn, w.train_first, w.holdout_last, TZ)
        )
        metrics["reco_feature_backfill_days"] = _metric(built, "days")
        metrics.update(_timed_metrics("reco_feature_backfill", seconds, cpu, backend))
        # The budget training's daily rows, paid by the first training (then kept and
        # only rebuilt where late events land), measured apart from the training itself.
        built_days, seconds, cpu, backend = timer(
            lambda: budget_day_spend.refresh(conn, _budget_training_days(last_day), TZ)
        )
        metrics["reco_budget_day_spend_backfill_days"] = _metric(len(built_days), "days")
        metrics.update(_timed_metrics("reco_budget_day_spend_backfill", seconds, cpu, backend))
        metrics.update(_train_serially(conn, timer, last_day, scale))
        # Against the champions the serial runs stored, as a weekly run meets them: all
        # three at once (the job before issue 14's training work), then two lanes, as
        # the ml_training job runs them now. This process's CPU (every model's client
        # work) beside the wall clock; the backends' is in the serial figures.
        for run_name, lanes in (("three_at_once", len(MODELS)), ("two_lanes", TRAINING_LANES)):
            cpu, started = time.process_time(), time.perf_counter()
            _train_in_parallel(url, last_day, lanes)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            metrics[f"reco_train_all_parallel_{run_name}_s"] = _metric(seconds)
            metrics[f"reco_train_all_parallel_{run_name}_cpu_s"] = _metric(cpu, "cpu s")
            metrics[f"reco_train_all_parallel_{run_name}_at_full_scale_s"] = _metric(
                seconds / scale, target=300.0
            )
    metrics["reco_load_average_1m"] = _metric(os.getloadavg()[0], "")
    return metrics


def _budget_training_days(last_day: date) -> list[date]:
    """The local days `train_budget`'s cuts read: from its history month to the last
    holdout cut."""
    smallest = budget.SMALLEST_TRAINING
    w = budget.windows(last_day, smallest["train_months"], smallest["holdout_months"])
    first = budget.add_months(w.train_months[0], -smallest["history_months"])
    last = budget.month_cuts(w.holdout_months[-1])[-1]
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _train_serially(
    conn: psycopg.Connection, timer: Timer, last_day: date, scale: float
) -> dict[str, dict]:
    """Every model of MODELS alone: wall, client and backend CPU, the offline metrics,
    and the CPU linear in users at USERS users. The estimate of all at once on two idle
    cores: the larger of the longest model's CPU (one model uses one core at a time:
    its queries, then its fit) and half the CPU of all."""
    metrics: dict[str, dict] = {}
    total = longest = 0.0
    for name, train in MODELS.items():
        offline, seconds, cpu, backend = timer(lambda t=train: t(conn, last_day))
        metrics.update(_timed_metrics(f"reco_train_{name}", seconds, cpu, backend))
        model_cpu = cpu + (backend or 0.0)
        metrics[f"reco_train_{name}_cpu_at_full_scale_s"] = _metric(model_cpu / scale, "cpu s")
        total += model_cpu
        longest = max(longest, model_cpu)
        for key in OFFLINE_METRICS:
            if key in offline:
                metrics[f"reco_{name}_{key}"] = _metric(offline[key], "")
        metrics[f"reco_{name}_accepted"] = _metric(offline.get("accepted"), "bool")
    metrics["reco_train_all_cpu_at_full_scale_s"] = _metric(total / scale, "cpu s")
    metrics["reco_train_all_two_idle_cores_at_full_scale_s"] = _metric(
        max(longest, total / 2) / scale, target=300.0
    )
    return metrics


def kept_world(conn: psycopg.Connection) -> dict[str, int] | None:
    """What a kept data directory's history holds (users, days, rows per topic), or
    None when nothing was loaded yet."""
    exists = conn.execute("SELECT to_regclass('public.reco_bench_world') IS NOT NULL").fetchone()
    if not (exists and exists[0]):
        return None
    return {
        name: int(value)
        for name, value in conn.execute("SELECT name, value FROM public.reco_bench_world")
    }


def clear_recommendation_tables(conn: psycopg.Connection) -> None:
    """Empty everything the features, models and recommendations write (a kept history
    measured again from the same start as a fresh one)."""
    rows = conn.execute(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('ml', 'recommendations')"
    ).fetchall()
    tables = sql.SQL(", ").join(sql.Identifier(schema, name) for schema, name in rows)
    conn.execute(sql.SQL("TRUNCATE {}").format(tables))


def _generator_processes() -> int:
    """RECO_BENCH_GENERATOR_PROCESSES: 2 (default) draws the world in a child process
    beside the loading, 1 inline (the same events either way)."""
    return int(os.environ.get("RECO_BENCH_GENERATOR_PROCESSES", "2"))


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its children that ended (the generator's)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _load_or_reuse(
    url: str, users: int
) -> tuple[dict[str, int], float | None, float | None, float | None]:
    """(rows per topic, the load's wall seconds, the CPU seconds of this process and its
    generator's and the COPY backend's: None when a kept data directory already held
    this world)."""
    with psycopg.connect(url, autocommit=True) as conn:
        kept = kept_world(conn)
        if kept is not None:
            if kept["users"] != users or kept["days"] != HISTORY_DAYS:
                raise RuntimeError(
                    f"RECO_BENCH_DATA_DIR holds {kept['users']} users over {kept['days']} "
                    f"days, not {users} over {HISTORY_DAYS}: delete the directory or set "
                    "RECO_BENCH_SCALE to match"
                )
            clear_recommendation_tables(conn)
            return kept, None, None, None
    started, cpu = time.perf_counter(), _cpu_with_children()
    loaded, copy_cpu = load_history(url, users, HISTORY_DAYS, _generator_processes())
    seconds, cpu = time.perf_counter() - started, _cpu_with_children() - cpu
    with psycopg.connect(url, autocommit=True) as conn:
        world = {"users": users, "days": HISTORY_DAYS, **loaded}
        conn.execute("CREATE TABLE public.reco_bench_world (name text PRIMARY KEY, value bigint)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO public.reco_bench_world VALUES (%s, %s)", world.items())
    return world, seconds, cpu, copy_cpu


def _load_figures(url: str, scale: float) -> dict[str, dict]:
    """The world loaded or reused (`_load_or_reuse`) and the load's figures."""
    users = max(100, int(USERS * scale))
    loaded, load_seconds, load_cpu, copy_cpu = _load_or_reuse(url, users)
    rows = loaded["transactions"] + loaded["user-activity"] + loaded["wallet-balances"]
    return {
        "reco_scale": _metric(scale, "x"),
        "reco_users": _metric(users, "users"),
        "reco_history_days": _metric(HISTORY_DAYS, "days"),
        "reco_transactions": _metric(loaded["transactions"], "rows"),
        "reco_activity_rows": _metric(loaded["user-activity"], "rows"),
        "reco_wallet_rows": _metric(loaded["wallet-balances"], "rows"),
        # None: RECO_BENCH_DATA_DIR held this world already.
        "reco_load_history_s": _metric(load_seconds),
        "reco_load_history_cpu_s": _metric(load_cpu, "cpu s"),
        "reco_load_history_copy_db_cpu_s": _metric(copy_cpu, "cpu s"),
        "reco_load_history_cpu_us_per_row": _metric(
            1e6 * (load_cpu + (copy_cpu or 0.0)) / rows if load_cpu is not None else None,
            "cpu us/row",
        ),
        "reco_load_history_rows_per_s": _metric(
            rows / load_seconds if load_seconds else None, "rows/s"
        ),
        "reco_load_average_1m_before": _metric(os.getloadavg()[0], ""),
    }


def _measure(url: str) -> dict[str, dict]:
    scale = _scale()
    metrics = _load_figures(url, scale)
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
            # The whole partition as the asset runs it (ml/daily.py), the day after the
            # previous day's: every type in two lanes on two connections, both backends'
            # CPU counted.
            as_the_day_after(conn, last_day)
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
        # The weekly training as the ml_training job runs it: two model assets at a
        # time, budget first (Dagster's multiprocess executor), here two threads on their
        # own connections; each model's own CPU is in its serial figures above.
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
