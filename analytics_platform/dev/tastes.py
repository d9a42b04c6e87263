"""Persistent user tastes: the ground truth the recommendation models may learn from.

`world.py` gives every user a fixed activity weight and a category taste. This module
adds what makes a user's future depend on their observable past, so that a model has
real signal (and noise, so that it is not trivial). Per user, drawn once from the
tastes' own seeded RNGs (the generator's other draws are untouched; the segments have an
RNG of their own, so the churn and drift draws are the same with or without them):

- engagement: a multiplier on the activity weight, starting at 1. Habits drift: every
  day it takes a small log-normal step (sigma `DRIFT_SIGMA`), kept within
  `ENGAGEMENT_BOUNDS`.
- churn: each day an engaged user starts to lapse with a hazard of
  `BASE_CHURN_HAZARD` x a hidden per-user propensity (log-normal, sigma
  `PROPENSITY_SIGMA`: the unobservable noise) x `FAILURE_CHURN_FACTOR` per failed
  payment the user met in the last `FAILURE_MEMORY_DAYS` days (capped at
  `MAX_FAILURES_COUNTED`) x (median activity / the user's activity) ^
  `LOW_ACTIVITY_CHURN_EXPONENT` (occasional users leave more easily). A lapsing user's
  engagement then falls by `LAPSE_DECAY` a day, so the slowdown shows in the weeks
  before the silence (observable: a falling trend), until the user is dormant.
  A dormant (or lapsing) user comes back with probability `RETURN_PROBABILITY` a day.
- taste segments (`segments.py`: communities sharing category tilts, merchants, payment
  methods and debit types): each user has a primary segment (drawn by the segments'
  sizes) and a different secondary one, and acts from the primary with a per-user
  probability uniform in `PRIMARY_SEGMENT_SHARE`, else from the secondary (noise: no
  user is a pure type). A transaction draws its type and payment method from the
  segment it is acted from; the user's category taste is `world.py`'s Dirichlet draw
  tilted by the two segments' category tilts (mixed by that probability).
- favourite merchants: per user and category, `FAVOURITES_PER_CATEGORY` merchants of
  that category, each drawn from the merchants of the segment the user acts from with
  probability `FAVOURITE_FROM_SEGMENT`, else by popularity; a payment in the category
  goes to one of them with probability `FAVOURITE_MERCHANT_SHARE` (uniformly), else to a
  merchant of the transaction's segment with probability `SEGMENT_MERCHANT_SHARE` (by the
  segment's weights), else by popularity. Users keep trying new merchants: those draws,
  and favourites that change (see drift), reach merchants the user never paid, mostly
  their community's: what collaborative filtering can learn from other users.
- drift of tastes: each day a user replaces one favourite (a random category and slot)
  with probability `FAVOURITE_CHANGE_PROBABILITY`, drawn as above, and moves to their
  secondary segment (the two swap) with probability `SEGMENT_MOVE_PROBABILITY`.
- monthly habits: per user and shop category, a rhythm over the days of the month (some
  shop for groceries right after payday, others book travel at the month's end): the
  category's weight on a day is the user's taste x exp(k cos(2 pi (position in the month -
  peak))) / I0(k) (a von Mises bump, mean 1 over the month), then normalized over the
  categories. The concentration k is uniform in [0, `MAX_MONTHLY_CONCENTRATION`] (0: no
  rhythm), the peak uniform over the month, both fixed per (user, category) and drawn from
  a separate RNG (`_HABIT_SALT`), so the other tastes' draws are unchanged. The rhythm
  moves spending within the month, not its monthly amount: how much of the usual month
  is spent by day d is a persistent, learnable habit (for BUDGET_ALERT).
  `monthly_habits=False` leaves it out (and every other taste in place).

`segments=False` (`GeneratorConfig.taste_segments`) leaves the segments out: favourites
only in shop categories, drawn by popularity alone, types and methods from the global
tables (the world before segments, draw for draw). With `enabled=False` (a world without
signal, for tests) every user has the same
activity weight, engagement stays 1 (no drift, no churn), there are no segments, no favourite
merchants and no monthly rhythm (a category's share is the same every day): who pays
when is then a memoryless draw that no feature can predict.

Nothing in the platform reads these values: models see only the events they cause.
"""

