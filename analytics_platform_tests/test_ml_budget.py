"""BUDGET_ALERT: month-end forecasts evaluated on past months against linear extrapolation."""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest
from dagster import AssetCheckSeverity, materialize

from analytics_platform.assets.recommendations import (
    BEATS_BASELINE_CHECK,
    budget_model,
    daily_recommendations,
)
from analytics_platform.ml import budget, budget_alerts, budget_day_spend, daily, model_store
from analytics_platform.ml.evaluation import mae_gain
from analytics_platform.resources.warehouse import run_sql_file

from .conftest import PostgresCluster
from .ml_world import TZ, day_of, generated_world

# Four months (January to April in TZ): two of history before the training month
# (March), and April as the holdout.
DAYS = 120
HISTORY, TRAIN, HOLDOUT = 2, 1, 1
USERS, EVENTS_PER_DAY = 400, 600
LAST_DAY = day_of(DAYS - 1)
SCORED_DAY = date(2026, 4, 12)


def world(cluster: PostgresCluster, tastes: bool) -> Iterator[str]:
    with generated_world(
        cluster,
        DAYS,
        EVENTS_PER_DAY,
        USERS,
        tastes=tastes,
        topics=("transactions",),
        monthly_habits=True,
    ) as url:
        yield url


@pytest.fixture(scope="module")
def with_habits(postgres_cluster: PostgresCluster) -> Iterator[str]:
    yield from world(postgres_cluster, tastes=True)


@pytest.fixture(scope="module")
def without_habits(postgres_cluster: PostgresCluster) -> Iterator[str]:
    yield from world(postgres_cluster, tastes=False)


def train(url: str) -> budget.TrainingRun:
    with psycopg.connect(url, autocommit=True) as conn:
        return budget.train_and_store(
            conn, LAST_DAY, TZ, TRAIN, HOLDOUT, history_months=HISTORY, min_habit_months=2
        )


def test_windows_hold_out_the_last_complete_months():
    w = budget.windows(date(2026, 4, 30), train_months=3, holdout_months=1)
    assert w.holdout_months == (date(2026, 4, 1),)
    assert w.train_months == (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))
    # April is not complete before its last day.
    assert budget.windows(date(2026, 4, 29), 1, 2).holdout_months == (
        date(2026, 2, 1),
        date(2026, 3, 1),
    )
    first, last, holdout_first, holdout_last = w.as_tuple()
    assert (first, last, holdout_first, holdout_last) == (
        date(2026, 1, 1),
        date(2026, 3, 31),
        date(2026, 4, 1),
        date(2026, 4, 30),
    )


def test_the_mae_gain_interval_is_about_zero_for_equal_errors_and_a_half_for_halved():
    rng = np.random.default_rng(3)
    users = rng.integers(0, 200, 4000)
    errors = rng.exponential(1.0, 4000)
    same = mae_gain(errors, errors.copy(), users)
    assert same.gain_low == pytest.approx(0.0) and not same.beats(0.0)
    halved = mae_gain(errors / 2, errors, users)
    assert halved.gain_low == pytest.approx(0.5) and halved.beats(0.4)
    noisy = mae_gain(rng.permutation(errors), errors, users)
    assert noisy.gain_low < 0.0 < noisy.gain_high


def test_a_training_sample_keeps_whole_users_within_the_row_cap():
    user_ids = [f"u{i % 37}" for i in range(1000)]
    sample = budget.user_sample(user_ids, max_rows=400)
    kept = {u for u, keep in zip(user_ids, sample, strict=True) if keep}
    assert 300 < sample.sum() <= 400
    assert all(keep == (u in kept) for u, keep in zip(user_ids, sample, strict=True))
    assert (budget.user_sample(user_ids, 400) == sample).all()
    assert budget.user_sample(user_ids, 1000).all()


