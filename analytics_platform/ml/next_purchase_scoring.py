"""recommendations/daily, PROMOTION and NEW_FEATURE rows: one of each per user and day.

Eligible: every user with a successful transaction of their own in the `HISTORY_DAYS`
days up to the end of the day (the interactions of `interactions.py`, mostly carried from
the previous day's by `interaction_window.py`: the same counts as a full count of the
window, from five days' raw rows instead of 90). Per user:
- PROMOTION: the best-ranked merchant the user has not paid in those days, the two
  runners-up in the reason;
- NEW_FEATURE: the best-ranked payment method or transaction type the user has not
  used in those days (none when they have used them all), runners-up in the reason.
Ranked by the champion of `next_purchase` (ml.models), or, with no accepted version, by
popularity among the day's users (`model_name = 'baseline:popularity'`, the report's
`fallback` says so). NEW_FEATURE uses the champion only if its version also beat
popularity on untried features (`new_feature_accepted`), else popularity.
Ids are UUIDv5 of (day, user, type), hence one row per user and type a day. Deterministic
for a fixed model and day; a re-run deletes the day's rows of these two types and writes
them again (COPY) in one transaction. Rows are built column-wise (numpy, polars), never
in a per-user loop over items: the day scores every active user. Scores are the
ranking's own (the baseline's: the item's share of active users; the model's comparable
within a model version); priority is fixed per type: nudges rank below alerts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import psycopg
import scipy.sparse as sp

from analytics_platform.ml import interaction_window, model_store
from analytics_platform.ml import interactions as ia
from analytics_platform.ml import next_purchase as npm
from analytics_platform.ml.recommendation_writes import recommendation_ids
from analytics_platform.ml.scoring import VALID_DAYS
from analytics_platform.resources.warehouse import read_sql, run_sql_file

PROMOTION_TYPE = "PROMOTION"
NEW_FEATURE_TYPE = "NEW_FEATURE"
TYPES = [PROMOTION_TYPE, NEW_FEATURE_TYPE]
RUNNERS_UP = 2
PRIORITY = {PROMOTION_TYPE: 2, NEW_FEATURE_TYPE: 1}


@dataclass(frozen=True)
class ScoringReport:
    """What a day's scoring used and wrote (the asset's metadata)."""

    users: int
    promotions: int
    new_features: int
    model_name: str  # PROMOTION's ranking
    model_version: int | None
    new_feature_model_name: str
    fallback: str  # why popularity ranked, or ""
    # How the stored part of the day's interactions was built: interaction_window.CARRIED
    # (from the previous day's) or FULL (counted from the raw rows).
    interactions_method: str = ""


@dataclass(frozen=True)
class _Ranking:
    scorer: npm.ItemScorer
    model: tuple[str, int | None]


def _rankings(
    conn: psycopg.Connection, day_items: ia.Interactions
) -> tuple[_Ranking, _Ranking, str]:
    baseline = _Ranking(npm.popularity_scorer(day_items), (npm.BASELINE_MODEL_NAME, None))
    champion = model_store.champion(conn, npm.MODEL_NAME)
    if champion is None:
        return baseline, baseline, "no accepted next_purchase model: popularity ranked"
    model = _Ranking(champion.estimator(), (npm.MODEL_NAME, champion.version))
    if champion.metrics.get("new_feature_accepted") == 1.0:
        return model, model, ""
    return (
        model,
        baseline,
        "the champion did not beat popularity on NEW_FEATURE: popularity ranked it",
    )


def _category_payments(
    day_items: ia.Interactions, rows: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Per (user row, category label): the user's payments to merchants of the category."""
    merchants = day_items.kind_mask(npm.PROMOTION_KINDS)
    categories, category_of = np.unique(day_items.labels[merchants], return_inverse=True)
    one_hot = sp.csr_matrix(
        (np.ones(len(category_of)), (np.arange(len(category_of)), category_of)),
        shape=(len(category_of), len(categories)),
    )
    per_category = (day_items.counts[:, merchants] @ one_hot).tocsr()
    column = ia.positions(categories.astype(object), labels)
    found = column >= 0
    paid = np.zeros(len(rows), dtype=np.int64)
    if found.any():
        paid[found] = np.asarray(per_category[rows[found], column[found]]).ravel()
    return paid


def _ranked_frame(
    day_items: ia.Interactions, ranking: _Ranking, kinds: tuple[str, ...]
) -> pl.DataFrame:
    """One row per user with a candidate left: user row, best item and runners-up (keys),
    the best item's label and score, and its share of the day's active users."""
    counts = ia.aligned(day_items, ranking.scorer.items)
    indices, scores = npm.top_items(ranking.scorer, counts, kinds, 1 + RUNNERS_UP)
    rows = np.flatnonzero(indices[:, 0] >= 0)
    keys = np.append(ranking.scorer.items, "").astype(object)[indices[rows]]
    users = max(1, len(day_items.user_ids))
    shares = np.asarray((day_items.counts > 0).sum(axis=0)).ravel() / users
    position = ia.positions(day_items.items, keys[:, 0])
    share = np.where(position >= 0, shares[np.maximum(position, 0)], 0.0)
    return (
        pl.DataFrame(
            {
                "row": rows,
                "user_id": day_items.user_ids[rows].astype(str),
                "item": keys[:, 0].astype(str),
                "label": ranking.scorer.labels[indices[rows, 0]].astype(str),
                "score": scores[rows, 0].astype(np.float64).round(6),
                "share": share.round(6),
                **{f"next_{n}": keys[:, n].astype(str) for n in range(1, 1 + RUNNERS_UP)},
            },
            schema_overrides={"row": pl.Int64},
        )
        .with_columns(
            # The value is everything after the kind: a merchant id may hold colons.
            pl.col("item").str.splitn(":", 2).struct.rename_fields(["feature", "value"]),
            pl.concat_list(
                [pl.col(f"next_{n}").str.replace(r"^[^:]*:", "") for n in range(1, 1 + RUNNERS_UP)]
            )
            .list.eval(pl.element().filter(pl.element() != ""))
            .alias("runners_up"),
        )
        .unnest("item")
    )