from __future__ import annotations

import calendar

import numpy as np

from analytics_platform.dev import world as w
from analytics_platform.dev.segments import COUNT as SEGMENT_COUNT
from analytics_platform.dev.segments import Segments, build_segments

BASE_CHURN_HAZARD = 0.006
PROPENSITY_SIGMA = 0.6
FAILURE_CHURN_FACTOR = 2.0
FAILURE_MEMORY_DAYS = 7
MAX_FAILURES_COUNTED = 3
LOW_ACTIVITY_CHURN_EXPONENT = 0.35
LAPSE_DECAY = 0.75
DORMANT_ENGAGEMENT = 0.02
RETURN_PROBABILITY = 0.01
DRIFT_SIGMA = 0.05
ENGAGEMENT_BOUNDS = (0.3, 2.0)
FAVOURITES_PER_CATEGORY = 2
FAVOURITE_MERCHANT_SHARE = 0.5
MAX_MONTHLY_CONCENTRATION = 6.0
# Membership of the taste segments (dev/segments.py; see the module's docstring).
PRIMARY_SEGMENT_SHARE = (0.6, 1.0)
FAVOURITE_FROM_SEGMENT = 0.9
SEGMENT_MERCHANT_SHARE = 0.85
FAVOURITE_CHANGE_PROBABILITY = 0.02
SEGMENT_MOVE_PROBABILITY = 0.002
# The tastes' RNG is seeded from (generator seed, this salt), apart from the generator's.
_RNG_SALT = 14
_HABIT_SALT = 1
_SEGMENT_SALT = 2