def reference_features(
    conn: psycopg.Connection, cut: date
) -> tuple[dict[tuple[str, str, str], tuple[float, ...]], dict[tuple[str, str, str], float]]:
    """budget_features.sql's rows for one cut and each key's month-end spending, computed
    from raw.transactions in Python: (user, category, currency) -> FEATURE_NAMES values."""
    zone = ZoneInfo(TZ)
    daily: dict[tuple[str, str, str], dict[date, list[float]]] = defaultdict(dict)
    for when, user, category, currency, amount in conn.execute(
        "SELECT occurred_at, user_id, category, currency, amount FROM raw.transactions"
        " WHERE status = 'SUCCESS' AND transaction_type IN ('PAYMENT', 'BILL_PAYMENT')"
    ):
        day = when.astimezone(zone).date()
        spent, count = daily[(user, category, currency)].get(day, [0.0, 0])
        daily[(user, category, currency)][day] = [spent + float(amount), count + 1]
    month = cut.replace(day=1)
    history = [budget.add_months(month, -k) for k in range(1, HISTORY + 1)]
    days_in_month = calendar.monthrange(cut.year, cut.month)[1]
    features, outcomes = {}, {}
    for key, days in daily.items():
        past = {d: v for d, v in days.items() if d.replace(day=1) in history}
        habit_months = len({d.replace(day=1) for d in past})
        if habit_months < 2:
            continue
        now = [v for d, v in days.items() if month <= d <= cut]
        features[key] = (
            cut.day,
            days_in_month,
            sum(v[0] for v in now),
            sum(v[1] for v in now),
            sum(v[0] for v in past.values()) / HISTORY,
            sum(v[1] for v in past.values()) / HISTORY,
            sum(v[0] for d, v in past.items() if d.day <= cut.day) / HISTORY,
            sum(v[0] for d, v in past.items() if d.replace(day=1) == history[0]),
            habit_months,
        )
        outcomes[key] = sum(v[0] for d, v in days.items() if d.replace(day=1) == month)
    return features, outcomes


@pytest.mark.parametrize("cut", [date(2026, 4, 3), date(2026, 4, 30)])
def test_features_and_outcomes_equal_an_independent_computation(with_habits, cut):
    with psycopg.connect(with_habits, autocommit=True) as conn:
        frame = budget.read_features(conn, [cut], TZ, HISTORY, 2)
        outcomes = budget.read_outcomes(conn, frame, TZ)
        expected, expected_outcomes = reference_features(conn, cut)
    keys = list(zip(frame.user_ids, frame.categories, frame.currencies, strict=True))
    assert len(keys) > 100
    assert sorted(keys) == sorted(expected)
    assert set(frame.cut_days) == {cut}
    for key, values, outcome in zip(keys, frame.values, outcomes, strict=True):
        assert tuple(values) == pytest.approx(expected[key], rel=1e-9)
        assert outcome == pytest.approx(expected_outcomes[key], rel=1e-9)


