"""BUDGET_ALERT: a forecast of each user's month-end spending per (category, currency),
and an alert when it exceeds the user's usual month by a margin.

Rows: one per cut day C (the last day whose events are seen, in REPORTING_TIMEZONE) and
(user, category, currency) where the user spent in at least `min_habit_months` of the
`history_months` complete months before C's month (a habit: "usual" needs a history).
Spending is successful PAYMENT and BILL_PAYMENT amounts; currencies are never summed.
`usual` is the mean of those months (zeros included).

Every model works in units of the row's own usual month, so that rows in IDR, USD or
SGD are comparable without converting anything, and every error is "how many usual
months off": the forecast is spent_so_far + usual x predicted remaining ratio.
- Model: HistGradientBoostingRegressor of the remaining ratio (month-end - so far) /
  usual on the inputs of `model_inputs` (the month so far, the usual month, how much of
  it is usually spent by this day of the month, last month, counts).
- Baseline ("linear extrapolation of the month so far"): remaining days x a daily pace.
  The naive rule takes the month-so-far pace as is (forecast = so far x days in month /
  days elapsed); it is noisy early in the month, and any regressor beats it just by
  learning the population's pace, which says nothing about users' habits. The baseline
  that acceptance is measured against therefore fits the pace on the training months
  (least absolute deviations, as the model's loss): a blend of the month-so-far pace and
  the usual pace, with weights linear in the elapsed share of the month
  (`BASELINE_TERMS`). On a world without habits it is about as good as a model gets;
  the model must earn its place with what the user's history says beyond pace (when in
  the month the user spends). The naive rule's MAE is reported beside both
  (`naive_mae`).

Time-based holdout, for data complete up to the end of `last_day`: the holdout is the
last `holdout_months` complete months, training the `train_months` months before them;
in each holdout month the cuts are `CUT_DAYS`, in each training month `TRAIN_CUT_DAYS`
(every second of them: features read only events up to the cut), the outcome is the
month's actual spending. Accepted when the lower end of the 95 %
user-level bootstrap interval of the relative MAE reduction over the fitted baseline,
and over the current champion, exceeds `MIN_MAE_GAIN`. Alert precision and recall
(alert: forecast > usual x (1 + margin); truth: the month's actual spending did) are
reported beside the baseline's and the naive rule's. Nothing here reads the generator's
ground truth.
"""

from __future__ import annotations

import bisect
import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import psycopg
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from analytics_platform.ml import model_store
from analytics_platform.ml.evaluation import MaeGain, mae_gain
from analytics_platform.resources.warehouse import read_sql, run_sql_file

MODEL_NAME = "budget"
BASELINE_MODEL_NAME = "baseline:linear_extrapolation"
HISTORY_MONTHS = 3
MIN_HABIT_MONTHS = 2
TRAIN_MONTHS = 3
HOLDOUT_MONTHS = 1
ALERT_MARGIN = 0.25
# The smallest training the model allows, for short histories (the demo's, the
# benchmark's 90 days): one month of history before each of one training month and one
# holdout month, all complete; `train_and_store(..., **SMALLEST_TRAINING)`.
SMALLEST_TRAINING = {
    "train_months": 1,
    "holdout_months": 1,
    "history_months": 1,
    "min_habit_months": 1,
}
# Cut days within each month for evaluation (scoring cuts at any day).
CUT_DAYS = (3, 7, 11, 15, 19, 23, 27)
# Cut days of the training months: every second of CUT_DAYS, still from the month's
# start to its end. A user's rows at neighbouring cuts share most of their month so far;
# at 20,000 users the holdout MAE stayed 0.6495 (baseline 0.6251 -> 0.6241) while the
# training's feature query took two thirds of the backend CPU and the rows fell from
# 458k (sampled to MAX_TRAIN_ROWS) to 261k (issue 14's training profile).
TRAIN_CUT_DAYS = (3, 11, 19, 27)
# The smallest relative MAE reduction worth a model (lower end of the bootstrap interval).
MIN_MAE_GAIN = 0.02
HGB_PARAMETERS: dict[str, Any] = {
    "loss": "absolute_error",
    "max_iter": 200,
    "learning_rate": 0.05,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "random_state": 14,
}
# The baseline's pace terms (times the remaining days): month-so-far pace, usual pace,
# each also times the elapsed share of the month. Naive extrapolation is (1, 0, 0, 0).
BASELINE_TERMS = ("pace", "pace_x_elapsed", "usual_pace", "usual_pace_x_elapsed")
NAIVE_COEFFICIENTS = (1.0, 0.0, 0.0, 0.0)
# Training rows above this are a deterministic sample of whole users (fit time grows with
# rows; 200,000 users give millions of (cut, category) rows).
MAX_TRAIN_ROWS = 400_000
SAMPLE_SEED = 14
LAD_ITERATIONS = 50
LAD_EPSILON = 1e-6

