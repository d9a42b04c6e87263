"""The generator's tastes (dev/tastes.py) leave traces a model can learn from."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from analytics_platform.dev.generator import GeneratorConfig, generate_events

START = datetime(2026, 1, 1, tzinfo=UTC)


def payments_by_user(tastes: bool) -> dict[str, list[tuple[int, str]]]:
    """Per user: (day index, merchant) of each successful payment in a 42-day world."""
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
    payments: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for event in generate_events(config):
        if event.topic != "transactions":
            continue
        doc = json.loads(event.value)
        if doc["status"] == "SUCCESS" and doc["transaction_type"] == "PAYMENT":
            day = (event.occurred_at - START).days
            payments[doc["user_id"]].append((day, doc["merchant_id"]))
    return payments


@pytest.fixture(scope="module")
def worlds() -> dict[bool, dict[str, list[tuple[int, str]]]]:
    return {tastes: payments_by_user(tastes) for tastes in (True, False)}


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