def test_on_a_world_with_habits_the_model_beats_the_baseline_and_a_retrain_must_beat_it(
    with_habits,
):
    run = train(with_habits)
    evaluation = run.evaluation
    metrics = evaluation.metrics()
    assert run.accepted
    assert evaluation.against_baseline.gain_low > budget.MIN_MAE_GAIN
    # The fitted baseline is itself far better than the plain extrapolation.
    assert metrics["mae"] < metrics["baseline_mae"] < metrics["naive_mae"]
    assert 0.0 < evaluation.truth_share < 1.0
    assert metrics["recall"] > metrics["baseline_recall"]
    with psycopg.connect(with_habits, autocommit=True) as conn:
        champion = model_store.champion(conn, budget.MODEL_NAME)
        assert champion is not None and champion.version == run.version
        assert champion.parameters["history_months"] == HISTORY
        # The stored model forecasts like the one just evaluated.
        holdout = budget.load(conn, run.windows.holdout_months, TZ, HISTORY, 2)
        forecast = budget.predict(champion.estimator().model, holdout.frame.values)
        usual = holdout.frame.column("usual")
        assert np.mean(np.abs(forecast - holdout.outcomes) / usual) == pytest.approx(metrics["mae"])
        # Trained on the training months' TRAIN_CUT_DAYS only, evaluated on every cut.
        training = budget.load(
            conn, run.windows.train_months, TZ, HISTORY, 2, budget.TRAIN_CUT_DAYS
        )
        assert {cut.day for cut in training.frame.cut_days} == set(budget.TRAIN_CUT_DAYS)
        assert run.data_seen["train_rows_available"] == len(training.frame)
        assert {cut.day for cut in holdout.frame.cut_days} == set(budget.CUT_DAYS)
        # One query for both windows gives the two loads' rows, in their order.
        both = budget.load_windows(conn, run.windows, TZ, HISTORY, 2)
        for one, alone in zip(both, (training, holdout), strict=True):
            assert one.frame.cut_days == alone.frame.cut_days
            assert one.frame.user_ids == alone.frame.user_ids
            assert one.frame.categories == alone.frame.categories
            assert one.frame.currencies == alone.frame.currencies
            assert np.array_equal(one.frame.values, alone.frame.values)
            assert np.array_equal(one.outcomes, alone.outcomes)
    # The same data again: the challenger ties the champion, so the champion stays.
    second = train(with_habits)
    assert second.evaluation.against_champion is not None
    assert not second.accepted
    with psycopg.connect(with_habits, autocommit=True) as conn:
        champion = model_store.champion(conn, budget.MODEL_NAME)
        assert champion is not None and champion.version == run.version
        # Deterministic: the retrained version forecasts as the champion does.
        retrained = model_store.latest(conn, budget.MODEL_NAME)
        assert retrained is not None and retrained.version == second.version
        again = budget.predict(retrained.estimator().model, holdout.frame.values)
        assert np.array_equal(again, forecast)
        assert retrained.estimator().baseline_coefficients == (
            champion.estimator().baseline_coefficients
        )