# (column, type, meaning): the feature rows of budget_features.sql.
FEATURE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("days_elapsed", "integer", "day of the month of the cut (days seen)"),
    ("days_in_month", "integer", "days in the cut's month"),
    ("spent_so_far", "double", "spending from the month's first day to the cut"),
    ("tx_so_far", "integer", "payments in the month up to the cut"),
    ("usual", "double", "mean monthly spending over the history months"),
    ("usual_tx", "double", "mean monthly payments over the history months"),
    ("usual_by_day", "double", "mean spending up to this day of the month, history months"),
    ("last_month", "double", "spending in the month before the cut's month"),
    ("habit_months", "integer", "history months with spending"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _, _ in FEATURE_COLUMNS)
MODEL_INPUTS = (
    "elapsed_share",
    "days_left",
    "so_far_ratio",
    "naive_ratio",
    "usual_by_day_share",
    "ahead_of_usual",
    "last_month_ratio",
    "tx_so_far",
    "usual_tx",
    "habit_months",
)
_F = {name: index for index, name in enumerate(FEATURE_NAMES)}


class NotEnoughHistoryError(ValueError):
    """The loaded history is too short for the months asked for."""


@dataclass(frozen=True)
class BudgetFrame:
    """Feature rows: parallel keys and a float64 matrix (columns FEATURE_NAMES), ordered
    by (cut day, user, category, currency)."""

    cut_days: list[date]
    user_ids: list[str]
    categories: list[str]
    currencies: list[str]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)

    def column(self, name: str) -> np.ndarray:
        return self.values[:, _F[name]]


def read_features(
    conn: psycopg.Connection,
    cuts: list[date],
    tz: str,
    history_months: int = HISTORY_MONTHS,
    min_habit_months: int = MIN_HABIT_MONTHS,
) -> BudgetFrame:
    """The feature rows as of the end of each cut day (events up to then only)."""
    if not 1 <= min_habit_months <= history_months:
        # "usual" must be positive: every model works in multiples of it.
        raise ValueError(
            f"min_habit_months={min_habit_months}, history_months={history_months}: "
            "need 1 <= min_habit_months <= history_months"
        )
    # Binary: float8 columns decode in about half the CPU of their text.
    with conn.cursor(binary=True) as cursor:
        rows = cursor.execute(
            read_sql("ml/budget_features.sql"),
            {
                "cuts": cuts,
                "tz": tz,
                "history_months": history_months,
                "min_habit_months": min_habit_months,
            },
        ).fetchall()
    values = np.array([row[4:] for row in rows], dtype=np.float64).reshape(
        len(rows), len(FEATURE_NAMES)
    )
    return BudgetFrame(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        values,
    )


class FeatureReader(Protocol):
    """`read_features`'s signature: the training reads its cuts through one (the daily
    rows' `budget_day_spend.read_features_at_cuts` in the job, which builds on this
    module)."""

    def __call__(
        self,
        conn: psycopg.Connection,
        cuts: list[date],
        tz: str,
        history_months: int,
        min_habit_months: int,
    ) -> BudgetFrame: ...


