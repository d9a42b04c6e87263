"""Top-k ranking metrics per user, and a user-level bootstrap of a mean gain.

recall@k: the share of a user's relevant items found in the top k (hits / relevant).
NDCG@k: binary relevance, gain 1 / log2(rank + 1), divided by the best possible DCG
with min(k, relevant) hits. Users with no relevant item are not scored (the caller
keeps only users with something to find).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 14


def hits_at_k(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """(users, k) bool: whether each of a user's top-k item indices is relevant.
    `top` may hold -1 (fewer than k candidates): never a hit."""
    users = np.repeat(np.arange(top.shape[0]), top.shape[1])
    columns = top.ravel()
    valid = columns >= 0
    found = np.zeros(len(columns), dtype=bool)
    if valid.any():
        found[valid] = np.asarray(relevant[users[valid], columns[valid]]).ravel() > 0
    return found.reshape(top.shape)


def recall_and_ndcg(hits: np.ndarray, relevant_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per user: recall@k and NDCG@k from `hits_at_k` and each user's relevant count."""
    k = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts
    ideal = np.cumsum(discounts)[np.minimum(relevant_counts, k) - 1]
    return hits.sum(axis=1) / relevant_counts, dcg / ideal


@dataclass(frozen=True)
class MeanGain:
    """The mean of a per-user metric for a model and a reference, and a 95 % bootstrap
    interval (users resampled) of the model's mean gain."""

    value: float
    reference_value: float
    gain_low: float
    gain_high: float

    def beats(self, min_gain: float) -> bool:
        return self.gain_low > min_gain


def mean_gain(values: np.ndarray, reference: np.ndarray) -> MeanGain:
    """Deterministic (seeded) bootstrap of mean(values - reference) over users."""
    count = len(values)
    if count == 0:
        return MeanGain(float("nan"), float("nan"), -np.inf, np.inf)
    differences = values - reference
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    gains = np.empty(BOOTSTRAP_ROUNDS)
    for round_ in range(BOOTSTRAP_ROUNDS):
        drawn = np.bincount(rng.integers(0, count, count), minlength=count)
        gains[round_] = float(drawn @ differences) / count
    low, high = np.quantile(gains, [0.025, 0.975])
    return MeanGain(float(values.mean()), float(reference.mean()), float(low), float(high))
