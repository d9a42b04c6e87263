"""The demo's recommendations: each model trained once on the history's closed days, with
the training windows shortened to fit the history, then the last closed day's
recommendations written by the same plain function the `recommendations/daily` asset
calls. The summary says each model against its baseline, and the verdict of its blocking
check (a model that does not beat its baseline is not used: its type falls back to the
baseline rule)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import psycopg

from analytics_platform.dev.history_customers import closed_days
from analytics_platform.ml import (
    budget,
    budget_day_spend,
    daily,
    features,
    inactivity,
    next_purchase,
)
from analytics_platform.resources.warehouse import connect
from analytics_platform.settings import Settings

# Shorter than the weekly training's windows (inactivity.HORIZON_DAYS and friends): the
# demo's history is 30 days by default. A week of horizon and of holdout leaves the rest
# of the history to train on.
DEMO_HORIZON_DAYS = 7
DEMO_HOLDOUT_DAYS = 7
MIN_TRAIN_DAYS = 5


@dataclass(frozen=True)
class ModelLine:
    """One model's training in the demo: its metric beside its baseline's, and the verdict."""

    model: str
    comparison: str
    verdict: str


@dataclass(frozen=True)
class HistoryRecommendations:
    day: date
    models: list[ModelLine]
    # (type, rows written, model or rule that wrote them), in the order written.
    types: list[tuple[str, int, str]]


def _train_inactivity(conn: psycopg.Connection, first: date, last: date, tz: str) -> ModelLine:
    train_last = last - timedelta(days=2 * DEMO_HORIZON_DAYS + DEMO_HOLDOUT_DAYS)
    train_days = (train_last - first).days + 1
    if train_days < MIN_TRAIN_DAYS:
        needed = 2 * DEMO_HORIZON_DAYS + DEMO_HOLDOUT_DAYS + MIN_TRAIN_DAYS
        return ModelLine(
            inactivity.MODEL_NAME,
            "-",
            f"not trained: needs {needed} days of history (demo --days)",
        )
    w = inactivity.windows(last, DEMO_HORIZON_DAYS, DEMO_HOLDOUT_DAYS, train_days)
    features.build_missing_days(conn, w.train_first, w.holdout_last, tz)
    try:
        run = inactivity.train_and_store(
            conn, last, tz, DEMO_HORIZON_DAYS, DEMO_HOLDOUT_DAYS, train_days
        )
    except inactivity.NotEnoughHistoryError as exc:
        return ModelLine(inactivity.MODEL_NAME, "-", f"not trained: {exc}")
    metrics = run.evaluation.metrics()
    return ModelLine(
        inactivity.MODEL_NAME,
        f"AUC {metrics['auc']:.3f} vs recency {metrics['baseline_auc']:.3f}",
        _verdict(run.version, run.accepted),
    )


def _train_budget(conn: psycopg.Connection, first: date, last: date, tz: str) -> ModelLine:
    smallest = budget.SMALLEST_TRAINING
    w = budget.windows(last, smallest["train_months"], smallest["holdout_months"])
    history_first = budget.add_months(w.train_months[0], -smallest["history_months"])
    if history_first < first:
        return ModelLine(
            budget.MODEL_NAME,
            "-",
            f"not trained: needs the complete months from {history_first:%Y-%m} (demo --days 100)",
        )
    try:
        run = budget.train_and_store(
            conn,
            last,
            tz,
            **smallest,
            read=budget_day_spend.read_features_at_cuts,
        )
    except budget.NotEnoughHistoryError as exc:
        return ModelLine(budget.MODEL_NAME, "-", f"not trained: {exc}")
    metrics = run.evaluation.metrics()
    return ModelLine(
        budget.MODEL_NAME,
        f"MAE {metrics['mae']:.3f} vs extrapolation {metrics['baseline_mae']:.3f} usual months",
        _verdict(run.version, run.accepted),
    )


def _train_next_purchase(conn: psycopg.Connection, first: date, last: date, tz: str) -> ModelLine:
    # The holdout's first-time purchases need a history before it: half of what the demo
    # has, at most the weekly training's.
    history_days = (last - first).days + 1
    holdout_days = min(next_purchase.HOLDOUT_DAYS, history_days // 3)
    if holdout_days < DEMO_HOLDOUT_DAYS:
        return ModelLine(
            next_purchase.MODEL_NAME, "-", "not trained: needs 21 days of history (demo --days)"
        )
    try:
        run = next_purchase.train_and_store(
            conn,
            last,
            tz,
            holdout_days,
            min(next_purchase.HISTORY_DAYS, history_days - holdout_days),
        )
    except next_purchase.NotEnoughHistoryError as exc:
        return ModelLine(next_purchase.MODEL_NAME, "-", f"not trained: {exc}")
    metrics = run.evaluation.metrics()
    return ModelLine(
        next_purchase.MODEL_NAME,
        f"NDCG@{next_purchase.TOP_K} {metrics['ndcg_at_k']:.3f} vs popularity "
        f"{metrics['baseline_ndcg_at_k']:.3f}",
        _verdict(run.version, run.accepted),
    )


def _verdict(version: int, accepted: bool) -> str:
    if accepted:
        return f"version {version} accepted: beats its baseline"
    return f"version {version} blocked: not better than its baseline, which scores instead"


TRAININGS: tuple[Callable[[psycopg.Connection, date, date, str], ModelLine], ...] = (
    _train_inactivity,
    _train_budget,
    _train_next_purchase,
)


def compute_recommendations(
    settings: Settings,
    first: date,
    last: date,
    progress: Callable[[str], None] = print,
) -> HistoryRecommendations:
    """Train every model on [first, last] (closed local days) and write `last`'s
    recommendations."""
    tz = settings.reporting_timezone
    with connect(settings.database_url, autocommit=True) as conn:
        models = []
        for training in TRAININGS:
            line = training(conn, first, last, tz)
            progress(f"    ml/{line.model}_model: {line.verdict}")
            models.append(line)
        progress(f"    recommendations/daily: {last}")
        with connect(settings.database_url, autocommit=True) as second:
            reports = daily.recommend_day(conn, last, tz, second)
    return HistoryRecommendations(last, models, reports.types())


def format_recommendations(result: HistoryRecommendations | None) -> list[str]:
    """Summary lines for the demo."""
    if result is None:
        return ["recommendations: the history has no closed day yet"]
    lines = ["models against their baselines (time-based holdout, docs/recommendations.md):"]
    lines += [f"    {m.model:<14} {m.comparison:<48} {m.verdict}" for m in result.models]
    lines.append(f"recommendations written for {result.day}:")
    lines += [f"    {kind:<20} {rows:>7,}  by {model}" for kind, rows, model in result.types]
    return lines


def history_recommendations(
    settings: Settings,
    start: datetime,
    end: datetime,
    progress: Callable[[str], None] = print,
) -> list[str]:
    """The demo's step: models and recommendations over the closed days of [start, end),
    as summary lines."""
    days = closed_days(start, end, settings.tz)
    if days is None:
        return format_recommendations(None)
    return format_recommendations(compute_recommendations(settings, *days, progress))