class Tastes:
    """The evolving per-user state the generator consults once per simulated day."""

    def __init__(
        self,
        world: w.World,
        seed: int,
        enabled: bool = True,
        monthly_habits: bool = True,
        segments: bool = True,
    ) -> None:
        self.enabled = enabled
        self.monthly_habits = enabled and monthly_habits
        self.segmented = enabled and segments
        self.rng = np.random.default_rng([seed, _RNG_SALT])
        # Segments draw from their own RNG, so the other tastes' draws are unchanged.
        self.segment_rng = np.random.default_rng([seed, _RNG_SALT, _SEGMENT_SALT])
        users, merchants = world.users, world.merchants
        self.merchants = merchants
        count = len(users)
        self.activity = users.activity if enabled else np.ones(count)
        self.engagement = np.ones(count)
        self.lapsing = np.zeros(count, dtype=bool)
        self.propensity = self.rng.lognormal(0.0, PROPENSITY_SIGMA, count)
        median = float(np.median(self.activity))
        self.activity_hazard = (median / self.activity) ** LOW_ACTIVITY_CHURN_EXPONENT
        # Failed payments met per day, the last FAILURE_MEMORY_DAYS days (ring buffer).
        self.failures = np.zeros((FAILURE_MEMORY_DAYS, count), dtype=np.int64)
        self.day_index = 0
        self.segments: Segments | None = None
        if self.segmented:
            srng = self.segment_rng
            self.segments = build_segments(srng, merchants)
            self.primary = srng.choice(SEGMENT_COUNT, size=count, p=self.segments.sizes)
            self.secondary = (self.primary + srng.integers(1, SEGMENT_COUNT, count)) % SEGMENT_COUNT
            self.primary_share = srng.uniform(*PRIMARY_SEGMENT_SHARE, count)
        # favourites[u, c, k]: the k-th favourite merchant of user u in category c (-1: none).
        self.favourites = np.full(
            (count, len(w.CATEGORIES), FAVOURITES_PER_CATEGORY), -1, dtype=np.int64
        )
        if enabled:
            for category in w.SHOP_CATEGORIES:
                cumsum = merchants.popularity_cumsum_by_category[category]
                draws = self.rng.random((count, FAVOURITES_PER_CATEGORY)) * cumsum[-1]
                position = np.minimum(np.searchsorted(cumsum, draws), len(cumsum) - 1)
                self.favourites[:, category, :] = merchants.by_category[category][position]
        if self.segmented:
            # Most favourites come from the user's segments; billers too (a community
            # shares its electricity and phone companies).
            for category in w.BILLER_CATEGORIES:
                cumsum = merchants.popularity_cumsum_by_category[category]
                draws = self.segment_rng.random((count, FAVOURITES_PER_CATEGORY)) * cumsum[-1]
                position = np.minimum(np.searchsorted(cumsum, draws), len(cumsum) - 1)
                self.favourites[:, category, :] = merchants.by_category[category][position]
            for slot in range(FAVOURITES_PER_CATEGORY):
                users_all = np.arange(count)
                for category in range(len(w.CATEGORIES)):
                    self._replace_favourites(users_all, category, slot, FAVOURITE_FROM_SEGMENT)
        self.weights_cumsum = np.cumsum(self.activity * self.engagement)
        # Per user: cumulative shop-category shares of the day (see start_day).
        self.world_taste_cumsum = users.taste_cumsum
        self.world_taste = np.diff(users.taste_cumsum, axis=1, prepend=0.0)
        self._set_taste()
        habits = np.random.default_rng([seed, _RNG_SALT, _HABIT_SALT])
        shape = self.taste.shape
        self.monthly_concentration = habits.uniform(0.0, MAX_MONTHLY_CONCENTRATION, shape)
        self.monthly_peak = habits.random(shape)
        self.monthly_scale = 1.0 / np.i0(self.monthly_concentration)

    def _set_taste(self) -> None:
        """The shop-category taste: the world's, tilted by the user's segments."""
        taste = self.world_taste
        if self.segments is None:
            self.taste, self.taste_cumsum = taste, self.world_taste_cumsum
            return
        tilt = self.segments.category_tilt
        share = self.primary_share[:, np.newaxis]
        taste = taste * (share * tilt[self.primary] + (1.0 - share) * tilt[self.secondary])
        taste = taste / taste.sum(axis=1, keepdims=True)
        self.taste = taste
        taste_cumsum = np.cumsum(taste, axis=1)
        taste_cumsum[:, -1] = 1.0  # guards the last bucket against rounding below 1
        self.taste_cumsum = taste_cumsum

    def user_segments(self, users: np.ndarray) -> np.ndarray:
        """The segment each of `users` acts from this time: the primary one with the user's
        primary share, else the secondary (segmented tastes only)."""
        primary = self.segment_rng.random(len(users)) < self.primary_share[users]
        return np.where(primary, self.primary[users], self.secondary[users])

    def _replace_favourites(
        self, users: np.ndarray, category: int, slot: int, from_segment: float
    ) -> None:
        """New favourites of `users` in one category and slot: a merchant of the segment
        they act from with probability `from_segment`, else by popularity."""
        if len(users) == 0 or self.segments is None:
            return
        rng, merchants = self.segment_rng, self.merchants
        cumsum = merchants.popularity_cumsum_by_category[category]
        position = np.minimum(
            np.searchsorted(cumsum, rng.random(len(users)) * cumsum[-1]), len(cumsum) - 1
        )
        popular = merchants.by_category[category][position]
        categories = np.full(len(users), category)
        shared = self.segments.draw_merchants(rng, self.user_segments(users), categories)
        use_shared = rng.random(len(users)) < from_segment
        self.favourites[users, category, slot] = np.where(use_shared, shared, popular)

    def start_day(self, day_start_us: int) -> None:
        """Drift, lapse and return for the day about to be simulated (the 24 hours from
        `day_start_us`); refresh the weights and the day's category shares."""
        if not self.enabled:
            return
        if self.segmented:
            self._segment_drift()
        if self.monthly_habits:
            self._monthly_rhythm(day_start_us)
        rng, count = self.rng, len(self.engagement)
        drift = rng.lognormal(0.0, DRIFT_SIGMA, count)
        steady = ~self.lapsing
        self.engagement[steady] = np.clip(
            self.engagement[steady] * drift[steady], *ENGAGEMENT_BOUNDS
        )
        failures = np.minimum(self.failures.sum(axis=0), MAX_FAILURES_COUNTED)
        hazard = (
            BASE_CHURN_HAZARD
            * self.propensity
            * self.activity_hazard
            * FAILURE_CHURN_FACTOR**failures
        )
        starts = steady & (rng.random(count) < hazard)
        self.lapsing |= starts
        self.engagement[self.lapsing] = np.maximum(
            DORMANT_ENGAGEMENT, self.engagement[self.lapsing] * LAPSE_DECAY
        )
        returns = self.lapsing & ~starts & (rng.random(count) < RETURN_PROBABILITY)
        self.lapsing[returns] = False
        self.engagement[returns] = 1.0
        self.weights_cumsum = np.cumsum(self.activity * self.engagement)

    def _segment_drift(self) -> None:
        """Some users move to their secondary segment (the two swap); some replace one
        favourite merchant (a new shop opened nearby, a friend's tip)."""
        rng, count = self.segment_rng, len(self.primary)
        moves = np.flatnonzero(rng.random(count) < SEGMENT_MOVE_PROBABILITY)
        if len(moves):
            self.primary[moves], self.secondary[moves] = self.secondary[moves], self.primary[moves]
            self._set_taste()
        changes = np.flatnonzero(rng.random(count) < FAVOURITE_CHANGE_PROBABILITY)
        categories = rng.integers(0, len(w.CATEGORIES), len(changes))
        slots = rng.integers(0, FAVOURITES_PER_CATEGORY, len(changes))
        for category in range(len(w.CATEGORIES)):
            for slot in range(FAVOURITES_PER_CATEGORY):
                rows = changes[(categories == category) & (slots == slot)]
                self._replace_favourites(rows, category, slot, FAVOURITE_FROM_SEGMENT)

    def _monthly_rhythm(self, day_start_us: int) -> None:
        """The day's shop-category shares: taste x each category's monthly rhythm."""
        day = np.datetime64((day_start_us + w.MICROS_PER_DAY // 2) // w.MICROS_PER_DAY, "D")
        day = day.astype(object)
        position = (day.day - 0.5) / calendar.monthrange(day.year, day.month)[1]
        rhythm = self.monthly_scale * np.exp(
            self.monthly_concentration * np.cos(2.0 * np.pi * (position - self.monthly_peak))
        )
        taste_cumsum = np.cumsum(self.taste * rhythm, axis=1)
        taste_cumsum /= taste_cumsum[:, -1:]
        taste_cumsum[:, -1] = 1.0  # guards the last bucket against rounding below 1
        self.taste_cumsum = taste_cumsum

    def end_day(self, users: np.ndarray, failed: np.ndarray) -> None:
        """Remember the failed payments each user met today (`failed` is a bool mask)."""
        if not self.enabled:
            return
        slot = self.day_index % FAILURE_MEMORY_DAYS
        self.failures[slot] = np.bincount(users[failed], minlength=len(self.engagement))
        self.day_index += 1

    def transaction_segments(self, users: np.ndarray) -> np.ndarray | None:
        """The segment each transaction of `users` is drawn from (None: no segments)."""
        if self.segments is None:
            return None
        return self.user_segments(users)

    def choose_merchants(
        self,
        users: np.ndarray,
        categories: np.ndarray,
        merchants: np.ndarray,
        segments: np.ndarray | None = None,
    ) -> np.ndarray:
        """`merchants` with a share of shop payments moved to the payer's favourites, and
        (with segments) a share of the rest to the merchants of the transaction's segment."""
        if not self.enabled or len(users) == 0:
            return merchants
        category_index = np.minimum(categories, len(w.CATEGORIES) - 1)
        favourite = self.favourites[
            users,
            category_index,
            self.rng.integers(0, FAVOURITES_PER_CATEGORY, len(users)),
        ]
        use = (
            (categories < len(w.CATEGORIES))
            & (favourite >= 0)
            & (self.rng.random(len(users)) < FAVOURITE_MERCHANT_SHARE)
        )
        chosen = np.where(use, favourite, merchants)
        if self.segments is not None and segments is not None:
            shared = (
                ~use
                & (categories < len(w.CATEGORIES))
                & (self.segment_rng.random(len(users)) < SEGMENT_MERCHANT_SHARE)
            )
            rows = np.flatnonzero(shared)
            chosen[rows] = self.segments.draw_merchants(
                self.segment_rng, segments[rows], category_index[rows]
            )
        return chosen
