"""NEW_FEATURE and PROMOTION: collaborative filtering of untried items against popularity."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import polars as pl
import psycopg
import pytest
from dagster import AssetCheckSeverity, materialize
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics_platform.assets.recommendations import (
    BEATS_BASELINE_CHECK,
    daily_recommendations,
    next_purchase_model,
)
from analytics_platform.dev.generator import GeneratorConfig, generate_events
from analytics_platform.ml import interaction_window, model_store
from analytics_platform.ml import interactions as ia
from analytics_platform.ml import next_purchase as npm
from analytics_platform.ml import next_purchase_scoring as scoring
from analytics_platform.ml.recommendation_writes import recommendation_ids
from analytics_platform.ml.scoring import recommendation_id

from .conftest import PostgresCluster
from .ml_world import START, TZ, day_of, generated_world, insert_late_payment

DAYS = 45
HOLDOUT, HISTORY = 10, 35
LAST_DAY = day_of(DAYS - 1)


@pytest.fixture(scope="module")
def without_tastes(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with generated_world(
        postgres_cluster, DAYS, events_per_day=150, users=500, tastes=False
    ) as url:
        yield url


# ---------------------------------------------------------------- planted worlds
def planted(
    rng: np.random.Generator, clustered: bool, users: int = 400, merchants: int = 40
) -> tuple[ia.Interactions, ia.Interactions]:
    """History and holdout interactions of users who pay merchants either within their
    cluster's set (co-preference: the signal collaborative filtering exists for) or by a
    global popularity alone (no signal beyond popularity)."""
    popularity = 1.0 / np.arange(1, merchants + 1) ** 0.7
    popularity /= popularity.sum()
    cluster_sets = np.arange(merchants).reshape(4, -1)
    history, holdout = [], []
    for user in range(users):
        if clustered:
            chosen = rng.choice(cluster_sets[user % 4], size=6, replace=False)
        else:
            chosen = rng.choice(merchants, size=6, replace=False, p=popularity)
        uid = f"u{user:04d}"
        for position, merchant in enumerate(chosen):
            rows = history if position < 4 else holdout
            rows.append((uid, ia.MERCHANT, f"m{merchant:03d}", "shop", int(rng.integers(1, 4))))
        history.append((uid, ia.PAYMENT_METHOD, "WALLET", "WALLET", 3))
    return ia.from_rows(history), ia.from_rows(holdout)


def test_where_users_share_tastes_the_model_beats_popularity():
    history, holdout = planted(np.random.default_rng(1), clustered=True)
    model, baseline = npm.fit(history)
    evaluation = npm.evaluate(model, baseline, None, history, holdout)
    promotion = evaluation.promotion
    assert promotion.users == 400
    assert promotion.ndcg.gain_low > 0.05
    assert promotion.recall.value > promotion.recall.reference_value
    assert evaluation.accepted()
    # Against itself as the champion the gain is nil: a retrain must do better.
    assert not npm.evaluate(model, baseline, model, history, holdout).accepted()


def test_where_only_popularity_matters_the_model_is_not_accepted():
    history, holdout = planted(np.random.default_rng(2), clustered=False)
    model, baseline = npm.fit(history)
    evaluation = npm.evaluate(model, baseline, None, history, holdout)
    assert evaluation.promotion.users > 300
    assert not evaluation.accepted()


def test_top_items_skip_what_the_user_used_and_keep_the_kind():
    history, _ = planted(np.random.default_rng(3), clustered=True)
    model, _ = npm.fit(history)
    counts = ia.aligned(history, model.items)
    top, scores = npm.top_items(model, counts, npm.PROMOTION_KINDS, 3)
    assert (top >= 0).all() and np.isfinite(scores).all()
    assert (np.diff(scores, axis=1) <= 0).all()
    used = counts[np.arange(counts.shape[0])[:, None], top].toarray()
    assert not used.any()
    assert all(item.startswith("merchant:") for item in model.items[top.ravel()])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_argmax_top_k_picks_what_argpartition_picks_ties_and_all(seed):
    rng = np.random.default_rng(seed)
    # Coarse scores so that ties at the k-th place are common; -inf as used items are,
    # rows with fewer finite scores than k, a NaN.
    scores = rng.integers(0, 6, size=(400, 30)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    scores[:5] = -np.inf
    scores[5:10, 2:] = -np.inf
    scores[10, 4] = np.nan
    before = scores.copy()
    for width in (1, 3, 30):
        part, values = npm._best_first(scores, width)
        expected_part, expected_values = npm._partitioned(scores.copy(), width)
        finite = np.isfinite(expected_values)
        assert np.array_equal(np.isfinite(values), finite)
        assert np.array_equal(part[finite], expected_part[finite])
        assert np.array_equal(values[finite], expected_values[finite])
        assert np.array_equal(scores, before, equal_nan=True)


# ---------------------------------------------------------- generated worlds in memory
# The model's verdict on the generator's worlds, without a database: the interactions are
# counted from the generated events by the rules of the SQL (successful transactions the
# user started, local days), which test_the_item_matrix_equals_a_count_of_the_raw_rows
# checks against the database's matrix.
class _Transaction(msgspec.Struct):
    user_id: str
    transaction_type: str
    payment_method: str
    merchant_id: str | None
    category: str
    status: str


def generated_interactions(
    config: GeneratorConfig, windows: npm.Windows
) -> tuple[ia.Interactions, ia.Interactions]:
    """History and holdout interactions of the generator's world (events only: nothing of
    its ground truth)."""
    decode = msgspec.json.Decoder(_Transaction).decode
    zone = ZoneInfo(TZ)
    counts: dict[bool, Counter[tuple[str, str, str, str]]] = {True: Counter(), False: Counter()}
    for event in generate_events(config):
        if event.topic != "transactions":
            continue
        tx = decode(event.value)
        if tx.status != "SUCCESS" or tx.transaction_type in ("TRANSFER_IN", "REFUND"):
            continue
        day = event.occurred_at.astimezone(zone).date()
        if not windows.history_first <= day <= windows.holdout_last:
            continue
        part = counts[day <= windows.history_last]
        part[(tx.user_id, ia.TRANSACTION_TYPE, tx.transaction_type, tx.transaction_type)] += 1
        part[(tx.user_id, ia.PAYMENT_METHOD, tx.payment_method, tx.payment_method)] += 1
        if tx.merchant_id is not None and tx.transaction_type in ia.MERCHANT_TYPES:
            part[(tx.user_id, ia.MERCHANT, tx.merchant_id, tx.category)] += 1
    history, holdout = (
        ia.from_rows([(*key, count) for key, count in counts[part].items()])
        for part in (True, False)
    )
    return history, holdout


@pytest.mark.parametrize("taste_segments", [True, False])
def test_on_a_generated_world_the_model_beats_popularity_only_where_users_share_tastes(
    taste_segments,
):
    days = 60
    config = GeneratorConfig(
        seed=7,
        days=days,
        events_per_day=400,
        users=600,
        start=START,
        late_fraction=0.0,
        duplicate_fraction=0.0,
        malformed_fraction=0.0,
        monthly_habits=False,
        taste_segments=taste_segments,
    )
    w = npm.windows(day_of(days - 1), holdout_days=14, history_days=45)
    history, holdout = generated_interactions(config, w)
    model, baseline = npm.fit(history)
    evaluation = npm.evaluate(model, baseline, None, history, holdout)
    assert evaluation.promotion.users > 150
    assert evaluation.accepted() is taste_segments


# ---------------------------------------------------------------- a generated world
# Without tastes: the cheaper world, and the one where the blocking check must stop the
# model. (With tastes and their segments it is accepted: the in-memory test above.)
def test_the_item_matrix_equals_a_count_of_the_raw_rows(without_tastes):
    first, last = day_of(20), day_of(30)
    zone = ZoneInfo(TZ)
    with psycopg.connect(without_tastes, autocommit=True) as conn:
        matrix = ia.read(conn, first, last, TZ)
        raw = conn.execute(
            "SELECT user_id, occurred_at, transaction_type, payment_method, merchant_id,"
            " status FROM raw.transactions"
        ).fetchall()
    expected: Counter[tuple[str, str]] = Counter()
    for user, at, kind, method, merchant, status in raw:
        if status != "SUCCESS" or kind in ("TRANSFER_IN", "REFUND"):
            continue
        if not first <= at.astimezone(zone).date() <= last:
            continue
        expected[(user, f"transaction_type:{kind}")] += 1
        expected[(user, f"payment_method:{method}")] += 1
        if merchant is not None and kind in ("PAYMENT", "BILL_PAYMENT"):
            expected[(user, f"merchant:{merchant}")] += 1
    coo = matrix.counts.tocoo()
    got = {
        (matrix.user_ids[r], matrix.items[c]): int(v)
        for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)
    }
    assert len(got) > 1_000
    assert got == dict(expected)


def test_the_item_matrix_keeps_values_that_csv_must_quote(without_tastes):
    """The read comes as CSV text: commas, quotes, capitals, non-ASCII and line breaks in
    ids and categories come back as they were, and a payment without a merchant has no
    merchant item."""
    day = day_of(30)
    user, merchant = 'User "Q", 1', "Café, Ünter\nDen"
    category, method = 'Food, "fresh"', "QRIS"
    with psycopg.connect(without_tastes) as conn:
        for merchant_id in (merchant, merchant, None):
            conn.execute(
                "INSERT INTO raw.transactions SELECT (jsonb_populate_record("
                " NULL::raw.transactions, to_jsonb(t) || jsonb_build_object("
                " 'event_id', gen_random_uuid(), 'user_id', %s::text, 'merchant_id', %s::text,"
                " 'category', %s::text, 'payment_method', %s::text,"
                " 'transaction_type', 'PAYMENT', 'status', 'SUCCESS'))).*"
                " FROM raw.transactions t"
                " WHERE t.occurred_at >= (%s::date::timestamp AT TIME ZONE %s) LIMIT 1",
                (user, merchant_id, category, method, day, TZ),
            )
        matrix = ia.read(conn, day, day, TZ)
        conn.rollback()
    [row] = np.flatnonzero(matrix.user_ids == user)
    used = matrix.counts[row].tocoo()
    got = {
        matrix.items[c]: (matrix.labels[c], int(v))
        for c, v in zip(used.col, used.data, strict=True)
    }
    assert got == {
        f"merchant:{merchant}": (category, 2),
        f"payment_method:{method}": (method, 3),
        "transaction_type:PAYMENT": ("PAYMENT", 3),
    }


def test_the_days_ids_are_the_uuid5_of_each_user():
    users = [f"u-{n:05d}" for n in range(300)] + ['Ünter, "x"', ""]
    day = date(2026, 3, 31)
    ids = recommendation_ids(day, users, scoring.PROMOTION_TYPE)
    expected = [recommendation_id(day, u, scoring.PROMOTION_TYPE) for u in users]
    assert [uuid.UUID(i) for i in ids] == expected


def train(url: str) -> npm.TrainingRun:
    with psycopg.connect(url, autocommit=True) as conn:
        return npm.train_and_store(conn, LAST_DAY, TZ, HOLDOUT, HISTORY)


def test_the_blocking_check_stops_the_model_on_a_world_without_tastes(without_tastes, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", without_tastes)
    run_config = {
        "ops": {
            "ml__next_purchase_model": {
                "config": {
                    "last_day": LAST_DAY.isoformat(),
                    "holdout_days": HOLDOUT,
                    "history_days": HISTORY,
                }
            }
        }
    }
    result = materialize([next_purchase_model], run_config=run_config, raise_on_error=False)
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == BEATS_BASELINE_CHECK
    assert not check.passed and check.severity is AssetCheckSeverity.ERROR
    [materialization] = result.asset_materializations_for_node("ml__next_purchase_model")
    metadata = materialization.metadata
    # Numeric, so that Dagster plots them across materializations.
    for key in ("recall_at_k", "baseline_recall_at_k", "ndcg_at_k", "baseline_ndcg_at_k"):
        assert isinstance(metadata[key].value, float)
    assert metadata["holdout_users"].value > 50
    with psycopg.connect(without_tastes, autocommit=True) as conn:
        assert model_store.champion(conn, npm.MODEL_NAME) is None
        latest = model_store.latest(conn, npm.MODEL_NAME)
        assert latest is not None and not latest.accepted


def stored(conn: psycopg.Connection, day: date) -> list[tuple]:
    return conn.execute(
        "SELECT id, user_id, type, title, description, action_url, priority, score, reason,"
        " model_name, model_version, created_at, expires_at FROM recommendations.daily"
        " WHERE day = %s AND type IN ('PROMOTION', 'NEW_FEATURE') ORDER BY id",
        (day,),
    ).fetchall()


def used_before(conn: psycopg.Connection, day: date) -> set[tuple[str, str]]:
    """(user, value) of every merchant, method and type the user used before the end of
    the day (all of the world's days: fewer than the look-back): successful transactions
    the user started (received transfers and refunds are not the user's use)."""
    rows = conn.execute(
        "SELECT user_id, unnest(ARRAY[merchant_id, payment_method, transaction_type])"
        " FROM raw.transactions WHERE status = 'SUCCESS'"
        " AND transaction_type NOT IN ('TRANSFER_IN', 'REFUND')"
        " AND occurred_at < ((%s::date + 1)::timestamp AT TIME ZONE %s)",
        (day, TZ),
    ).fetchall()
    return {(user, value) for user, value in rows if value is not None}


def assert_never_used_before(conn: psycopg.Connection, day: date, rows: list[tuple]) -> None:
    """No recommended item (runners-up included) was used by its user before the day's end."""
    used = used_before(conn, day)
    for row in rows:
        reason = row[8]
        top = reason.get("merchant_id") or reason["value"]
        for value in [top, *reason["runners_up"]]:
            assert (row[1], value) not in used


def test_without_a_champion_popularity_ranks_and_a_rerun_replaces_the_day(without_tastes):
    day = LAST_DAY
    with psycopg.connect(without_tastes, autocommit=True) as conn:
        assert model_store.champion(conn, npm.MODEL_NAME) is None
        report = scoring.score_next_purchase(conn, day, TZ)
        assert report.model_name == npm.BASELINE_MODEL_NAME and report.fallback
        first = stored(conn, day)
        assert len(first) == report.promotions + report.new_features
        assert report.promotions == report.users > 100
        assert {row[9] for row in first} == {npm.BASELINE_MODEL_NAME}
        assert len({(row[1], row[2]) for row in first}) == len(first)
        assert_never_used_before(conn, day, first)
        scoring.score_next_purchase(conn, day, TZ)
        assert stored(conn, day) == first


@pytest.mark.parametrize("new_feature_accepted", [False, True])
def test_a_champion_ranks_deterministically(without_tastes, new_feature_accepted):
    day = LAST_DAY
    w = npm.windows(day, HOLDOUT, HISTORY)
    with psycopg.connect(without_tastes, autocommit=True) as conn:
        history = ia.read(conn, w.history_first, w.history_last, TZ)
        model, _ = npm.fit(history)
        # A champion as the blocking check would have stored it (accepted), whose
        # evaluation did, or did not, beat popularity on NEW_FEATURE too.
        version = model_store.save(
            conn,
            npm.MODEL_NAME,
            model,
            w.as_tuple(),
            {},
            {"new_feature_accepted": float(new_feature_accepted)},
            {},
            True,
        )
        try:
            report = scoring.score_next_purchase(conn, day, TZ)
            assert (report.model_name, report.model_version) == (npm.MODEL_NAME, version)
            new_feature_model = npm.MODEL_NAME if new_feature_accepted else npm.BASELINE_MODEL_NAME
            assert report.new_feature_model_name == new_feature_model
            first = stored(conn, day)
            assert {(row[2], row[9]) for row in first} == {
                (scoring.PROMOTION_TYPE, npm.MODEL_NAME),
                (scoring.NEW_FEATURE_TYPE, new_feature_model),
            }
            assert_never_used_before(conn, day, first)
            scoring.score_next_purchase(conn, day, TZ)
            assert stored(conn, day) == first
        finally:
            # The module's other tests expect no champion.
            conn.execute(
                "DELETE FROM ml.models WHERE model_name = %s AND version = %s",
                (npm.MODEL_NAME, version),
            )


def test_the_daily_asset_says_when_popularity_ranked(without_tastes, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", without_tastes)
    day = LAST_DAY - timedelta(days=1)
    result = materialize([daily_recommendations], partition_key=day.isoformat())
    [materialization] = result.asset_materializations_for_node("recommendations__daily")
    metadata = materialization.metadata
    assert metadata["next_purchase_model_name"].value == npm.BASELINE_MODEL_NAME
    assert "no accepted next_purchase model" in metadata["next_purchase_fallback"].value
    assert metadata["next_purchase_interactions"].value in {
        interaction_window.CARRIED,
        interaction_window.FULL,
    }
    with psycopg.connect(without_tastes, autocommit=True) as conn:
        rows = stored(conn, day)
    assert len(rows) == metadata["promotion_rows"].value + metadata["new_feature_rows"].value


# ---------------------------------------------------------------- the carried window
# Shorter than the world, so that days leave the window as they enter it.
WINDOW_DAYS = 10


def assert_same_interactions(got: ia.Interactions, expected: ia.Interactions) -> None:
    """The same users, items, labels and matrix, entry for entry (scoring reads nothing else)."""
    assert list(got.user_ids) == list(expected.user_ids)
    assert list(got.items) == list(expected.items)
    assert list(got.labels) == list(expected.labels)
    assert got.counts.shape == expected.counts.shape
    for part in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(got.counts, part), getattr(expected.counts, part)), part


def full_count(conn: psycopg.Connection, day: date, tz: str = TZ) -> ia.Interactions:
    return ia.read(conn, day - timedelta(days=WINDOW_DAYS - 1), day, tz)


def without_windows(conn: psycopg.Connection) -> psycopg.Connection:
    """`conn` (in a transaction the test rolls back) with no stored window: the module's
    other tests store the 90-day windows of their days."""
    conn.execute("DELETE FROM ml.interaction_windows")
    return conn


def window_of(conn: psycopg.Connection, day: date, tz: str = TZ) -> str:
    """The carried (or full) window of `day`, checked against the full count; its method."""
    window = interaction_window.read(conn, day, tz, WINDOW_DAYS)
    assert_same_interactions(window.interactions, full_count(conn, day, tz))
    return window.method


def test_the_carried_window_equals_the_full_count_day_after_day(without_tastes):
    # One transaction, rolled back: the module's other tests see no stored windows.
    with psycopg.connect(without_tastes) as conn:
        without_windows(conn)
        methods = [window_of(conn, day_of(offset)) for offset in range(20, 34)]
        conn.rollback()
    assert methods == [interaction_window.FULL] + [interaction_window.CARRIED] * 13


def add_late_payment(
    conn: psycopg.Connection, day: date, merchant: str, category: str, user: str
) -> None:
    """A successful payment at noon of local `day`, recorded as ingestion records it."""
    at = datetime.combine(day, datetime.min.time(), ZoneInfo(TZ)) + timedelta(hours=12)
    insert_late_payment(
        conn, at, user, Decimal(1000), category=category, merchant=merchant, method="QRIS"
    )


def test_a_late_payment_in_the_window_is_counted_in_full_then_carried_until_it_leaves(
    without_tastes,
):
    first = day_of(30)
    late_day = first - timedelta(days=3)
    with psycopg.connect(without_tastes) as conn:
        without_windows(conn)
        assert [window_of(conn, first - timedelta(days=1)), window_of(conn, first)] == [
            interaction_window.FULL,
            interaction_window.CARRIED,
        ]
        merchant, category = conn.execute(
            "SELECT merchant_id, min(category) FROM raw.transactions"
            " WHERE merchant_id IS NOT NULL AND transaction_type = 'PAYMENT' GROUP BY 1"
            " ORDER BY 1 LIMIT 1"
        ).fetchone()
        # Older than the recent days: the next day counts in full. A category that sorts
        # first: the merchant's label changes while the payment is in the window, and
        # changes back when its day leaves (a minimum carried by counts).
        add_late_payment(conn, late_day, merchant, "0 late", "late-user")
        methods = []
        for offset in range(1, WINDOW_DAYS - 1):
            day = first + timedelta(days=offset)
            methods.append(window_of(conn, day))
            items = interaction_window.read(conn, day, TZ, WINDOW_DAYS).interactions
            label = items.labels[list(items.items).index(f"merchant:{merchant}")]
            in_window = day - late_day < timedelta(days=WINDOW_DAYS)
            assert label == ("0 late" if in_window else category)
            assert ("late-user" in set(items.user_ids)) == in_window
        conn.rollback()
    assert methods == [interaction_window.FULL] + [interaction_window.CARRIED] * 7


def test_a_late_payment_in_the_recent_days_is_carried(without_tastes):
    first = day_of(30)
    with psycopg.connect(without_tastes) as conn:
        without_windows(conn)
        window_of(conn, first)
        merchant = conn.execute(
            "SELECT min(merchant_id) FROM raw.transactions WHERE transaction_type = 'PAYMENT'"
        ).fetchone()[0]
        # Yesterday's, seen by today's run: among the days counted afresh.
        add_late_payment(conn, first, merchant, "0 late", "late-user")
        assert window_of(conn, first + timedelta(days=1)) == interaction_window.CARRIED
        items = interaction_window.read(conn, first + timedelta(days=1), TZ, WINDOW_DAYS)
        assert "late-user" in set(items.interactions.user_ids)
        conn.rollback()


def test_a_rerun_of_an_older_day_or_another_zone_is_counted_in_full(without_tastes):
    days = [day_of(offset) for offset in range(30, 35)]
    with psycopg.connect(without_tastes) as conn:
        without_windows(conn)
        for day in days:
            window_of(conn, day)
        # Older than the kept windows: its previous day's is gone; the re-run of the days
        # after it carries from it.
        assert [window_of(conn, day) for day in days[1:4]] == [
            interaction_window.FULL,
            interaction_window.CARRIED,
            interaction_window.CARRIED,
        ]
        assert window_of(conn, days[4] + timedelta(days=1)) == interaction_window.CARRIED
        # The previous day's window was cut in another zone.
        assert window_of(conn, days[4] + timedelta(days=2), "UTC") == interaction_window.FULL
        conn.rollback()


def test_the_days_rows_are_the_same_whether_the_window_is_carried_or_counted(without_tastes):
    with psycopg.connect(without_tastes, autocommit=True) as conn:
        scoring.score_next_purchase(conn, LAST_DAY - timedelta(days=1), TZ)
        report = scoring.score_next_purchase(conn, LAST_DAY, TZ)
        assert report.interactions_method == interaction_window.CARRIED
        carried = stored(conn, LAST_DAY)
        conn.execute("DELETE FROM ml.interaction_windows")
        report = scoring.score_next_purchase(conn, LAST_DAY, TZ)
        assert report.interactions_method == interaction_window.FULL
        assert stored(conn, LAST_DAY) == carried
        assert report.promotions > 100


@st.composite
def day_combinations(draw: st.DrawFn) -> pl.DataFrame:
    """A day's `interactions.read_combinations` rows: few users and values, so that the
    same pairs recur across days; categories vary per merchant and may be null."""
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["u1", "u2", "u3", 'Ü, "4"']),
                st.sampled_from(["PAYMENT", "BILL_PAYMENT", "TOPUP"]),
                st.sampled_from(["QRIS", "CARD"]),
                st.sampled_from(["m1", "m2", "m:3", None]),
                st.sampled_from(["food", "Food", "bills", None]),
                st.integers(1, 3),
            ),
            max_size=8,
        )
    )
    frame = pl.DataFrame(rows, schema=list(COMBINATIONS), orient="row").cast(COMBINATIONS)
    return frame.group_by(list(COMBINATIONS)[:-1]).agg(pl.col("count").sum())


