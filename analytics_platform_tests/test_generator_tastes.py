"""The generator's tastes (dev/tastes.py) leave traces a model can learn from."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime

import numpy as np
import pytest

from analytics_platform.dev.generator import GeneratorConfig, Simulation
from analytics_platform.dev.tastes import Tastes

START = datetime(2026, 1, 1, tzinfo=UTC)


Payments = dict[str, list[tuple[int, str]]]


def payments_by_user(tastes: bool) -> tuple[Payments, Simulation]:
    """Per user: (day index, merchant) of each successful payment in a 42-day world, and
    the simulation (its ground truth, which only the generator's tests may read)."""
    config = GeneratorConfig(
        seed=3,
        days=42,
        events_per_day=600,
        users=400,
        merchants=300,
        start=START,
        tastes=tastes,
        malformed_fraction=0.0,
    )
    simulation = Simulation(config)
    payments: Payments = defaultdict(list)
    for event in simulation.run():
        if event.topic != "transactions":
            continue
        doc = json.loads(event.value)
        if doc["status"] == "SUCCESS" and doc["transaction_type"] == "PAYMENT":
            day = (event.occurred_at - START).days
            payments[doc["user_id"]].append((day, doc["merchant_id"]))
    return payments, simulation


@pytest.fixture(scope="module")
def simulated() -> dict[bool, tuple[Payments, Simulation]]:
    return {tastes: payments_by_user(tastes) for tastes in (True, False)}


@pytest.fixture(scope="module")
def worlds(simulated) -> dict[bool, Payments]:
    return {tastes: payments for tastes, (payments, _) in simulated.items()}


def test_with_tastes_users_active_early_go_quiet_later_more_often(worlds):
    def quiet_share(payments: dict[str, list[tuple[int, str]]]) -> float:
        early = [days for days in payments.values() if sum(d < 7 for d, _ in days) >= 3]
        return sum(all(d < 28 for d, _ in days) for days in early) / len(early)

    assert quiet_share(worlds[True]) > quiet_share(worlds[False]) + 0.05


def test_with_tastes_a_users_top_merchant_takes_a_larger_share_of_their_payments(worlds):
    def top_share(payments: dict[str, list[tuple[int, str]]]) -> float:
        regulars = [days for days in payments.values() if len(days) >= 10]
        counts = [Counter(m for _, m in days) for days in regulars]
        return sum(c.most_common(1)[0][1] / c.total() for c in counts) / len(counts)

    assert top_share(worlds[True]) > 1.15 * top_share(worlds[False])


def segment_merchant_ids(tastes: Tastes, ids: list[str], segment: int) -> set[str]:
    assert tastes.segments is not None
    weights = np.diff(tastes.segments.merchant_cum[segment], axis=1, prepend=0.0)
    return {ids[m] for m in tastes.segments.merchants[segment][weights > 0].tolist()}


def test_with_tastes_users_pay_their_segments_merchants_more_than_another_segments(simulated):
    payments, simulation = simulated[True]
    tastes, ids = simulation.tastes, simulation.world.merchants.ids
    assert tastes.segments is not None
    segments = tastes.segments.merchants.shape[0]
    sets = [segment_merchant_ids(tastes, ids, s) for s in range(segments)]
    own, other = [], []
    for index, user in enumerate(simulation.world.users.ids):
        paid = [merchant for _, merchant in payments.get(user, [])]
        if len(paid) < 10:
            continue
        primary, secondary = int(tastes.primary[index]), int(tastes.secondary[index])
        # A segment that is neither of the user's: the next one not among them.
        stranger = (
            next(s for s in range(primary + 1, primary + segments) if s % segments != secondary)
            % segments
        )
        own.append(sum(m in sets[primary] for m in paid) / len(paid))
        other.append(sum(m in sets[stranger] for m in paid) / len(paid))
    assert len(own) > 100
    assert np.mean(own) > 2 * np.mean(other)


def test_without_tastes_there_are_no_segments(simulated):
    assert simulated[False][1].tastes.segments is None
