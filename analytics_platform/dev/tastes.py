"""Persistent user tastes: the ground truth the recommendation models may learn from.

`world.py` gives every user a fixed activity weight and a category taste. This module
adds what makes a user's future depend on their observable past, so that a model has
real signal (and noise, so that it is not trivial). Per user, drawn once from the
tastes' own seeded RNG (the generator's other draws are untouched):

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
- favourite merchants: per user and shop category, `FAVOURITES_PER_CATEGORY` merchants
  of that category drawn by popularity; a payment in the category goes to one of them
  with probability `FAVOURITE_MERCHANT_SHARE` (uniformly), else by popularity as before.
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

With `enabled=False` (a world without signal, for tests) every user has the same
activity weight, engagement stays 1 (no drift, no churn), there are no favourite
merchants and no monthly rhythm (a category's share is the same every day): who pays
when is then a memoryless draw that no feature can predict.

Nothing in the platform reads these values: models see only the events they cause.
"""

from __future__ import annotations

import calendar

import numpy as np

from analytics_platform.dev import world as w

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
# The tastes' RNG is seeded from (generator seed, this salt), apart from the generator's.
_RNG_SALT = 14
_HABIT_SALT = 1


class Tastes:
    """The evolving per-user state the generator consults once per simulated day."""

    def __init__(
        self, world: w.World, seed: int, enabled: bool = True, monthly_habits: bool = True
    ) -> None:
        self.enabled = enabled
        self.monthly_habits = enabled and monthly_habits
        self.rng = np.random.default_rng([seed, _RNG_SALT])
        users, merchants = world.users, world.merchants
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
        self.weights_cumsum = np.cumsum(self.activity * self.engagement)
        # Per user: cumulative shop-category shares of the day (see start_day).
        self.taste_cumsum = users.taste_cumsum
        self.taste = np.diff(users.taste_cumsum, axis=1, prepend=0.0)
        habits = np.random.default_rng([seed, _RNG_SALT, _HABIT_SALT])
        shape = self.taste.shape
        self.monthly_concentration = habits.uniform(0.0, MAX_MONTHLY_CONCENTRATION, shape)
        self.monthly_peak = habits.random(shape)
        self.monthly_scale = 1.0 / np.i0(self.monthly_concentration)

    def start_day(self, day_start_us: int) -> None:
        """Drift, lapse and return for the day about to be simulated (the 24 hours from
        `day_start_us`); refresh the weights and the day's category shares."""
        if not self.enabled:
            return
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

    def choose_merchants(
        self, users: np.ndarray, categories: np.ndarray, merchants: np.ndarray
    ) -> np.ndarray:
        """`merchants` with a share of shop payments moved to the payer's favourites."""
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
        return np.where(use, favourite, merchants)
