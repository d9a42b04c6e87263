"""The `ml` asset group: per-user features as daily partitions, the inactivity and budget
models.

Thin shells around `analytics_platform.ml` (plain functions and SQL). The model assets
train weekly (schedule running by default) and on demand from the UI; their blocking
checks fail (ERROR) when the new version does not beat the baseline or the champion on
the holdout, which stops anything downstream in the same run, and the version is stored
with accepted = false, so scoring keeps the previous champion (or the baseline rule).
"""

# No `from __future__ import annotations`: Dagster checks the `context` annotation.
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    DefaultScheduleStatus,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    TableColumn,
    TableSchema,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
    multiprocess_executor,
)

from analytics_platform.ml import (
    budget,
    budget_alerts,
    budget_day_spend,
    daily,
    features,
    inactivity,
    next_purchase,
    next_purchase_scoring,
    rules,
    scoring,
)
from analytics_platform.partitions import daily_partitions
from analytics_platform.resources.warehouse import connect
from analytics_platform.settings import load_settings

ML_GROUP = "ml"
RECOMMENDATIONS_GROUP = "recommendations"
RECOMMENDATIONS_KEY = AssetKey(["recommendations", "daily"])
OWNERS = ["team:data-science"]
FEATURES_KEY = AssetKey(["ml", "user_features"])
INACTIVITY_KEY = AssetKey(["ml", "inactivity_model"])
NEXT_PURCHASE_KEY = AssetKey(["ml", "next_purchase_model"])
BUDGET_KEY = AssetKey(["ml", "budget_model"])
BEATS_BASELINE_CHECK = "beats_baseline_and_champion"
# Weekly training, Monday 03:00 in the reporting time zone.
TRAINING_CRON = "0 3 * * 1"
# The training job on two cores: two models at a time, the one with the most CPU first
# (a higher `dagster/priority` starts first). Three at once shared the two cores, so
# budget, the longest, ran on two thirds of a core while the others did and finished
# last; with two lanes it has a core from the start and inactivity, then next_purchase,
# follow each other on the other (issue 14: the training in at most 5 minutes).
TRAINING_LANES = 2
TRAINING_ORDER = (BUDGET_KEY, INACTIVITY_KEY, NEXT_PURCHASE_KEY)


def _training_priority(key: AssetKey) -> dict[str, str]:
    return {"dagster/priority": str(len(TRAINING_ORDER) - TRAINING_ORDER.index(key))}


@asset(
    key=FEATURES_KEY,
    group_name=ML_GROUP,
    owners=OWNERS,
    kinds={"postgres"},
    partitions_def=daily_partitions,
    deps=[AssetKey(["raw", "transactions"]), AssetKey(["raw", "user_activity"])],
    metadata={
        "dagster/table_name": "ml.user_features",
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn("day", "date", description="the partition: as of the end of it"),
                TableColumn("user_id", "text"),
                *(TableColumn(n, t, description=d) for n, t, d in features.FEATURE_COLUMNS),
            ]
        ),
    },
)
def user_features(context: AssetExecutionContext) -> MaterializeResult:
    """ml.user_features: one row per (day, user_id) for every user with a successful
    transaction in the 90 days before the end of the day (REPORTING_TIMEZONE); each
    value reads only events before that instant. A re-run replaces the day."""
    day = date.fromisoformat(context.partition_key)
    with connect(load_settings().database_url, autocommit=True) as conn:
        rows = features.build_day(conn, day, daily_partitions.timezone)
    return MaterializeResult(metadata={"dagster/row_count": rows, "day": day.isoformat()})


def _last_complete_day(configured: str) -> date:
    """The launchpad's ISO `last_day`, or yesterday in the reporting time zone."""
    if configured:
        return date.fromisoformat(configured)
    return datetime.now(ZoneInfo(daily_partitions.timezone)).date() - timedelta(days=1)


def _training_result(
    version: int,
    accepted: bool,
    metrics: dict[str, float],
    check_metrics: tuple[str, ...],
    windows: dict[str, date],
    parameters: dict[str, object],
    data_seen: dict[str, object],
    rejected: str = "rejected: the champion stays",
    **extra: object,
) -> MaterializeResult:
    """A training's materialization: every offline metric as a number Dagster plots
    across versions, and the blocking check's verdict with the metrics it judged."""
    verdict = "accepted as champion" if accepted else rejected
    return MaterializeResult(
        metadata={
            **{key: MetadataValue.float(value) for key, value in metrics.items()},
            "version": version,
            "verdict": verdict,
            **{f"{name}_day": day.isoformat() for name, day in windows.items()},
            **extra,
            "parameters": MetadataValue.json(parameters),
            "data_seen": MetadataValue.json(data_seen),
        },
        check_results=[
            AssetCheckResult(
                check_name=BEATS_BASELINE_CHECK,
                passed=accepted,
                severity=AssetCheckSeverity.ERROR,
                metadata={**{key: metrics[key] for key in check_metrics}, "verdict": verdict},
            )
        ],
    )


