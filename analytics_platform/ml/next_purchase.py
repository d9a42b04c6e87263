"""NEW_FEATURE and PROMOTION: which items a user is likely to use next that they have not
used yet, by collaborative filtering on the user x item matrix (`interactions.py`).

Model (`ItemScorer`, kind "svd"): the counts weighted as log(1 + count), a
TruncatedSVD of that matrix, and a user's scores = their weighted row projected on the
item factors and back (fold-in: a user unseen at training time is scored from their own
row), plus `POPULARITY_WEIGHT` x log-popularity, which ranks the items a user's row says
nothing about. Rank 8 and weight 0.3 were the best of ranks 4-32, weights 0-1 and
weightings log1p, tf-idf and BM25-like (log1p x sqrt(idf)) on generated worlds of
600-10,000 users (docs/recommendations.md); tf-idf lost on every world (it removes the
popularity the reconstruction needs), sqrt(idf) won only on one. Baseline
(`ItemScorer`, kind "popularity"): the share of training users who used the item, the
same for everyone.

Evaluation, time-based, from the last day `last_day` whose events are all loaded:
- holdout: the last `holdout_days` days; cut-off: the end of the day before;
- history: the `history_days` days up to the cut-off; the model is fitted on them only;
- per user and group of kinds, the relevant items are those used in the holdout and
  NOT in the history (new to the user: what a recommendation of an untried item
  could have prompted); users with no such item are not scored;
- both rankings exclude the user's history items; recall@k and NDCG@k per user; the
  gain's 95 % bootstrap interval over users (`ranking_metrics.mean_gain`).
Groups: PROMOTION ranks merchants, NEW_FEATURE payment methods and transaction types.
Accepted (the blocking check) when the lower end of PROMOTION's NDCG@k gain interval
over popularity, and over the current champion, is above `MIN_NDCG_GAIN`. NEW_FEATURE
has its own verdict (`new_feature_accepted` in the metrics): the champion ranks
untried features only if it also beat popularity there, else popularity does.
Nothing here reads the generator's ground truth: only events before the cut-off, and
outcomes after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import psycopg
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from threadpoolctl import threadpool_limits

from analytics_platform.ml import interactions as ia
from analytics_platform.ml import model_store
from analytics_platform.ml.ranking_metrics import MeanGain, hits_at_k, mean_gain, recall_and_ndcg

MODEL_NAME = "next_purchase"
BASELINE_MODEL_NAME = "baseline:popularity"
PROMOTION_KINDS: tuple[str, ...] = (ia.MERCHANT,)
NEW_FEATURE_KINDS: tuple[str, ...] = (ia.PAYMENT_METHOD, ia.TRANSACTION_TYPE)
# The scheduled training's windows: two weeks of outcomes after 90 days of history (the
# look-back of the features and of scoring).
HOLDOUT_DAYS = 14
HISTORY_DAYS = 90
TOP_K = 5
# The smallest NDCG@k gain worth a model (lower end of the bootstrap interval).
MIN_NDCG_GAIN = 0.0
# Merchants beyond the most used ones are neither factored nor recommended: their
# columns cost memory and time at scale and carry too few users to learn from.
MAX_MERCHANTS = 2_000
SVD_PARAMETERS: dict[str, Any] = {
    "n_components": 8,
    "algorithm": "randomized",
    "n_iter": 7,
    "random_state": 14,
}
POPULARITY_WEIGHT = 0.3
BATCH_USERS = 4_096


class NotEnoughHistoryError(ValueError):
    """The loaded history is too short or too sparse for the windows asked for."""


@dataclass(frozen=True)
class ItemScorer:
    """A fitted ranking over a fixed, sorted item vocabulary (what ml.models stores)."""

    kind: str  # "svd" or "popularity"
    items: np.ndarray  # str `kind:value`, sorted
    labels: np.ndarray  # per item: a merchant's category, else the value
    popularity: np.ndarray  # float64: share of training users who used the item
    components: np.ndarray | None = None  # float32 (factors, items); None: popularity
    # Stored with the version, so that a stored model scores as it was evaluated.
    popularity_weight: float = 0.0
    parameters: dict[str, Any] = field(default_factory=dict)

    def scores(self, counts: sp.csr_matrix, columns: np.ndarray) -> np.ndarray:
        """(users, len(columns)) float32 scores of users' count rows (over `self.items`)
        for the items `columns` (the baseline's: the share of users who used the item)."""
        if self.components is None:
            shares = self.popularity[columns].astype(np.float32)
            return np.broadcast_to(shares, (counts.shape[0], len(columns))).copy()
        prior = np.log(self.popularity[columns] + 1e-6).astype(np.float32)
        weighted = counts.astype(np.float32)
        weighted.data = np.log1p(weighted.data)
        factors = weighted @ self.components.T
        return factors @ self.components[:, columns] + self.popularity_weight * prior


def _vocabulary(history: ia.Interactions) -> np.ndarray:
    """History columns kept: every feature item, the MAX_MERCHANTS most used merchants."""
    users_per_item = np.asarray((history.counts > 0).sum(axis=0)).ravel()
    merchants = history.kind_mask(PROMOTION_KINDS)
    keep = ~merchants
    ranked = np.flatnonzero(merchants)[np.argsort(-users_per_item[merchants], kind="stable")]
    keep[ranked[:MAX_MERCHANTS]] = True
    return np.flatnonzero(keep)


def fit(history: ia.Interactions) -> tuple[ItemScorer, ItemScorer]:
    """The SVD model and the popularity baseline, fitted on the history only."""
    users = history.counts.shape[0]
    columns = _vocabulary(history)
    counts = history.counts[:, columns]
    users_per_item = np.asarray((counts > 0).sum(axis=0)).ravel().astype(np.float64)
    rank = min(SVD_PARAMETERS["n_components"], len(columns) - 1, users - 1)
    if rank < 2:
        raise NotEnoughHistoryError(
            f"{users} users and {len(columns)} items in the history: too few to factor; "
            "load more history or lengthen history_days"
        )
    popularity = users_per_item / users
    items, labels = history.items[columns], history.labels[columns]
    weighted = counts.astype(np.float64)
    weighted.data = np.log1p(weighted.data)
    parameters = {**SVD_PARAMETERS, "n_components": rank}
    # One BLAS thread: on a shared 2-core host more threads only spin.
    with threadpool_limits(limits=1):
        svd = TruncatedSVD(**parameters).fit(weighted)
    model = ItemScorer(
        "svd",
        items,
        labels,
        popularity,
        svd.components_.astype(np.float32),
        POPULARITY_WEIGHT,
        {**parameters, "popularity_weight": POPULARITY_WEIGHT, "weighting": "log1p"},
    )
    baseline = popularity_scorer(history)
    return model, baseline


def popularity_scorer(history: ia.Interactions) -> ItemScorer:
    """The baseline: every item of the history, ranked by the share of users who used it."""
    columns = _vocabulary(history)
    counts = history.counts[:, columns]
    users_per_item = np.asarray((counts > 0).sum(axis=0)).ravel().astype(np.float64)
    popularity = users_per_item / max(1, counts.shape[0])
    return ItemScorer("popularity", history.items[columns], history.labels[columns], popularity)


def top_items(
    scorer: ItemScorer, counts: sp.csr_matrix, kinds: tuple[str, ...], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per user (rows of `counts`, columns in `scorer.items` order): the indices into
    `scorer.items` of the k best items of `kinds` the user has not used, best first,
    and their scores; -1 / -inf where fewer than k are left. Batched, no per-user loop."""
    candidates = np.flatnonzero(_kind_mask(scorer.items, kinds))
    indices = np.full((counts.shape[0], k), -1, dtype=np.int64)
    values = np.full((counts.shape[0], k), -np.inf, dtype=np.float32)
    width = min(k, len(candidates))
    if width == 0:
        return indices, values
    if scorer.components is None:
        # Popularity ranks everyone alike: only the leading items can make anyone's top k.
        candidates = candidates[np.argsort(-scorer.popularity[candidates], kind="stable")]
    # One BLAS thread, set once: finding the BLAS libraries costs about 14 ms a call
    # (7 us per user at 20,000 users when it was set per batch, issue 14's profile).
    with threadpool_limits(limits=1):
        for start, stop in _batches(counts.shape[0]):
            batch = counts[start:stop]
            columns = candidates
            if scorer.components is None:
                most_used = int(np.diff(batch[:, candidates].tocsr().indptr).max(initial=0))
                columns = candidates[: width + most_used]
            scores = scorer.scores(batch, columns)
            used = batch[:, columns].tocoo()
            scores[used.row, used.col] = -np.inf
            part, best_scores = _best_first(scores, width)
            best = columns[part]
            best[~np.isfinite(best_scores)] = -1
            indices[start:stop, :width] = best
            values[start:stop, :width] = best_scores
    return indices, values


def _partitioned(scores: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `width` best columns and scores, best first, equal scores by column.
    Which of several columns tied at the k-th place makes the list is argpartition's
    choice: the same for the same row."""
    part = np.argpartition(-scores, width - 1, axis=1)[:, :width]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def _best_first(scores: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """`_partitioned`'s answer (the same columns and scores), about 10x cheaper: width + 1
    passes of argmax (the first of equal maxima, so equal scores come by column, as
    `_partitioned` orders them) pick each row's best columns; only rows where the k-th and
    the next score are equal (argpartition chooses which tied column makes the list) or
    a score is NaN are handed to `_partitioned`. Columns whose score is -inf are dropped by
    the caller, so a tie of -inf needs no hand-over. `scores` is restored before return.
    (issue 14: argpartition was the largest client cost of PROMOTION's ranking.)"""
    rows = np.arange(scores.shape[0])
    picked = np.empty((scores.shape[0], width + 1), dtype=np.intp)
    values = np.empty((scores.shape[0], width + 1), dtype=scores.dtype)
    for place in range(width + 1):
        best = scores.argmax(axis=1)
        picked[:, place] = best
        values[:, place] = scores[rows, best]
        scores[rows, best] = -np.inf
    # In reverse: a row left with only -inf picks an earlier place's column again.
    for place in reversed(range(width + 1)):
        scores[rows, picked[:, place]] = values[:, place]
    part, part_scores = picked[:, :width], values[:, :width]
    handed_over = np.isnan(values).any(axis=1) | (
        (values[:, width - 1] == values[:, width]) & np.isfinite(values[:, width])
    )
    if handed_over.any():
        part[handed_over], part_scores[handed_over] = _partitioned(scores[handed_over], width)
    return part, part_scores


def _kind_mask(items: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
    prefixes = tuple(f"{kind}:" for kind in kinds)
    return np.array([item.startswith(prefixes) for item in items], dtype=bool)


def _batches(count: int) -> Iterator[tuple[int, int]]:
    for start in range(0, count, BATCH_USERS):
        yield start, min(count, start + BATCH_USERS)


@dataclass(frozen=True)
class Windows:
    """The day ranges of one training (inclusive bounds); the cut-off is the end of
    `history_last`."""

    history_first: date
    history_last: date
    holdout_first: date
    holdout_last: date

    def as_tuple(self) -> tuple[date, date, date, date]:
        return (self.history_first, self.history_last, self.holdout_first, self.holdout_last)


def windows(last_day: date, holdout_days: int, history_days: int) -> Windows:
    holdout_first = last_day - timedelta(days=holdout_days - 1)
    history_last = holdout_first - timedelta(days=1)
    return Windows(
        history_last - timedelta(days=history_days - 1), history_last, holdout_first, last_day
    )


@dataclass(frozen=True)
class GroupEvaluation:
    """One group of kinds (PROMOTION or NEW_FEATURE) on the holdout."""

    users: int  # users with at least one new item of the group in the holdout
    recall: MeanGain  # against the popularity baseline
    ndcg: MeanGain
    against_champion: MeanGain | None  # NDCG@k against the champion

    def accepted(self, min_gain: float) -> bool:
        champion_ok = self.against_champion is None or self.against_champion.beats(min_gain)
        return self.ndcg.beats(min_gain) and champion_ok


@dataclass(frozen=True)
class Evaluation:
    promotion: GroupEvaluation
    new_feature: GroupEvaluation
    k: int

    def accepted(self, min_gain: float = MIN_NDCG_GAIN) -> bool:
        return self.promotion.accepted(min_gain)

    def metrics(self, min_gain: float = MIN_NDCG_GAIN) -> dict[str, float]:
        """Numeric metrics (PROMOTION's unprefixed, NEW_FEATURE's `new_feature_*`)."""
        metrics: dict[str, float] = {"k": float(self.k)}
        for prefix, group in (("", self.promotion), ("new_feature_", self.new_feature)):
            metrics |= {
                f"{prefix}recall_at_k": group.recall.value,
                f"{prefix}baseline_recall_at_k": group.recall.reference_value,
                f"{prefix}ndcg_at_k": group.ndcg.value,
                f"{prefix}baseline_ndcg_at_k": group.ndcg.reference_value,
                f"{prefix}ndcg_gain_low": group.ndcg.gain_low,
                f"{prefix}ndcg_gain_high": group.ndcg.gain_high,
                f"{prefix}holdout_users": float(group.users),
            }
            if group.against_champion is not None:
                metrics[f"{prefix}champion_ndcg_at_k"] = group.against_champion.reference_value
                metrics[f"{prefix}champion_gain_low"] = group.against_champion.gain_low
        metrics["new_feature_accepted"] = float(self.new_feature.accepted(min_gain))
        return metrics


def _ranked_keys(
    scorer: ItemScorer, history: ia.Interactions, kinds: tuple[str, ...], k: int
) -> np.ndarray:
    """(history users, k) item keys a scorer recommends ("" where none)."""
    indices, _ = top_items(scorer, ia.aligned(history, scorer.items), kinds, k)
    keys = np.append(scorer.items, "").astype(object)
    return keys[indices]


def _evaluate_group(
    history: ia.Interactions,
    holdout: ia.Interactions,
    kinds: tuple[str, ...],
    rankings: list[np.ndarray],
) -> tuple[int, list[tuple[np.ndarray, np.ndarray]]]:
    """Per ranking (over history users), recall@k and NDCG@k of the scored users."""
    rows = holdout.user_index(history.user_ids)
    users = np.flatnonzero(rows >= 0)
    future = holdout.counts[rows[users]]
    # New items of the group: used in the holdout, not in the history.
    past = ia.aligned(history, holdout.items)[users]
    relevant = ((future > 0).astype(np.int8) - (past > 0).astype(np.int8)) > 0
    relevant = relevant.multiply(holdout.kind_mask(kinds)[np.newaxis, :]).tocsr()
    relevant_counts = np.asarray(relevant.sum(axis=1)).ravel().astype(np.int64)
    scored = relevant_counts > 0
    relevant, relevant_counts = relevant[scored], relevant_counts[scored]
    results = []
    for keys in rankings:
        top = ia.positions(holdout.items, keys[users[scored]])
        results.append(recall_and_ndcg(hits_at_k(top, relevant), relevant_counts))
    return int(scored.sum()), results


def evaluate(
    model: ItemScorer,
    baseline: ItemScorer,
    champion: ItemScorer | None,
    history: ia.Interactions,
    holdout: ia.Interactions,
    k: int = TOP_K,
) -> Evaluation:
    """The model against the baseline (and the champion) on the users' new items."""
    groups = []
    for kinds in (PROMOTION_KINDS, NEW_FEATURE_KINDS):
        scorers = [model, baseline] + ([champion] if champion is not None else [])
        rankings = [_ranked_keys(scorer, history, kinds, k) for scorer in scorers]
        users, results = _evaluate_group(history, holdout, kinds, rankings)
        (recall, ndcg), (base_recall, base_ndcg) = results[0], results[1]
        groups.append(
            GroupEvaluation(
                users,
                mean_gain(recall, base_recall),
                mean_gain(ndcg, base_ndcg),
                mean_gain(ndcg, results[2][1]) if champion is not None else None,
            )
        )
    if groups[0].users == 0:
        raise NotEnoughHistoryError(
            "no user paid a new merchant in the holdout: nothing to evaluate; "
            "lengthen holdout_days or load more days"
        )
    return Evaluation(groups[0], groups[1], k)


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
    holdout_days: int = HOLDOUT_DAYS,
    history_days: int = HISTORY_DAYS,
) -> TrainingRun:
    """Fit on the history before the cut-off, evaluate on the holdout's new items against
    popularity and the current champion, and store the version with its verdict.
    (The benchmark's training callable: `train_and_store(conn, last_day, tz)`.)"""
    w = windows(last_day, holdout_days, history_days)
    history = ia.read(conn, w.history_first, w.history_last, tz)
    holdout = ia.read(conn, w.holdout_first, w.holdout_last, tz)
    model, baseline = fit(history)
    current = model_store.champion(conn, MODEL_NAME)
    evaluation = evaluate(
        model, baseline, current.estimator() if current else None, history, holdout
    )
    accepted = evaluation.accepted()
    parameters = {
        **model.parameters,
        "k": TOP_K,
        "min_ndcg_gain": MIN_NDCG_GAIN,
        "max_merchants": MAX_MERCHANTS,
        "holdout_days": holdout_days,
        "history_days": history_days,
    }
    data_seen = {
        "history_users": len(history.user_ids),
        "history_items": len(history.items),
        "model_items": len(model.items),
        "history_interactions": int(history.counts.sum()),
        "holdout_users": len(holdout.user_ids),
        "champion_version": current.version if current else None,
    }
    version = model_store.save(
        conn,
        MODEL_NAME,
        model,
        w.as_tuple(),
        parameters,
        evaluation.metrics(),
        data_seen,
        accepted,
    )
    return TrainingRun(version, w, evaluation, accepted, parameters, data_seen)