def read_outcomes(conn: psycopg.Connection, frame: BudgetFrame, tz: str) -> np.ndarray:
    """Each row's actual spending over its whole month (0 when nothing was spent)."""
    # Each distinct cut's month once: date.replace per row was most of this function's
    # CPU at 20,000 users (issue 14's training profile).
    month_of = {cut: cut.replace(day=1) for cut in set(frame.cut_days)}
    months = sorted(set(month_of.values()))
    spent = {
        (month, user, category, currency): float(amount)
        for month, user, category, currency, amount in run_sql_file(
            conn, "ml/budget_outcomes.sql", {"months": months, "tz": tz}
        )
    }
    return np.array(
        [
            spent.get((month_of[cut], user, category, currency), 0.0)
            for cut, user, category, currency in zip(
                frame.cut_days, frame.user_ids, frame.categories, frame.currencies, strict=True
            )
        ],
        dtype=np.float64,
    )


def model_inputs(values: np.ndarray) -> np.ndarray:
    """The regressor's inputs (MODEL_INPUTS), all in units of the row's usual month."""
    elapsed, days = values[:, _F["days_elapsed"]], values[:, _F["days_in_month"]]
    usual = values[:, _F["usual"]]
    so_far = values[:, _F["spent_so_far"]] / usual
    by_day = values[:, _F["usual_by_day"]] / usual
    return np.column_stack(
        [
            elapsed / days,
            days - elapsed,
            so_far,
            so_far * days / elapsed,
            by_day,
            so_far - by_day,
            values[:, _F["last_month"]] / usual,
            values[:, _F["tx_so_far"]],
            values[:, _F["usual_tx"]],
            values[:, _F["habit_months"]],
        ]
    )


def baseline_terms(values: np.ndarray) -> np.ndarray:
    """BASELINE_TERMS, in usual months: remaining days x each pace term."""
    elapsed, days = values[:, _F["days_elapsed"]], values[:, _F["days_in_month"]]
    left, share = days - elapsed, elapsed / days
    pace = values[:, _F["spent_so_far"]] / values[:, _F["usual"]] / elapsed
    usual_pace = 1.0 / days
    return np.column_stack(
        [left * pace, left * pace * share, left * usual_pace, left * usual_pace * share]
    )


def forecast_from_ratio(values: np.ndarray, remaining_ratio: np.ndarray) -> np.ndarray:
    """Month-end spending in the row's currency: so far + usual x the remaining ratio."""
    return values[:, _F["spent_so_far"]] + values[:, _F["usual"]] * np.maximum(0.0, remaining_ratio)


def baseline_forecast(values: np.ndarray, coefficients: tuple[float, ...]) -> np.ndarray:
    """The baseline rule's month-end forecast (NAIVE_COEFFICIENTS: plain extrapolation)."""
    return forecast_from_ratio(values, baseline_terms(values) @ np.asarray(coefficients))


def predict(model: HistGradientBoostingRegressor, values: np.ndarray) -> np.ndarray:
    """The model's month-end forecast in the row's currency."""
    if len(values) == 0:
        return np.zeros(0)
    with threadpool_limits(limits=1, user_api="openmp"):
        return forecast_from_ratio(values, model.predict(model_inputs(values)))


def alerts(values: np.ndarray, forecast: np.ndarray, margin: float) -> np.ndarray:
    """Whether a forecast (or an actual month) exceeds the usual month by the margin."""
    return forecast > values[:, _F["usual"]] * (1.0 + margin)


def month_cuts(month: date, cut_days: tuple[int, ...] = CUT_DAYS) -> list[date]:
    last = calendar.monthrange(month.year, month.month)[1]
    return [month.replace(day=d) for d in cut_days if d < last]


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Windows:
    """First days of the training and holdout months (inclusive, in order)."""

    train_months: tuple[date, ...]
    holdout_months: tuple[date, ...]

    def as_tuple(self) -> tuple[date, date, date, date]:
        """(train first day, train last day, holdout first day, holdout last day)."""
        return (
            self.train_months[0],
            add_months(self.train_months[-1], 1) - timedelta(days=1),
            self.holdout_months[0],
            add_months(self.holdout_months[-1], 1) - timedelta(days=1),
        )