class TrainingConfig(Config):
    """Launchpad options of a training run; the schedule uses the defaults."""

    last_day: str = ""  # ISO date of the last complete day of data; "" = yesterday
    horizon_days: int = inactivity.HORIZON_DAYS
    holdout_days: int = inactivity.HOLDOUT_DAYS
    train_days: int = inactivity.TRAIN_DAYS


@asset(
    key=INACTIVITY_KEY,
    group_name=ML_GROUP,
    owners=OWNERS,
    op_tags=_training_priority(INACTIVITY_KEY),
    kinds={"sklearn", "postgres"},
    deps=[FEATURES_KEY],
    check_specs=[
        AssetCheckSpec(
            BEATS_BASELINE_CHECK,
            asset=INACTIVITY_KEY,
            blocking=True,
            description="the new version beats recency alone (and the champion) on the "
            "time-based holdout: lower end of the bootstrap AUC-gain interval above "
            f"{inactivity.MIN_AUC_GAIN}",
        )
    ],
)
def inactivity_model(context: AssetExecutionContext, config: TrainingConfig) -> MaterializeResult:
    """ml.models rows of `inactivity`: a calibrated HistGradientBoostingClassifier of "no
    successful transaction in the next HORIZON_DAYS days" per user, one version per
    materialization, with its holdout evaluation beside recency alone (the baseline).
    Trains on the feature days up to yesterday (building the missing ones)."""
    tz = daily_partitions.timezone
    last_day = _last_complete_day(config.last_day)
    w = inactivity.windows(last_day, config.horizon_days, config.holdout_days, config.train_days)
    with connect(load_settings().database_url, autocommit=True) as conn:
        built = features.build_missing_days(conn, w.train_first, w.holdout_last, tz)
        run = inactivity.train_and_store(
            conn, last_day, tz, config.horizon_days, config.holdout_days, config.train_days
        )
    return _training_result(
        run.version,
        run.accepted,
        run.evaluation.metrics(),
        ("auc", "baseline_auc", "auc_gain_low"),
        {
            "train_first": w.train_first,
            "train_last": w.train_last,
            "holdout_first": w.holdout_first,
            "holdout_last": w.holdout_last,
        },
        run.parameters,
        run.data_seen,
        feature_days_built=built,
    )


class BudgetTrainingConfig(Config):
    """Launchpad options of a budget model training; the schedule uses the defaults."""

    last_day: str = ""  # ISO date of the last complete day of data; "" = yesterday
    train_months: int = budget.TRAIN_MONTHS
    holdout_months: int = budget.HOLDOUT_MONTHS
    history_months: int = budget.HISTORY_MONTHS
    min_habit_months: int = budget.MIN_HABIT_MONTHS
    alert_margin: float = budget.ALERT_MARGIN


@asset(
    key=BUDGET_KEY,
    group_name=ML_GROUP,
    owners=OWNERS,
    op_tags=_training_priority(BUDGET_KEY),
    kinds={"sklearn", "postgres"},
    deps=[AssetKey(["raw", "transactions"])],
    check_specs=[
        AssetCheckSpec(
            BEATS_BASELINE_CHECK,
            asset=BUDGET_KEY,
            blocking=True,
            description="the new version beats the fitted linear extrapolation (and the "
            "champion) on the holdout months: lower end of the bootstrap interval of the "
            f"relative MAE reduction above {budget.MIN_MAE_GAIN}",
        )
    ],
)
def budget_model(context: AssetExecutionContext, config: BudgetTrainingConfig) -> MaterializeResult:
    """ml.models rows of `budget`: a HistGradientBoostingRegressor of each user's
    month-end spending per (category, currency), one version per materialization, with
    its holdout evaluation (MAE in usual months, alert precision and recall) beside the
    baseline's (linear extrapolation of the month so far). Trains on the complete months
    up to yesterday, reading ml.budget_day_spend (built where due), or raw.transactions
    where the daily rows cannot be exact (see analytics_platform/ml/budget_day_spend.py)."""
    tz = daily_partitions.timezone
    with connect(load_settings().database_url, autocommit=True) as conn:
        run = budget.train_and_store(
            conn,
            _last_complete_day(config.last_day),
            tz,
            config.train_months,
            config.holdout_months,
            config.history_months,
            config.min_habit_months,
            config.alert_margin,
            read=budget_day_spend.read_features_at_cuts,
        )
    train_first, train_last, holdout_first, holdout_last = run.windows.as_tuple()
    return _training_result(
        run.version,
        run.accepted,
        run.evaluation.metrics(),
        ("mae", "baseline_mae", "mae_gain_low"),
        {
            "train_first": train_first,
            "train_last": train_last,
            "holdout_first": holdout_first,
            "holdout_last": holdout_last,
        },
        run.parameters,
        run.data_seen,
    )


