"""Offline evaluation: whether a model earns its place against a baseline.

A model "beats" a reference (the baseline rule, or the current champion) when the lower
end of a 95 % user-level bootstrap interval of its AUC gain on the holdout is above
`min_gain`: a gain the size of the noise (a world with no signal) is no gain. Users,
not rows, are resampled, because one user's days are not independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 14


@dataclass(frozen=True)
class AucGain:
    """The AUC gain of scores over reference scores, with its bootstrap interval."""

    auc: float
    reference_auc: float
    gain_low: float  # 2.5 % quantile of the bootstrap gains
    gain_high: float  # 97.5 %

    def beats(self, min_gain: float) -> bool:
        return self.gain_low > min_gain


def _tie_groups(scores: np.ndarray) -> np.ndarray:
    """Per row, the rank of its distinct score (equal scores share a group)."""
    return np.unique(scores, return_inverse=True)[1]


def _weighted_auc(groups: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """AUC as the weighted Mann-Whitney statistic (ties count one half), in O(rows)."""
    size = int(groups.max()) + 1
    positive = np.bincount(groups, weights * labels, minlength=size)
    negative = np.bincount(groups, weights * ~labels, minlength=size)
    below = np.cumsum(negative) - negative
    total = positive.sum() * negative.sum()
    return float((positive * (below + 0.5 * negative)).sum() / total) if total else float("nan")


def auc_gain(
    labels: np.ndarray, scores: np.ndarray, reference: np.ndarray, groups: np.ndarray
) -> AucGain:
    """AUC of `scores` and `reference` (higher = more likely positive) on `labels`, and a
    bootstrap over the distinct `groups` (users) of the difference. Deterministic."""
    labels = labels.astype(bool)
    _, group_index = np.unique(groups, return_inverse=True)
    score_ties, reference_ties = _tie_groups(scores), _tie_groups(reference)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    group_count = int(group_index.max()) + 1
    gains = np.empty(BOOTSTRAP_ROUNDS)
    for round_ in range(BOOTSTRAP_ROUNDS):
        drawn = np.bincount(rng.integers(0, group_count, group_count), minlength=group_count)
        weights = drawn[group_index].astype(np.float64)
        gains[round_] = _weighted_auc(score_ties, labels, weights) - _weighted_auc(
            reference_ties, labels, weights
        )
    gains = gains[~np.isnan(gains)]
    low, high = np.quantile(gains, [0.025, 0.975]) if len(gains) else (-np.inf, np.inf)
    ones = np.ones(len(labels))
    return AucGain(
        auc=_weighted_auc(score_ties, labels, ones),
        reference_auc=_weighted_auc(reference_ties, labels, ones),
        gain_low=float(low),
        gain_high=float(high),
    )


@dataclass(frozen=True)
class MaeGain:
    """The relative MAE reduction of errors over reference errors (1 - mae / reference),
    with its bootstrap interval (users resampled, as for the AUC gain)."""

    mae: float
    reference_mae: float
    gain_low: float  # 2.5 % quantile of the bootstrap reductions
    gain_high: float  # 97.5 %

    def beats(self, min_gain: float) -> bool:
        return self.gain_low > min_gain


def mae_gain(errors: np.ndarray, reference: np.ndarray, groups: np.ndarray) -> MaeGain:
    """MAE of absolute `errors` and `reference` errors per row, and a bootstrap over the
    distinct `groups` (users) of 1 - MAE / reference MAE. Deterministic."""
    _, group_index = np.unique(groups, return_inverse=True)
    group_count = int(group_index.max()) + 1
    own = np.bincount(group_index, errors, minlength=group_count)
    other = np.bincount(group_index, reference, minlength=group_count)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    drawn = np.stack(
        [
            np.bincount(rng.integers(0, group_count, group_count), minlength=group_count)
            for _ in range(BOOTSTRAP_ROUNDS)
        ]
    ).astype(np.float64)
    # Row counts cancel in the ratio of the two weighted sums.
    with np.errstate(divide="ignore", invalid="ignore"):
        gains = 1.0 - (drawn @ own) / (drawn @ other)
    gains = gains[np.isfinite(gains)]
    low, high = np.quantile(gains, [0.025, 0.975]) if len(gains) else (-np.inf, np.inf)
    return MaeGain(
        mae=float(errors.mean()),
        reference_mae=float(reference.mean()),
        gain_low=float(low),
        gain_high=float(high),
    )