def windows(last_day: date, train_months: int, holdout_months: int) -> Windows:
    """The months for data complete up to the end of `last_day`: the holdout is the last
    `holdout_months` complete months, training the `train_months` before them."""
    if train_months < 1 or holdout_months < 1:
        raise ValueError(
            f"train_months={train_months}, holdout_months={holdout_months}: both must be >= 1"
        )
    next_month = add_months(last_day.replace(day=1), 1)
    # The first day after the last complete month.
    end = next_month if last_day == next_month - timedelta(days=1) else last_day.replace(day=1)
    holdout = tuple(add_months(end, -k) for k in range(holdout_months, 0, -1))
    train = tuple(add_months(holdout[0], -k) for k in range(train_months, 0, -1))
    return Windows(train, holdout)


@dataclass(frozen=True)
class Dataset:
    frame: BudgetFrame
    outcomes: np.ndarray  # the month's actual spending, row currency


def load(
    conn: psycopg.Connection,
    months: tuple[date, ...],
    tz: str,
    history_months: int = HISTORY_MONTHS,
    min_habit_months: int = MIN_HABIT_MONTHS,
    cut_days: tuple[int, ...] = CUT_DAYS,
) -> Dataset:
    """Feature rows at every cut (`cut_days`) of `months` (complete months) with their
    outcomes."""
    cuts = [cut for month in months for cut in month_cuts(month, cut_days)]
    frame = read_features(conn, cuts, tz, history_months, min_habit_months)
    return Dataset(frame, read_outcomes(conn, frame, tz))


def _head(frame: BudgetFrame, stop: int) -> BudgetFrame:
    return BudgetFrame(
        frame.cut_days[:stop],
        frame.user_ids[:stop],
        frame.categories[:stop],
        frame.currencies[:stop],
        frame.values[:stop],
    )


def _tail(frame: BudgetFrame, start: int) -> BudgetFrame:
    return BudgetFrame(
        frame.cut_days[start:],
        frame.user_ids[start:],
        frame.categories[start:],
        frame.currencies[start:],
        frame.values[start:],
    )


def load_windows(
    conn: psycopg.Connection,
    w: Windows,
    tz: str,
    history_months: int = HISTORY_MONTHS,
    min_habit_months: int = MIN_HABIT_MONTHS,
    read: FeatureReader = read_features,
) -> tuple[Dataset, Dataset]:
    """(training, holdout): the rows `load` gives for the training months at
    TRAIN_CUT_DAYS and for the holdout months at CUT_DAYS, the same rows in the same
    order, from one feature query and one outcome query (the raw days both need read
    once: about a tenth of the backend CPU of two loads at 20,000 users), read by `read`
    (the raw rows' query by default). Every row still reads only events up to its cut."""
    train_cuts = [cut for month in w.train_months for cut in month_cuts(month, TRAIN_CUT_DAYS)]
    holdout_cuts = [cut for month in w.holdout_months for cut in month_cuts(month)]
    frame = read(conn, train_cuts + holdout_cuts, tz, history_months, min_habit_months)
    outcomes = read_outcomes(conn, frame, tz)
    # Rows come ordered by cut day, and every holdout cut is after every training cut.
    split = bisect.bisect_left(frame.cut_days, w.holdout_months[0])
    return (
        Dataset(_head(frame, split), outcomes[:split]),
        Dataset(_tail(frame, split), outcomes[split:]),
    )


@dataclass(frozen=True)
class Trained:
    """The artifact stored in ml.models: the regressor and the fitted baseline."""

    model: HistGradientBoostingRegressor
    baseline_coefficients: tuple[float, ...]
    rows: int