class NextPurchaseTrainingConfig(Config):
    """Launchpad options of a next_purchase training; the schedule uses the defaults."""

    last_day: str = ""  # ISO date of the last complete day of data; "" = yesterday
    holdout_days: int = next_purchase.HOLDOUT_DAYS
    history_days: int = next_purchase.HISTORY_DAYS


@asset(
    key=NEXT_PURCHASE_KEY,
    group_name=ML_GROUP,
    owners=OWNERS,
    op_tags=_training_priority(NEXT_PURCHASE_KEY),
    kinds={"sklearn", "postgres"},
    deps=[AssetKey(["raw", "transactions"])],
    check_specs=[
        AssetCheckSpec(
            BEATS_BASELINE_CHECK,
            asset=NEXT_PURCHASE_KEY,
            blocking=True,
            description="the new version beats popularity (and the champion) at ranking "
            "the merchants users pay for the first time in the time-based holdout: lower "
            f"end of the bootstrap NDCG@{next_purchase.TOP_K}-gain interval above "
            f"{next_purchase.MIN_NDCG_GAIN}",
        )
    ],
)
def next_purchase_model(
    context: AssetExecutionContext, config: NextPurchaseTrainingConfig
) -> MaterializeResult:
    """ml.models rows of `next_purchase`: a TruncatedSVD of the user x item matrix
    (merchants paid, payment methods and transaction types used) ranking the items a
    user has not used yet, for PROMOTION and NEW_FEATURE; one version per
    materialization, with its holdout evaluation beside popularity (the baseline)."""
    with connect(load_settings().database_url, autocommit=True) as conn:
        run = next_purchase.train_and_store(
            conn,
            _last_complete_day(config.last_day),
            daily_partitions.timezone,
            config.holdout_days,
            config.history_days,
        )
    w = run.windows
    return _training_result(
        run.version,
        run.accepted,
        run.evaluation.metrics(),
        ("ndcg_at_k", "baseline_ndcg_at_k", "ndcg_gain_low"),
        {
            "history_first": w.history_first,
            "history_last": w.history_last,
            "holdout_first": w.holdout_first,
            "holdout_last": w.holdout_last,
        },
        run.parameters,
        run.data_seen,
        rejected="rejected: the champion (or, with none, popularity) stays",
    )


ml_training_job = define_asset_job(
    "ml_training",
    selection=list(TRAINING_ORDER),
    description="Train the recommendation models, two at a time, the longest first.",
    executor_def=multiprocess_executor.configured({"max_concurrent": TRAINING_LANES}),
)
ml_training_schedule = ScheduleDefinition(
    name="ml_training_weekly",
    job=ml_training_job,
    cron_schedule=TRAINING_CRON,
    execution_timezone=daily_partitions.timezone,
    default_status=DefaultScheduleStatus.RUNNING,
)


