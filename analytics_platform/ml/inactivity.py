"""INACTIVITY_REMINDER: the probability that a user makes no successful transaction in the
next `horizon_days` days, from ml.user_features.

Model: HistGradientBoostingClassifier on every feature, then calibrated on later days
than it was fitted on (sigmoid below `ISOTONIC_MIN_SAMPLES` calibration rows, where
isotonic regression overfits; isotonic above). Baseline: recency alone (a logistic
regression on log(1 + recency_days), so that it has probabilities for the Brier score;
its AUC is that of recency itself).

Time-based holdout, from the last day `last_day` whose events are all loaded:
- labelled days: D with D + horizon <= last_day (their outcome is known);
- holdout: the last `holdout_days` labelled days;
- training: the `train_days` days ending `horizon_days` before the holdout starts, so no
  training label reads an event of the holdout's feature days; of them every
  `TRAIN_DAY_STEP`-th day counted back from the last is read (consecutive days of a user
  are nearly the same row); the last `CALIBRATION_SHARE` of those (by day) calibrate,
  the others fit.
Nothing here reads the generator's ground truth: only features as of each day and
outcomes after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import psycopg
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from threadpoolctl import threadpool_limits

from analytics_platform.ml import features, model_store
from analytics_platform.ml.evaluation import AucGain, auc_gain
from analytics_platform.resources.warehouse import run_sql_file

MODEL_NAME = "inactivity"
# The scheduled training's windows: quiet = no successful transaction in 14 days;
# a week of holdout days; four weeks of training days.
HORIZON_DAYS = 14
HOLDOUT_DAYS = 7
TRAIN_DAYS = 28
ISOTONIC_MIN_SAMPLES = 1_000
CALIBRATION_SHARE = 0.3
# The smallest AUC gain over the baseline (and the champion) worth a model (lower end of
# the bootstrap interval, see evaluation.py).
MIN_AUC_GAIN = 0.005
# Every TRAIN_DAY_STEP-th training day, counted back from the last: a user's rows on
# consecutive days differ by a day's events, so every second day halves the label query,
# the fit and the calibration for the same holdout AUC (issue 14's training profile at
# 20,000 users: 0.8954 with every day, 0.8964 with every second; every fourth lost 0.01).
TRAIN_DAY_STEP = 2
# 100 rounds at rate 0.1 in place of 200 at 0.05: the same holdout AUC at 20,000 users
# (0.8964 against 0.8963) for half the fit and prediction. No early stopping: sklearn's
# "auto" turned it on above 10,000 rows only, holding out a tenth of the rows and scoring
# them every round (it never stopped before 190 rounds there), so that small and large
# worlds fitted differently.
HGB_PARAMETERS: dict[str, Any] = {
    "max_iter": 100,
    "learning_rate": 0.1,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": False,
    "random_state": 14,
}
RECENCY = features.FEATURE_NAMES.index("recency_days")


class NotEnoughHistoryError(ValueError):
    """The loaded history is too short for the training window and holdout asked for."""


@dataclass(frozen=True)
class Windows:
    """The day ranges of one training (inclusive bounds)."""

    train_first: date
    train_last: date
    holdout_first: date
    holdout_last: date

    def as_tuple(self) -> tuple[date, date, date, date]:
        return (self.train_first, self.train_last, self.holdout_first, self.holdout_last)


def windows(last_day: date, horizon_days: int, holdout_days: int, train_days: int) -> Windows:
    """The training and holdout days for data complete up to the end of `last_day`."""
    holdout_last = last_day - timedelta(days=horizon_days)
    holdout_first = holdout_last - timedelta(days=holdout_days - 1)
    train_last = holdout_first - timedelta(days=horizon_days + 1)
    return Windows(
        train_last - timedelta(days=train_days - 1), train_last, holdout_first, holdout_last
    )


@dataclass(frozen=True)
class Dataset:
    frame: features.FeatureFrame
    labels: np.ndarray  # bool: quiet over the horizon


def load(
    conn: psycopg.Connection,
    first_day: date,
    last_day: date,
    horizon_days: int,
    tz: str,
    day_step: int = 1,
) -> Dataset:
    """Feature rows of [first_day, last_day] with their outcomes (features must exist):
    the days a multiple of `day_step` days before `last_day` (1: every day)."""
    frame = features.read_days(conn, first_day, last_day, day_step)
    rows = run_sql_file(
        conn,
        "ml/inactivity_labels.sql",
        {
            "first_day": first_day,
            "last_day": last_day,
            "horizon_days": horizon_days,
            "tz": tz,
            "day_step": day_step,
        },
    ).fetchall()
    if [(r[0], r[1]) for r in rows] != list(zip(frame.days, frame.user_ids, strict=True)):
        raise RuntimeError("labels and features disagree on rows: a day was rebuilt meanwhile")
    return Dataset(frame, np.array([r[2] for r in rows], dtype=bool))


def baseline_inputs(values: np.ndarray) -> np.ndarray:
    return np.log1p(values[:, [RECENCY]])


@dataclass(frozen=True)
class Trained:
    model: CalibratedClassifierCV
    baseline: LogisticRegression
    calibration: str
    fit_rows: int
    calibration_rows: int


def train(train: Dataset) -> Trained:
    """Fit the model and the baseline on the training days (see the module docstring)."""
    days = sorted(set(train.frame.days))
    if len(days) < 2 or len(np.unique(train.labels)) < 2:
        raise NotEnoughHistoryError(
            f"{len(days)} training days with {int(train.labels.sum())} quiet users of "
            f"{len(train.labels)}: load more history or shorten the training window"
        )
    split_day = days[max(1, int(len(days) * (1 - CALIBRATION_SHARE)))]
    fit = np.array([d < split_day for d in train.frame.days])
    x, y = train.frame.values, train.labels
    # One OpenMP thread for fitting, calibrating and predicting: on a shared host the
    # default (all cores) spins and measured 30x slower; these models fit on one core.
    with threadpool_limits(limits=1, user_api="openmp"):
        booster = HistGradientBoostingClassifier(**HGB_PARAMETERS).fit(x[fit], y[fit])
        calibration_rows = int((~fit).sum())
        method = "isotonic" if calibration_rows >= ISOTONIC_MIN_SAMPLES else "sigmoid"
        model = CalibratedClassifierCV(FrozenEstimator(booster), method=method)
        model.fit(x[~fit], y[~fit])
        baseline = LogisticRegression().fit(baseline_inputs(x), y)
    return Trained(model, baseline, method, int(fit.sum()), calibration_rows)


@dataclass(frozen=True)
class Evaluation:
    against_baseline: AucGain
    against_champion: AucGain | None
    brier: float
    baseline_brier: float
    rows: int
    quiet_share: float

    def accepted(self, min_gain: float = MIN_AUC_GAIN) -> bool:
        """Whether the model beats the baseline and, if there is one, the champion."""
        champion_ok = self.against_champion is None or self.against_champion.beats(min_gain)
        return self.against_baseline.beats(min_gain) and champion_ok

    def metrics(self) -> dict[str, float]:
        metrics = {
            "auc": self.against_baseline.auc,
            "baseline_auc": self.against_baseline.reference_auc,
            "auc_gain_low": self.against_baseline.gain_low,
            "auc_gain_high": self.against_baseline.gain_high,
            "brier": self.brier,
            "baseline_brier": self.baseline_brier,
            "holdout_rows": float(self.rows),
            "holdout_quiet_share": self.quiet_share,
        }
        if self.against_champion is not None:
            metrics["champion_auc"] = self.against_champion.reference_auc
            metrics["champion_gain_low"] = self.against_champion.gain_low
        return metrics


def predict_quiet(model: Any, values: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of going quiet."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return model.predict_proba(values)[:, 1]


def evaluate(trained: Trained, holdout: Dataset, champion: Any | None) -> Evaluation:
    """The trained model on the holdout, beside the baseline and the champion model."""
    x, y = holdout.frame.values, holdout.labels
    if len(np.unique(y)) < 2:
        raise NotEnoughHistoryError(
            f"the holdout has {len(y)} rows, all {'quiet' if y.all() else 'active'}: "
            "no AUC can be measured; widen the holdout"
        )
    users = np.array(holdout.frame.user_ids)
    scores = predict_quiet(trained.model, x)
    baseline_scores = trained.baseline.predict_proba(baseline_inputs(x))[:, 1]
    champion_gain = None
    if champion is not None:
        champion_gain = auc_gain(y, scores, predict_quiet(champion, x), users)
    return Evaluation(
        against_baseline=auc_gain(y, scores, baseline_scores, users),
        against_champion=champion_gain,
        brier=float(brier_score_loss(y, scores)),
        baseline_brier=float(brier_score_loss(y, baseline_scores)),
        rows=len(y),
        quiet_share=float(y.mean()),
    )


@dataclass(frozen=True)
class TrainingRun:
    """One stored training: its version, windows, evaluation and verdict."""

    version: int
    windows: Windows
    evaluation: Evaluation
    accepted: bool
    parameters: dict[str, Any]
    data_seen: dict[str, Any]


def train_and_store(
    conn: psycopg.Connection,
    last_day: date,
    tz: str,
    horizon_days: int,
    holdout_days: int,
    train_days: int,
) -> TrainingRun:
    """Train on the feature days before the holdout, evaluate on the holdout against the
    baseline and the current champion, and store the version with its verdict."""
    w = windows(last_day, horizon_days, holdout_days, train_days)
    training = load(conn, w.train_first, w.train_last, horizon_days, tz, TRAIN_DAY_STEP)
    holdout = load(conn, w.holdout_first, w.holdout_last, horizon_days, tz)
    trained = train(training)
    current = model_store.champion(conn, MODEL_NAME)
    evaluation = evaluate(trained, holdout, current.estimator() if current else None)
    accepted = evaluation.accepted()
    parameters = {
        **HGB_PARAMETERS,
        "features": list(features.FEATURE_NAMES),
        "horizon_days": horizon_days,
        "train_day_step": TRAIN_DAY_STEP,
        "calibration": trained.calibration,
        "min_auc_gain": MIN_AUC_GAIN,
    }
    data_seen = {
        "fit_rows": trained.fit_rows,
        "calibration_rows": trained.calibration_rows,
        "holdout_rows": evaluation.rows,
        "train_users": len(set(training.frame.user_ids)),
        "train_quiet_share": float(training.labels.mean()),
        "champion_version": current.version if current else None,
    }
    version = model_store.save(
        conn,
        MODEL_NAME,
        trained.model,
        w.as_tuple(),
        parameters,
        evaluation.metrics(),
        data_seen,
        accepted,
    )
    return TrainingRun(version, w, evaluation, accepted, parameters, data_seen)