def remaining_ratio(dataset: Dataset) -> np.ndarray:
    values = dataset.frame.values
    return (dataset.outcomes - values[:, _F["spent_so_far"]]) / values[:, _F["usual"]]


def least_absolute_deviations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients minimizing sum |y - x b| (the median's regression, as the model's
    absolute-error loss), by iteratively reweighted least squares: a few milliseconds
    where sklearn's QuantileRegressor (a linear program) took seconds for 10k rows."""
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    for _ in range(LAD_ITERATIONS):
        weights = np.sqrt(1.0 / np.maximum(np.abs(y - x @ coefficients), LAD_EPSILON))
        coefficients, *_ = np.linalg.lstsq(x * weights[:, None], y * weights, rcond=None)
    return coefficients


def user_sample(user_ids: list[str], max_rows: int) -> np.ndarray:
    """A row mask keeping every row of a seeded random subset of users, at most `max_rows`
    rows in all (all rows when they fit)."""
    users, index, counts = np.unique(np.array(user_ids), return_inverse=True, return_counts=True)
    order = np.random.default_rng(SAMPLE_SEED).permutation(len(users))
    keep = np.zeros(len(users), dtype=bool)
    keep[order[np.cumsum(counts[order]) <= max_rows]] = True
    return keep[index]


def train(dataset: Dataset, max_rows: int = MAX_TRAIN_ROWS) -> Trained:
    """Fit the regressor and the baseline's pace on the training rows (a sample of whole
    users when there are more than `max_rows`)."""
    if len(dataset.frame) < 2 * HGB_PARAMETERS["min_samples_leaf"]:
        raise NotEnoughHistoryError(
            f"{len(dataset.frame)} training rows: load more history (each training month "
            "needs its history months before it) or lower history_months"
        )
    x, y = dataset.frame.values, remaining_ratio(dataset)
    if len(y) > max_rows:
        sample = user_sample(dataset.frame.user_ids, max_rows)
        x, y = x[sample], y[sample]
    # One thread (OpenMP and BLAS): on a shared host the default (all cores) spins, and
    # the weekly training fits three models at once on two cores; see inactivity.py.
    with threadpool_limits(limits=1):
        coefficients = least_absolute_deviations(baseline_terms(x), y)
        model = HistGradientBoostingRegressor(**HGB_PARAMETERS).fit(model_inputs(x), y)
    return Trained(model, tuple(float(c) for c in coefficients), len(y))


@dataclass(frozen=True)
class AlertQuality:
    precision: float
    recall: float
    alerts: int


def alert_quality(predicted: np.ndarray, truth: np.ndarray) -> AlertQuality:
    hits = int((predicted & truth).sum())
    return AlertQuality(
        precision=hits / int(predicted.sum()) if predicted.any() else 0.0,
        recall=hits / int(truth.sum()) if truth.any() else 0.0,
        alerts=int(predicted.sum()),
    )


@dataclass(frozen=True)
class Evaluation:
    against_baseline: MaeGain
    against_champion: MaeGain | None
    naive_mae: float
    model_alerts: AlertQuality
    baseline_alerts: AlertQuality
    naive_alerts: AlertQuality
    rows: int
    truth_share: float

    def accepted(self, min_gain: float = MIN_MAE_GAIN) -> bool:
        champion_ok = self.against_champion is None or self.against_champion.beats(min_gain)
        return self.against_baseline.beats(min_gain) and champion_ok

    def metrics(self) -> dict[str, float]:
        metrics = {
            "mae": self.against_baseline.mae,
            "baseline_mae": self.against_baseline.reference_mae,
            "naive_mae": self.naive_mae,
            "mae_gain_low": self.against_baseline.gain_low,
            "mae_gain_high": self.against_baseline.gain_high,
            "precision": self.model_alerts.precision,
            "baseline_precision": self.baseline_alerts.precision,
            "naive_precision": self.naive_alerts.precision,
            "recall": self.model_alerts.recall,
            "baseline_recall": self.baseline_alerts.recall,
            "naive_recall": self.naive_alerts.recall,
            "holdout_rows": float(self.rows),
            "holdout_truth_share": self.truth_share,
        }
        if self.against_champion is not None:
            metrics["champion_mae"] = self.against_champion.reference_mae
            metrics["champion_gain_low"] = self.against_champion.gain_low
        return metrics