def _percent(share: str) -> pl.Expr:
    return (pl.col(share) * 100).round(0).cast(pl.Int64)


def _promotions(day_items: ia.Interactions, ranking: _Ranking, history_days: int) -> pl.DataFrame:
    frame = _ranked_frame(day_items, ranking, npm.PROMOTION_KINDS)
    paid = _category_payments(
        day_items, frame.get_column("row").to_numpy(), frame.get_column("label").to_numpy()
    )
    habit = (
        pl.when(pl.col("paid") > 0)
        .then(
            pl.format(
                f"You made {{}} {{}} payments in the last {history_days} days", "paid", "label"
            )
        )
        .otherwise(pl.format(f"You paid no {{}} merchant in the last {history_days} days", "label"))
    )
    return frame.with_columns(pl.Series("paid", paid)).select(
        "user_id",
        pl.lit(PROMOTION_TYPE).alias("type"),
        pl.format("Discover {}", "value").alias("title"),
        pl.format(
            "{} and have not tried {}; {}% of active users pay there.",
            habit,
            "value",
            _percent("share"),
        ).alias("description"),
        pl.format("/merchants/{}", "value").alias("action_url"),
        "score",
        pl.struct(
            pl.col("value").alias("merchant_id"),
            pl.col("label").alias("category"),
            pl.col("paid").alias("category_payments"),
            pl.col("score").alias("rank_score"),
            pl.col("share").alias("active_users_share"),
            "runners_up",
            pl.lit(history_days).alias("history_days"),
        )
        .struct.json_encode()
        .alias("reason"),
    )


def _new_features(day_items: ia.Interactions, ranking: _Ranking, history_days: int) -> pl.DataFrame:
    frame = _ranked_frame(day_items, ranking, npm.NEW_FEATURE_KINDS)
    per_user = np.asarray(
        day_items.counts[:, day_items.kind_mask((ia.TRANSACTION_TYPE,))].sum(axis=1)
    ).ravel()
    transactions = per_user[frame.get_column("row").to_numpy()]
    return frame.with_columns(pl.Series("transactions", transactions)).select(
        "user_id",
        pl.lit(NEW_FEATURE_TYPE).alias("type"),
        pl.format("Try {}", pl.col("value").str.replace_all("_", " ").str.to_lowercase()).alias(
            "title"
        ),
        pl.format(
            f"You made {{}} transactions in the last {history_days} days, none by {{}}; "
            "{}% of active users use it.",
            "transactions",
            "value",
            _percent("share"),
        ).alias("description"),
        pl.format("/wallet/features/{}/{}", "feature", "value").alias("action_url"),
        "score",
        pl.struct(
            "feature",
            "value",
            "transactions",
            pl.col("score").alias("rank_score"),
            pl.col("share").alias("active_users_share"),
            "runners_up",
            pl.lit(history_days).alias("history_days"),
        )
        .struct.json_encode()
        .alias("reason"),
    )


def score_next_purchase(
    conn: psycopg.Connection, day: date, tz: str, history_days: int = npm.HISTORY_DAYS
) -> ScoringReport:
    """Replace the day's PROMOTION and NEW_FEATURE rows."""
    window = interaction_window.read(conn, day, tz, history_days)
    day_items = window.interactions
    promotion, new_feature, fallback = _rankings(conn, day_items)
    created = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(tz))
    expires = created + timedelta(days=VALID_DAYS)
    parts = []
    for kind, ranking, build in (
        (PROMOTION_TYPE, promotion, _promotions),
        (NEW_FEATURE_TYPE, new_feature, _new_features),
    ):
        part = build(day_items, ranking, history_days)
        ids = recommendation_ids(day, part.get_column("user_id").to_list(), kind)
        parts.append(
            part.select(
                pl.Series("id", ids, dtype=pl.String),
                pl.lit(day.isoformat()).alias("day"),
                "user_id",
                "type",
                "title",
                "description",
                "action_url",
                pl.lit(PRIORITY[kind]).alias("priority"),
                "score",
                "reason",
                pl.lit(ranking.model[0]).alias("model_name"),
                pl.lit(ranking.model[1], dtype=pl.Int64).alias("model_version"),
                pl.lit(created.isoformat()).alias("created_at"),
                pl.lit(expires.isoformat()).alias("expires_at"),
            )
        )
    buffer = io.BytesIO()
    pl.concat(parts).write_csv(buffer, include_header=False)
    with conn.transaction():
        run_sql_file(conn, "ml/recommendations_delete_day.sql", {"day": day, "types": TYPES})
        with conn.cursor() as cursor, cursor.copy(read_sql("ml/recommendations_copy.sql")) as copy:
            copy.write(buffer.getvalue())
    return ScoringReport(
        len(day_items.user_ids),
        parts[0].height,
        parts[1].height,
        promotion.model[0],
        promotion.model[1],
        new_feature.model[0],
        fallback,
        window.method,
    )
