"""INACTIVITY_REMINDER: evaluated on a time-based holdout against recency alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import numpy as np
import psycopg
import pytest
from dagster import AssetCheckSeverity, materialize
from sklearn.metrics import roc_auc_score

from analytics_platform.assets.recommendations import (
    BEATS_BASELINE_CHECK,
    daily_recommendations,
    inactivity_model,
)
from analytics_platform.ml import features, inactivity, model_store, scoring

from .conftest import PostgresCluster
from .ml_world import TZ, day_of, generated_world

DAYS = 60
HORIZON, HOLDOUT, TRAIN = 7, 7, 21


def build_features(url: str) -> None:
    w = inactivity.windows(day_of(DAYS - 1), HORIZON, HOLDOUT, TRAIN)
    with psycopg.connect(url, autocommit=True) as conn:
        day = w.train_first
        while day <= w.holdout_last:
            features.build_day(conn, day, TZ)
            day += timedelta(days=1)


@pytest.fixture(scope="module")
def with_tastes(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with generated_world(postgres_cluster, DAYS, events_per_day=400, users=600) as url:
        build_features(url)
        yield url


@pytest.fixture(scope="module")
def without_tastes(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with generated_world(
        postgres_cluster, DAYS, events_per_day=150, users=600, tastes=False
    ) as url:
        build_features(url)
        yield url


def train(url: str) -> inactivity.TrainingRun:
    with psycopg.connect(url, autocommit=True) as conn:
        return inactivity.train_and_store(conn, day_of(DAYS - 1), TZ, HORIZON, HOLDOUT, TRAIN)


def test_windows_keep_training_labels_before_the_holdout_features():
    w = inactivity.windows(date(2026, 3, 31), horizon_days=14, holdout_days=7, train_days=28)
    assert w.holdout_last + timedelta(days=14) == date(2026, 3, 31)
    assert (w.holdout_last - w.holdout_first).days == 6
    # The last training label window ends before the first holdout day.
    assert w.train_last + timedelta(days=14) < w.holdout_first
    assert (w.train_last - w.train_first).days == 27


def test_on_a_world_with_tastes_the_model_beats_recency_and_a_retrain_must_beat_it(with_tastes):
    run = train(with_tastes)
    against = run.evaluation.against_baseline
    assert 0.0 < run.evaluation.quiet_share < 1.0
    assert against.auc > against.reference_auc
    assert run.accepted
    assert run.evaluation.brier <= run.evaluation.baseline_brier
    with psycopg.connect(with_tastes, autocommit=True) as conn:
        champion = model_store.champion(conn, inactivity.MODEL_NAME)
        assert champion is not None and champion.version == run.version
        assert champion.metrics["auc"] == pytest.approx(against.auc)
        # The stored model scores like the one just evaluated.
        holdout = inactivity.load(
            conn, run.windows.holdout_first, run.windows.holdout_last, HORIZON, TZ
        )
        stored = inactivity.predict_quiet(champion.estimator(), holdout.frame.values)
        assert roc_auc_score(holdout.labels, stored) == pytest.approx(against.auc)
    # The same data again: the challenger ties the champion, so the champion stays.
    second = train(with_tastes)
    assert second.version == run.version + 1
    assert second.evaluation.against_champion is not None
    assert not second.accepted
    with psycopg.connect(with_tastes, autocommit=True) as conn:
        champion = model_store.champion(conn, inactivity.MODEL_NAME)
        assert champion is not None and champion.version == run.version
        # Deterministic: the retrained version gives the champion's probabilities.
        retrained = model_store.latest(conn, inactivity.MODEL_NAME)
        assert retrained is not None and retrained.version == second.version
        again = inactivity.predict_quiet(retrained.estimator(), holdout.frame.values)
        assert np.array_equal(again, stored)


@pytest.mark.parametrize("day_step", [1, 2])
def test_labels_equal_an_independent_computation_from_the_raw_rows(with_tastes, day_step):
    w = inactivity.windows(day_of(DAYS - 1), HORIZON, HOLDOUT, TRAIN)
    with psycopg.connect(with_tastes, autocommit=True) as conn:
        dataset = inactivity.load(conn, w.train_first, w.train_last, HORIZON, TZ, day_step)
        active = {
            (user, local_day)
            for user, local_day in conn.execute(
                "SELECT DISTINCT user_id, (occurred_at AT TIME ZONE %s)::date"
                " FROM raw.transactions WHERE status = 'SUCCESS'",
                (TZ,),
            )
        }
        every_day = features.read_days(conn, w.train_first, w.train_last)
    wanted = {d for d in every_day.days if (w.train_last - d).days % day_step == 0}
    assert sorted(set(dataset.frame.days)) == sorted(wanted)
    assert len(dataset.labels) == sum(d in wanted for d in every_day.days)
    expected = [
        all((user, day + timedelta(days=k)) not in active for k in range(1, HORIZON + 1))
        for day, user in zip(dataset.frame.days, dataset.frame.user_ids, strict=True)
    ]
    assert dataset.labels.tolist() == expected
    assert 0 < sum(expected) < len(expected)


def test_on_a_world_without_tastes_the_model_is_not_accepted(without_tastes):
    run = train(without_tastes)
    assert 0.0 < run.evaluation.quiet_share < 1.0
    assert not run.accepted
    with psycopg.connect(without_tastes, autocommit=True) as conn:
        assert model_store.champion(conn, inactivity.MODEL_NAME) is None
        latest = model_store.latest(conn, inactivity.MODEL_NAME)
        assert latest is not None and not latest.accepted


def test_the_blocking_check_fails_a_model_that_does_not_beat_recency(without_tastes, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", without_tastes)
    run_config = {
        "ops": {
            "ml__inactivity_model": {
                "config": {
                    "last_day": day_of(DAYS - 1).isoformat(),
                    "horizon_days": HORIZON,
                    "holdout_days": HOLDOUT,
                    "train_days": TRAIN,
                }
            }
        }
    }
    result = materialize([inactivity_model], run_config=run_config, raise_on_error=False)
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == BEATS_BASELINE_CHECK
    assert not check.passed and check.severity is AssetCheckSeverity.ERROR
    [materialization] = result.asset_materializations_for_node("ml__inactivity_model")
    metadata = materialization.metadata
    # Numeric values, so that Dagster plots them across materializations.
    assert isinstance(metadata["auc"].value, float)
    assert isinstance(metadata["baseline_auc"].value, float)
    with psycopg.connect(without_tastes, autocommit=True) as conn:
        assert model_store.champion(conn, inactivity.MODEL_NAME) is None


def stored_recommendations(conn: psycopg.Connection, day: date) -> list[tuple]:
    return conn.execute(
        "SELECT id, user_id, type, description, priority, score, reason, model_name,"
        " model_version, created_at, expires_at FROM recommendations.daily"
        " WHERE day = %s ORDER BY id",
        (day,),
    ).fetchall()


def test_without_a_champion_the_recency_rule_scores_and_a_rerun_replaces_the_day(
    without_tastes,
):
    day = inactivity.windows(day_of(DAYS - 1), HORIZON, HOLDOUT, TRAIN).holdout_last
    with psycopg.connect(without_tastes, autocommit=True) as conn:
        assert model_store.champion(conn, inactivity.MODEL_NAME) is None
        report = scoring.score_inactivity(conn, day, TZ)
        assert report.fallback and report.model_name == scoring.BASELINE_MODEL_NAME
        first = stored_recommendations(conn, day)
        assert len(first) == report.written > 0
        assert {row[7] for row in first} == {scoring.BASELINE_MODEL_NAME}
        # Every reminded user has been quiet for at least the horizon (score >= 0.5).
        assert min(row[6]["recency_days"] for row in first) >= inactivity.HORIZON_DAYS
        scoring.score_inactivity(conn, day, TZ)
        assert stored_recommendations(conn, day) == first


def test_with_a_champion_its_probabilities_score_the_day(with_tastes):
    day = inactivity.windows(day_of(DAYS - 1), HORIZON, HOLDOUT, TRAIN).holdout_last
    with psycopg.connect(with_tastes, autocommit=True) as conn:
        champion = model_store.champion(conn, inactivity.MODEL_NAME)
        champion_version = train(with_tastes).version if champion is None else champion.version
        report = scoring.score_inactivity(conn, day, TZ)
        assert (report.model_name, report.model_version, report.fallback) == (
            inactivity.MODEL_NAME,
            champion_version,
            "",
        )
        rows = stored_recommendations(conn, day)
        assert rows and all(row[5] >= scoring.REMIND_THRESHOLD for row in rows)
        assert all(row[8] == champion_version for row in rows)


@pytest.mark.parametrize("statement", ["SELECT count(*) FROM ml.models", "DELETE FROM ml.models"])
def test_the_api_role_can_neither_read_nor_write_the_model_store(without_tastes, statement):
    with psycopg.connect(without_tastes) as conn:
        conn.execute("SET ROLE analytics_api")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_the_daily_asset_says_when_the_baseline_rule_scored(without_tastes, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", without_tastes)
    day = inactivity.windows(day_of(DAYS - 1), HORIZON, HOLDOUT, TRAIN).holdout_last
    result = materialize([daily_recommendations], partition_key=day.isoformat())
    [materialization] = result.asset_materializations_for_node("recommendations__daily")
    metadata = materialization.metadata
    assert metadata["model_name"].value == scoring.BASELINE_MODEL_NAME
    assert "no accepted inactivity model" in metadata["fallback"].value
    with psycopg.connect(without_tastes, autocommit=True) as conn:
        stored = stored_recommendations(conn, day)
        assert len(stored) == metadata["dagster/row_count"].value
    # Rows written per rule type, as the table holds them.
    for kind in ("SPENDING_TREND", "SAVINGS_GOAL", "INVESTMENT"):
        assert metadata[f"rows_{kind}"].value == sum(row[2] == kind for row in stored)