@asset(
    key=RECOMMENDATIONS_KEY,
    group_name=RECOMMENDATIONS_GROUP,
    owners=OWNERS,
    kinds={"sklearn", "postgres"},
    partitions_def=daily_partitions,
    # The rule types read the raw ledger directly (ml/rules.py).
    deps=[
        FEATURES_KEY,
        INACTIVITY_KEY,
        BUDGET_KEY,
        NEXT_PURCHASE_KEY,
        AssetKey(["raw", "transactions"]),
        AssetKey(["raw", "wallet_balances"]),
    ],
    metadata={
        "dagster/table_name": "recommendations.daily",
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn("id", "uuid", description="UUIDv5 of (day, user_id, type)"),
                TableColumn("day", "date", description="the partition"),
                TableColumn("user_id", "text"),
                TableColumn("type", "text", description="INACTIVITY_REMINDER, ..."),
                TableColumn("title", "text"),
                TableColumn("description", "text", description="with the user's own numbers"),
                TableColumn("action_url", "text"),
                TableColumn("priority", "smallint", description="1-5, from the score"),
                TableColumn("score", "double"),
                TableColumn("reason", "jsonb", description="the evidence"),
                TableColumn("model_name", "text", description="or baseline:recency"),
                TableColumn("model_version", "integer", description="NULL for the baseline"),
                TableColumn("created_at", "timestamptz", description="the end of the day"),
                TableColumn("expires_at", "timestamptz", description="a week later"),
            ]
        ),
    },
)
def daily_recommendations(context: AssetExecutionContext) -> MaterializeResult:
    """recommendations.daily rows of the day: one row per (user, type) recommended as of
    the end of the day (id derived from day, user and type), valid for a week. So far
    INACTIVITY_REMINDER: every user with features that day scored by the champion model,
    or by the recency rule when no model has beaten it (metadata `fallback` says so);
    SPENDING_TREND, SAVINGS_GOAL and INVESTMENT by rules on the user's own history
    (`ml/rules.py`; metadata `rows_<TYPE>` and `examined_<TYPE>` per type).
    BUDGET_ALERT: per user the category whose month-end forecast (budget champion, or
    linear extrapolation: `budget_fallback` says which) most exceeds the usual month.
    PROMOTION and NEW_FEATURE: every user with a transaction of their own in 90 days, their
    best untried merchant and feature by the next_purchase champion or popularity
    (metadata `next_purchase_*`).
    A re-run replaces the day's rows; deterministic for a fixed model and day."""
    day = date.fromisoformat(context.partition_key)
    tz = daily_partitions.timezone
    url = load_settings().database_url
    # Two connections: the day's types run as two lanes, one backend each (ml/daily.py).
    with connect(url, autocommit=True) as conn, connect(url, autocommit=True) as second:
        day_report = daily.recommend_day(conn, day, tz, second)
    reports = day_report.by_type
    report = reports[scoring.INACTIVITY_TYPE]
    budget_report = reports[budget_alerts.BUDGET_TYPE]
    rule_reports = {kind: reports[kind] for kind in rules.RULE_TYPES}
    return MaterializeResult(
        metadata={
            "users_scored": report.scored,
            "dagster/row_count": day_report.written,
            **{f"rows_{kind}": r.written for kind, r in rule_reports.items()},
            **{f"examined_{kind}": r.scored for kind, r in rule_reports.items()},
            "model_name": report.model_name,
            "model_version": report.model_version or 0,
            "fallback": report.fallback or "none: the champion model scored",
            "budget_rows_scored": budget_report.scored,
            "budget_alerts": budget_report.written,
            "budget_model_name": budget_report.model_name,
            "budget_model_version": budget_report.model_version or 0,
            "budget_fallback": budget_report.fallback or "none: the champion model scored",
            **next_purchase_metadata(day_report.next_purchase),
        }
    )


def next_purchase_metadata(report: next_purchase_scoring.ScoringReport) -> dict[str, object]:
    """The daily asset's PROMOTION / NEW_FEATURE metadata (prefixed `next_purchase_`)."""
    return {
        "next_purchase_users": report.users,
        "promotion_rows": report.promotions,
        "new_feature_rows": report.new_features,
        "next_purchase_model_name": report.model_name,
        "next_purchase_model_version": report.model_version or 0,
        "new_feature_model_name": report.new_feature_model_name,
        "next_purchase_fallback": report.fallback or "none: the champion model ranked",
        # How the 90-day interactions were counted (ml/interaction_window.py).
        "next_purchase_interactions": report.interactions_method,
    }


recommendations_job = define_asset_job(
    "recommendations_daily",
    selection=[FEATURES_KEY, RECOMMENDATIONS_KEY],
)
# Each day's partition at 04:00 reporting time, when the day's events are in (the
# ingest grace and the rollups take minutes, not hours).
recommendations_schedule = build_schedule_from_partitioned_job(
    recommendations_job, hour_of_day=4, default_status=DefaultScheduleStatus.RUNNING
)
ml_assets = [
    user_features,
    inactivity_model,
    budget_model,
    next_purchase_model,
    daily_recommendations,
]