def test_the_blocking_check_stops_the_model_on_a_world_without_habits(without_habits, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", without_habits)
    run_config = {
        "ops": {
            "ml__budget_model": {
                "config": {
                    "last_day": LAST_DAY.isoformat(),
                    "train_months": TRAIN,
                    "holdout_months": HOLDOUT,
                    "history_months": HISTORY,
                }
            }
        }
    }
    result = materialize([budget_model], run_config=run_config, raise_on_error=False)
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == BEATS_BASELINE_CHECK
    assert not check.passed and check.severity is AssetCheckSeverity.ERROR
    [materialization] = result.asset_materializations_for_node("ml__budget_model")
    metadata = materialization.metadata
    # Numeric values side by side, so that Dagster plots them across materializations.
    for key in ("mae", "baseline_mae", "precision", "baseline_precision", "recall"):
        assert isinstance(metadata[key].value, float)
    assert metadata["mae_gain_low"].value < budget.MIN_MAE_GAIN
    with psycopg.connect(without_habits, autocommit=True) as conn:
        assert model_store.champion(conn, budget.MODEL_NAME) is None
        latest = model_store.latest(conn, budget.MODEL_NAME)
        assert latest is not None and not latest.accepted


def stored_alerts(conn: psycopg.Connection, day: date) -> list[tuple]:
    return conn.execute(
        "SELECT id, user_id, title, description, priority, score, reason, model_name,"
        " model_version, created_at, expires_at FROM recommendations.daily"
        " WHERE day = %s AND type = 'BUDGET_ALERT' ORDER BY id",
        (day,),
    ).fetchall()


def test_without_a_champion_the_extrapolation_rule_scores_and_a_rerun_replaces_the_day(
    without_habits,
):
    with psycopg.connect(without_habits, autocommit=True) as conn:
        assert model_store.champion(conn, budget.MODEL_NAME) is None
        # Another type's row of the day, which the budget scoring must leave alone.
        conn.execute(
            "INSERT INTO recommendations.daily (id, day, user_id, type, title, description,"
            " action_url, priority, score, reason, model_name, created_at, expires_at)"
            " VALUES (gen_random_uuid(), %s, 'usr_other', 'SPENDING_TREND', 't', 'd', '/',"
            " 1, 0, '{}', 'rule', now(), now() + interval '1 day')",
            (SCORED_DAY,),
        )
        report = budget_alerts.score_budget_alerts(conn, SCORED_DAY, TZ)
        assert report.model_name == budget.BASELINE_MODEL_NAME and report.fallback
        first = stored_alerts(conn, SCORED_DAY)
        assert len(first) == report.written > 0
        assert len({row[1] for row in first}) == len(first)  # one row per user
        for row in first:
            reason = row[6]
            assert row[7] == budget.BASELINE_MODEL_NAME and row[8] is None
            assert reason["forecast"] > reason["usual"] * (1 + reason["margin"])
            assert reason["currency"] in row[3] and reason["category"] in row[3]
        budget_alerts.score_budget_alerts(conn, SCORED_DAY, TZ)
        assert stored_alerts(conn, SCORED_DAY) == first
        [(others,)] = conn.execute(
            "SELECT count(*) FROM recommendations.daily WHERE day = %s AND type <> 'BUDGET_ALERT'",
            (SCORED_DAY,),
        ).fetchall()
        assert others == 1


def test_with_a_champion_its_forecasts_score_the_day_deterministically(with_habits):
    with psycopg.connect(with_habits, autocommit=True) as conn:
        champion = model_store.champion(conn, budget.MODEL_NAME)
        version = champion.version if champion else train(with_habits).version
        report = budget_alerts.score_budget_alerts(conn, SCORED_DAY, TZ)
        assert (report.model_name, report.model_version, report.fallback) == (
            budget.MODEL_NAME,
            version,
            "",
        )
        first = stored_alerts(conn, SCORED_DAY)
        assert first and all(row[8] == version and row[5] >= budget.ALERT_MARGIN for row in first)
        budget_alerts.score_budget_alerts(conn, SCORED_DAY, TZ)
        assert stored_alerts(conn, SCORED_DAY) == first


def test_the_daily_asset_writes_budget_alerts_and_says_which_rule_scored(
    without_habits, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", without_habits)
    result = materialize([daily_recommendations], partition_key=SCORED_DAY.isoformat())
    [materialization] = result.asset_materializations_for_node("recommendations__daily")
    metadata = materialization.metadata
    assert metadata["budget_model_name"].value == budget.BASELINE_MODEL_NAME
    assert metadata["budget_fallback"].value.startswith("no ")
    with psycopg.connect(without_habits, autocommit=True) as conn:
        assert len(stored_alerts(conn, SCORED_DAY)) == metadata["budget_alerts"].value > 0


def test_the_day_written_in_two_lanes_equals_the_day_written_in_one(without_habits):
    def written(conn: psycopg.Connection) -> list[tuple]:
        return conn.execute(
            "SELECT * FROM recommendations.daily WHERE day = %s ORDER BY id", (SCORED_DAY,)
        ).fetchall()

    with (
        psycopg.connect(without_habits, autocommit=True) as conn,
        psycopg.connect(without_habits, autocommit=True) as second,
    ):
        one_lane = daily.recommend_day(conn, SCORED_DAY, TZ)
        expected = written(conn)
        two_lanes = daily.recommend_day(conn, SCORED_DAY, TZ, second)
        assert written(conn) == expected
        # The day plans without parallel workers, and gives the sessions back their own.
        for c in (conn, second):
            assert workers_per_gather(c) == "2"
    assert two_lanes.types() == one_lane.types()
    written_types = {kind for kind, rows, _ in one_lane.types() if rows > 0}
    assert {budget_alerts.BUDGET_TYPE, "PROMOTION", "SPENDING_TREND"} <= written_types


def workers_per_gather(conn: psycopg.Connection) -> str:
    row = conn.execute("SHOW max_parallel_workers_per_gather").fetchone()
    assert row is not None
    return str(row[0])


def test_the_day_plans_without_parallel_workers_and_restores_the_sessions(without_habits):
    with (
        psycopg.connect(without_habits, autocommit=True) as conn,
        psycopg.connect(without_habits, autocommit=True) as second,
    ):
        conn.execute("SET max_parallel_workers_per_gather = 3")
        with daily.serial_plans(conn, second):
            assert [workers_per_gather(c) for c in (conn, second)] == ["0", "0"]
        assert [workers_per_gather(c) for c in (conn, second)] == ["3", "2"]


def by_key(frame: budget.BudgetFrame) -> dict[tuple[date, str, str, str], tuple[float, ...]]:
    keys = zip(frame.cut_days, frame.user_ids, frame.categories, frame.currencies, strict=True)
    return {key: tuple(values) for key, values in zip(keys, frame.values.tolist(), strict=True)}


def days_built(conn: psycopg.Connection, tz: str, first: date, last: date) -> int:
    row = conn.execute(
        "SELECT count(*) FROM ml.budget_day_spend_days WHERE tz = %s AND day BETWEEN %s AND %s",
        (tz, first, last),
    ).fetchone()
    return int(row[0]) if row else 0


# A month's first and last days, mid-month, and Warsaw across its DST change of
# 2026-03-29 (at 02:00: its days still run from midnight to midnight).
@pytest.mark.parametrize(
    ("cut", "tz"),
    [
        (date(2026, 4, 1), TZ),
        (date(2026, 3, 31), TZ),
        (SCORED_DAY, TZ),
        (SCORED_DAY, "Europe/Warsaw"),
    ],
)
def test_features_from_the_daily_rows_equal_those_from_the_raw_rows(without_habits, cut, tz):
    with psycopg.connect(without_habits, autocommit=True) as conn:
        expected = budget.read_features(conn, [cut], tz, HISTORY, 2)
        frame = budget_day_spend.read_features(conn, cut, tz, HISTORY, 2)
        history_start = budget.add_months(cut.replace(day=1), -HISTORY)
        built = days_built(conn, tz, history_start, cut)
    assert len(expected) > 100
    # Exactly equal: the same keys and the same float64 of every figure.
    assert by_key(frame) == by_key(expected) and len(frame) == len(expected)
    assert built == (cut - history_start).days + 1


def test_where_a_dst_change_repeats_midnight_the_raw_rows_are_read(without_habits):
    # Havana falls back from 01:00 to 00:00 on 2026-11-01: that local day starts twice.
    cut, tz = date(2026, 11, 20), "America/Havana"
    with psycopg.connect(without_habits, autocommit=True) as conn:
        frame = budget_day_spend.read_features(conn, cut, tz, HISTORY, 2)
        expected = budget.read_features(conn, [cut], tz, HISTORY, 2)
        built = days_built(conn, tz, budget.add_months(cut.replace(day=1), -HISTORY), cut)
    assert built == 0
    assert by_key(frame) == by_key(expected)


def insert_late_payment(conn: psycopg.Connection, key: tuple[str, str, str], at: datetime) -> None:
    """A payment of 1,000,000 at `at`, recorded by ingestion now (a late event)."""
    user, category, currency = key
    conn.execute(
        """INSERT INTO raw.transactions (event_id, occurred_at, user_id, transaction_id,
               amount, currency, transaction_type, category, status, payment_method,
               retry_count, processing_ms, kafka_partition, kafka_offset)
           VALUES (gen_random_uuid(), %s, %s, 'tx-late-budget-' || gen_random_uuid(),
               1000000, %s, 'PAYMENT', %s, 'SUCCESS', 'CARD', 0, 1, 0, 0)""",
        (at, user, currency, category),
    )
    record_touched_hour(conn, at)


def record_touched_hour(conn: psycopg.Connection, at: datetime) -> None:
    run_sql_file(
        conn,
        "ingest/record_touched_hours.sql",
        {
            "raw_table": "raw.transactions",
            "hour_starts": [at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)],
            "rows": [1],
            "max_occurred_ats": [at],
        },
    )


def test_late_payments_earlier_in_the_month_and_in_the_month_before_rebuild_their_days(
    without_habits,
):
    zone = ZoneInfo(TZ)
    # Day 5 of the scored month (the month so far) and day 10 of the month before (its
    # total, last month and the usual spending by day 12).
    late = [
        datetime.combine(SCORED_DAY.replace(day=5), datetime.min.time(), zone),
        datetime.combine(date(2026, 3, 10), datetime.min.time(), zone),
    ]
    late = [at + timedelta(hours=12) for at in late]
    with psycopg.connect(without_habits, autocommit=True) as conn:
        before = by_key(budget_day_spend.read_features(conn, SCORED_DAY, TZ, HISTORY, 2))
        key = min(before)
        try:
            for at in late:
                insert_late_payment(conn, key[1:], at)
            after = by_key(budget_day_spend.read_features(conn, SCORED_DAY, TZ, HISTORY, 2))
            expected = by_key(budget.read_features(conn, [SCORED_DAY], TZ, HISTORY, 2))
        finally:
            # The module's other tests see the world as generated (the days are due again).
            conn.execute(
                "DELETE FROM raw.transactions WHERE transaction_id LIKE 'tx-late-budget-%'"
            )
            for at in late:
                record_touched_hour(conn, at)
    assert after == expected
    names = budget.FEATURE_NAMES
    grew = {
        n: after[key][i] - before[key][i]
        for i, n in enumerate(names)
        if after[key][i] != before[key][i]
    }
    assert grew == pytest.approx(
        {
            "spent_so_far": 1e6,
            "tx_so_far": 1,
            "usual": 1e6 / HISTORY,
            "usual_tx": 1 / HISTORY,
            "usual_by_day": 1e6 / HISTORY,
            "last_month": 1e6,
        }
    )


def test_the_day_s_alerts_from_the_daily_rows_equal_those_from_the_raw_rows(
    without_habits, monkeypatch
):
    with psycopg.connect(without_habits, autocommit=True) as conn:
        budget_alerts.score_budget_alerts(conn, SCORED_DAY, TZ)
        from_days = stored_alerts(conn, SCORED_DAY)
        # More history months than the daily rows' bitmap holds: the raw rows are read.
        monkeypatch.setattr(budget_day_spend, "MAX_HISTORY_MONTHS", 0)
        budget_alerts.score_budget_alerts(conn, SCORED_DAY, TZ)
        assert stored_alerts(conn, SCORED_DAY) == from_days
    assert len(from_days) > 10


def assert_same_frames(frame: budget.BudgetFrame, expected: budget.BudgetFrame) -> None:
    """The same rows in the same order, every figure the same float64."""
    assert frame.cut_days == expected.cut_days
    assert frame.user_ids == expected.user_ids
    assert frame.categories == expected.categories
    assert frame.currencies == expected.currencies
    assert np.array_equal(frame.values, expected.values)


def test_training_reads_the_raw_rows_features_from_the_daily_rows(without_habits):
    w = budget.windows(LAST_DAY, TRAIN, HOLDOUT)
    first_day = budget.add_months(w.train_months[0], -HISTORY)
    with psycopg.connect(without_habits, autocommit=True) as conn:
        from_days = budget.load_windows(
            conn, w, TZ, HISTORY, 2, budget_day_spend.read_features_at_cuts
        )
        last_cut = from_days[1].frame.cut_days[-1]
        built = days_built(conn, TZ, first_day, last_cut)
        raw = budget.load_windows(conn, w, TZ, HISTORY, 2)
    assert built == (last_cut - first_day).days + 1
    for one, expected in zip(from_days, raw, strict=True):
        assert len(expected.frame) > 100
        assert_same_frames(one.frame, expected.frame)
        assert np.array_equal(one.outcomes, expected.outcomes)


def test_training_reads_the_raw_rows_for_the_cuts_whose_history_a_dst_change_cuts(
    without_habits,
):
    # Havana fell back from 01:00 to 00:00 on 2025-11-02 (that local day starts twice):
    # with three history months the February cuts read the raw rows, the March cut (its
    # history from December) the daily rows; the rows still come in cut order.
    tz, cuts = "America/Havana", [date(2026, 3, 11), date(2026, 2, 27), date(2026, 2, 3)]
    with psycopg.connect(without_habits, autocommit=True) as conn:
        frame = budget_day_spend.read_features_at_cuts(conn, cuts, tz, 3, 1)
        expected = budget.read_features(conn, sorted(cuts), tz, 3, 1)
        november_built = days_built(conn, tz, date(2025, 11, 1), date(2025, 11, 30))
        december_built = days_built(conn, tz, date(2025, 12, 1), date(2025, 12, 31))
    assert set(expected.cut_days) == set(cuts)
    assert (november_built, december_built) == (0, 31)
    assert_same_frames(frame, expected)
