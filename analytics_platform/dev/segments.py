"""Taste segments: what groups of users share, so that one user's past says something about
another's future (the signal collaborative filtering exists for).

A segment is a community of users (a neighbourhood, a profession, a generation) with
shared preferences, drawn once per world from its own seeded RNG:
- a tilt of the shop-category taste (log-normal per category, sigma `CATEGORY_SIGMA`);
- its merchants: per category, a share `MERCHANT_SHARE` of the category's merchants (at
  least `MIN_MERCHANTS`: more than a user visits in a few weeks, so that there is always
  a merchant of the community left to discover; at most `MAX_MERCHANTS`: a community
  frequents a bounded number of shops however big the world), drawn without replacement
  with probability ~ popularity ^ `MERCHANT_POPULARITY_EXPONENT` (flatter than
  popularity, so segments differ beyond the few big names), each weighted by that power
  of its popularity x a log-normal factor (sigma `MERCHANT_SIGMA`);
- a tilt of the payment methods (log-normal per method, sigma `METHOD_SIGMA`) applied to
  every transaction type's methods (`world.METHOD_WEIGHTS_BY_TYPE`; a method a type never
  uses stays unused);
- a tilt of the debit types (PAYMENT, TRANSFER_OUT, WITHDRAWAL, BILL_PAYMENT; log-normal,
  sigma `DEBIT_TYPE_SIGMA`) that keeps their total share, so that the money coming in
  still roughly funds what goes out.
Segment sizes are a Dirichlet draw (concentration `SIZE_CONCENTRATION` per segment), so
some communities are bigger than others. How users belong to segments is `tastes.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics_platform.dev import world as w

COUNT = 8
SIZE_CONCENTRATION = 4.0
CATEGORY_SIGMA = 0.5
MERCHANT_SHARE = 0.05
MIN_MERCHANTS = 3
MAX_MERCHANTS = 15
MERCHANT_POPULARITY_EXPONENT = 0.3
MERCHANT_SIGMA = 0.5
METHOD_SIGMA = 1.0
DEBIT_TYPE_SIGMA = 0.5
_DEBIT_TYPES = np.array(sorted(w.DEBIT_TYPES))


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Cumulative probabilities along the last axis, the last exactly 1."""
    cum = np.cumsum(weights / weights.sum(axis=-1, keepdims=True), axis=-1)
    cum[..., -1] = 1.0
    return cum


@dataclass(frozen=True)
class Segments:
    """The shared preferences of each segment (index 0..COUNT-1)."""

    sizes: np.ndarray  # (segments,) shares of users, sum 1
    category_tilt: np.ndarray  # (segments, len(SHOP_CATEGORIES)) multipliers
    # (segments, len(CATEGORIES), the most merchants a segment has in a category): merchant
    # indices and the cumulative probability of each within the segment's merchants of
    # the category (padding at probability 0).
    merchants: np.ndarray
    merchant_cum: np.ndarray
    type_cum: np.ndarray  # (segments, len(TRANSACTION_TYPES)) cumulative
    method_cum: np.ndarray  # (segments, len(TRANSACTION_TYPES), len(PAYMENT_METHODS)) cumulative

    def draw_merchants(
        self, rng: np.random.Generator, segments: np.ndarray, categories: np.ndarray
    ) -> np.ndarray:
        """One merchant per row, from the row's segment's merchants of the row's category."""
        cum = self.merchant_cum[segments, categories]
        position = (rng.random(len(segments))[:, None] >= cum).sum(axis=1)
        position = np.minimum(position, cum.shape[1] - 1)
        return self.merchants[segments, categories, position]


def build_segments(rng: np.random.Generator, merchants: w.Merchants) -> Segments:
    sizes = rng.dirichlet(np.full(COUNT, SIZE_CONCENTRATION))
    category_tilt = rng.lognormal(0.0, CATEGORY_SIGMA, (COUNT, len(w.SHOP_CATEGORIES)))
    sizes_by_category = [
        min(len(members), MAX_MERCHANTS, max(MIN_MERCHANTS, round(MERCHANT_SHARE * len(members))))
        for members in merchants.by_category
    ]
    chosen = np.zeros((COUNT, len(w.CATEGORIES), max(sizes_by_category)), dtype=np.int64)
    weights = np.zeros(chosen.shape)
    for segment in range(COUNT):
        for category, members in enumerate(merchants.by_category):
            appeal = merchants.popularity[members] ** MERCHANT_POPULARITY_EXPONENT
            size = sizes_by_category[category]
            picked = rng.choice(len(members), size=size, replace=False, p=appeal / appeal.sum())
            # A category with fewer merchants repeats its first one at weight 0.
            chosen[segment, category] = members[picked[0]]
            chosen[segment, category, :size] = members[picked]
            weights[segment, category, :size] = appeal[picked] * rng.lognormal(
                0.0, MERCHANT_SIGMA, size
            )
    method_tilt = rng.lognormal(0.0, METHOD_SIGMA, (COUNT, 1, len(w.PAYMENT_METHODS)))
    methods = w.METHOD_WEIGHTS_BY_TYPE[np.newaxis] * method_tilt
    types = np.tile(w.TRANSACTION_TYPE_WEIGHTS, (COUNT, 1))
    tilt = rng.lognormal(0.0, DEBIT_TYPE_SIGMA, (COUNT, len(_DEBIT_TYPES)))
    debit = types[:, _DEBIT_TYPES] * tilt
    share = w.TRANSACTION_TYPE_WEIGHTS[_DEBIT_TYPES].sum()
    types[:, _DEBIT_TYPES] = debit / debit.sum(axis=1, keepdims=True) * share
    return Segments(
        sizes=sizes,
        category_tilt=category_tilt,
        merchants=chosen,
        merchant_cum=_cumulative(weights),
        type_cum=_cumulative(types),
        method_cum=_cumulative(methods),
    )
