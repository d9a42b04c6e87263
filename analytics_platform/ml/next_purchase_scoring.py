"""recommendations/daily, PROMOTION and NEW_FEATURE rows: one of each per user and day.

Eligible: every user with a successful transaction of their own in the `HISTORY_DAYS`
days up to the end of the day (the interactions of `interactions.py`). Per user:
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
them again (COPY) in one transaction. Scores are the ranking's own (comparable within a
type and model version); priority is fixed per type: nudges rank below alerts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import scipy.sparse as sp

from analytics_platform.ml import interactions as ia
from analytics_platform.ml import model_store
from analytics_platform.ml import next_purchase as npm
from analytics_platform.ml.scoring import VALID_DAYS, recommendation_id
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


def _value(item: str) -> str:
    return item.split(":", 1)[1]


def score_next_purchase(
    conn: psycopg.Connection, day: date, tz: str, history_days: int = npm.HISTORY_DAYS
) -> ScoringReport:
    """Replace the day's PROMOTION and NEW_FEATURE rows."""
    day_items = ia.read(conn, day - timedelta(days=history_days - 1), day, tz)
    promotion, new_feature, fallback = _rankings(conn, day_items)
    users = day_items.user_ids
    share = dict(zip(day_items.items, npm.popularity_scorer(day_items).popularity, strict=True))
    # The user's own numbers for the descriptions: payments per category, transactions.
    merchants = day_items.kind_mask(npm.PROMOTION_KINDS)
    categories, category_of = np.unique(day_items.labels[merchants], return_inverse=True)
    per_category = (
        day_items.counts[:, merchants]
        @ sp.csr_matrix(
            (np.ones(len(category_of)), (np.arange(len(category_of)), category_of)),
            shape=(len(category_of), len(categories)),
        )
    ).tocsr()
    category_column = {category: index for index, category in enumerate(categories)}
    transactions = np.asarray(
        day_items.counts[:, day_items.kind_mask((ia.TRANSACTION_TYPE,))].sum(axis=1)
    ).ravel()
    created = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(tz))
    expires = created + timedelta(days=VALID_DAYS)

    def ranked(ranking: _Ranking, kinds: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        counts = ia.aligned(day_items, ranking.scorer.items)
        indices, scores = npm.top_items(ranking.scorer, counts, kinds, 1 + RUNNERS_UP)
        keys = np.append(ranking.scorer.items, "").astype(object)[indices]
        labels = np.append(ranking.scorer.labels, "").astype(object)[indices]
        return np.stack([keys, labels]), scores

    rows: list[tuple[object, ...]] = []
    written = {}
    for kind, ranking, kinds in (
        (PROMOTION_TYPE, promotion, npm.PROMOTION_KINDS),
        (NEW_FEATURE_TYPE, new_feature, npm.NEW_FEATURE_KINDS),
    ):
        (keys, labels), scores = ranked(ranking, kinds)
        model_name, model_version = ranking.model
        before = len(rows)
        for row in np.flatnonzero(keys[:, 0] != ""):
            user, item, label = users[row], keys[row, 0], labels[row, 0]
            value = _value(item)
            users_share = 100.0 * share.get(item, 0.0)
            runners_up = [_value(k) for k in keys[row, 1:] if k]
            if kind == PROMOTION_TYPE:
                paid = (
                    int(per_category[row, category_column[label]])
                    if label in category_column
                    else 0
                )
                title = f"Discover {value}"
                habit = (
                    f"You made {paid} {label} payments in the last {history_days} days"
                    if paid
                    else f"You paid no {label} merchant in the last {history_days} days"
                )
                description = (
                    f"{habit} and have not tried {value}; {users_share:.0f}% of active "
                    "users pay there."
                )
                action = f"/merchants/{value}"
                evidence: dict[str, object] = {
                    "merchant_id": value,
                    "category": label,
                    "category_payments": paid,
                }
            else:
                feature = item.split(":", 1)[0]
                title = f"Try {value.replace('_', ' ').lower()}"
                description = (
                    f"You made {int(transactions[row])} transactions in the last "
                    f"{history_days} days, none by {value}; {users_share:.0f}% of active "
                    "users use it."
                )
                action = f"/wallet/features/{feature}/{value}"
                evidence = {feature: value, "transactions": int(transactions[row])}
            score = float(scores[row, 0])
            reason = {
                **evidence,
                "rank_score": round(score, 6),
                "active_users_share": round(users_share / 100.0, 6),
                "runners_up": runners_up,
                "history_days": history_days,
            }
            rows.append(
                (
                    recommendation_id(day, user, kind),
                    day,
                    user,
                    kind,
                    title,
                    description,
                    action,
                    PRIORITY[kind],
                    round(score, 6),
                    json.dumps(reason),
                    model_name,
                    model_version,
                    created,
                    expires,
                )
            )
        written[kind] = len(rows) - before
    with conn.transaction():
        run_sql_file(conn, "ml/recommendations_delete_day.sql", {"day": day, "types": TYPES})
        with conn.cursor() as cursor, cursor.copy(read_sql("ml/recommendations_copy.sql")) as copy:
            for record in rows:
                copy.write_row(record)
    return ScoringReport(
        len(users),
        written[PROMOTION_TYPE],
        written[NEW_FEATURE_TYPE],
        promotion.model[0],
        promotion.model[1],
        new_feature.model[0],
        fallback,
    )