COMBINATIONS = {
    "user_id": pl.String,
    "transaction_type": pl.String,
    "payment_method": pl.String,
    "merchant_id": pl.String,
    "category": pl.String,
    "count": pl.Int32,
}


@settings(max_examples=25, deadline=None)
@given(days=st.lists(day_combinations(), min_size=1, max_size=8), width=st.integers(1, 4))
def test_carrying_day_by_day_equals_counting_each_window(days, width):
    empty = pl.DataFrame(schema=COMBINATIONS)

    def window(last: int) -> pl.DataFrame:
        return pl.concat([empty, *days[max(0, last - width + 1) : last + 1]])

    state = interaction_window.WindowCounts(
        ia.from_combinations(empty), interaction_window.merchant_categories(empty)
    )
    for last in range(len(days)):
        leaving = days[last - width] if last >= width else empty
        state = interaction_window.carried(state, days[last], leaving)
        expected = window(last)
        assert_same_interactions(state.interactions, ia.from_combinations(expected))
        assert state.merchant_categories.equals(interaction_window.merchant_categories(expected))


def test_a_merchant_id_with_colons_is_recommended_whole():
    items = ia.from_rows(
        [
            ("u1", ia.MERCHANT, "m:1:a", "food", 2),
            ("u1", ia.PAYMENT_METHOD, "QRIS", "QRIS", 2),
            ("u2", ia.MERCHANT, "m2", "food", 1),
            ("u2", ia.PAYMENT_METHOD, "QRIS", "QRIS", 1),
        ]
    )
    ranking = scoring._Ranking(npm.popularity_scorer(items), (npm.BASELINE_MODEL_NAME, None))
    rows = scoring._promotions(items, ranking, 90).filter(pl.col("user_id") == "u2")
    [(title, url, reason)] = rows.select("title", "action_url", "reason").rows()
    assert (title, url) == ("Discover m:1:a", "/merchants/m:1:a")
    assert msgspec.json.decode(reason)["merchant_id"] == "m:1:a"