def evaluate(
    trained: Trained, holdout: Dataset, champion: Trained | None, margin: float
) -> Evaluation:
    """The model on the holdout, beside the fitted baseline, the naive rule and the
    champion. Errors are in usual months (|forecast - actual| / usual)."""
    if len(holdout.frame) == 0:
        raise NotEnoughHistoryError("the holdout has no rows: load more history")
    x, actual = holdout.frame.values, holdout.outcomes
    usual = x[:, _F["usual"]]
    users = np.array(holdout.frame.user_ids)

    def errors(forecast: np.ndarray) -> np.ndarray:
        return np.abs(forecast - actual) / usual

    forecast = predict(trained.model, x)
    baseline = baseline_forecast(x, trained.baseline_coefficients)
    naive = baseline_forecast(x, NAIVE_COEFFICIENTS)
    truth = alerts(x, actual, margin)
    champion_gain = None
    if champion is not None:
        champion_gain = mae_gain(errors(forecast), errors(predict(champion.model, x)), users)
    return Evaluation(
        against_baseline=mae_gain(errors(forecast), errors(baseline), users),
        against_champion=champion_gain,
        naive_mae=float(errors(naive).mean()),
        model_alerts=alert_quality(alerts(x, forecast, margin), truth),
        baseline_alerts=alert_quality(alerts(x, baseline, margin), truth),
        naive_alerts=alert_quality(alerts(x, naive, margin), truth),
        rows=len(actual),
        truth_share=float(truth.mean()),
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
    train_months: int = TRAIN_MONTHS,
    holdout_months: int = HOLDOUT_MONTHS,
    history_months: int = HISTORY_MONTHS,
    min_habit_months: int = MIN_HABIT_MONTHS,
    margin: float = ALERT_MARGIN,
    read: FeatureReader = read_features,
) -> TrainingRun:
    """Train on the training months, evaluate on the holdout months against the fitted
    baseline and the current champion, and store the version with its verdict; the
    feature rows read by `read` (the weekly job's: `budget_day_spend.read_features_at_cuts`,
    the same rows from the daily rows)."""
    w = windows(last_day, train_months, holdout_months)
    training, holdout = load_windows(conn, w, tz, history_months, min_habit_months, read)
    trained = train(training)
    current = model_store.champion(conn, MODEL_NAME)
    evaluation = evaluate(trained, holdout, current.estimator() if current else None, margin)
    accepted = evaluation.accepted()
    parameters = {
        **HGB_PARAMETERS,
        "inputs": list(MODEL_INPUTS),
        "history_months": history_months,
        "min_habit_months": min_habit_months,
        "cut_days": list(CUT_DAYS),
        "train_cut_days": list(TRAIN_CUT_DAYS),
        "alert_margin": margin,
        "baseline_terms": list(BASELINE_TERMS),
        "baseline_coefficients": list(trained.baseline_coefficients),
        "min_mae_gain": MIN_MAE_GAIN,
    }
    data_seen = {
        "train_rows": trained.rows,
        "train_rows_available": len(training.frame),
        "holdout_rows": evaluation.rows,
        "train_users": len(set(training.frame.user_ids)),
        "train_currencies": sorted(set(training.frame.currencies)),
        "champion_version": current.version if current else None,
    }
    version = model_store.save(
        conn,
        MODEL_NAME,
        trained,
        w.as_tuple(),
        parameters,
        evaluation.metrics(),
        data_seen,
        accepted,
    )
    return TrainingRun(version, w, evaluation, accepted, parameters, data_seen)
