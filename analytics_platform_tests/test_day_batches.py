"""The generator's events per topic and UTC day (dev/day_batches.py), as the
recommendations benchmark loads them: the same batches whatever the number of processes."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, date, datetime

import pytest

from analytics_platform.dev.day_batches import DayBatch, LateEventError, day_batches
from analytics_platform.dev.generator import TOPICS, GeneratorConfig, generate_events

CLEAN = GeneratorConfig(
    seed=11,
    days=4,
    events_per_day=400,
    users=400,
    start=datetime(2026, 1, 1, tzinfo=UTC),
    late_fraction=0.0,
    duplicate_fraction=0.0,
    malformed_fraction=0.0,
)
LOADED_TOPICS = ("transactions", "user-activity", "wallet-balances")


def _fingerprint(batches: list[DayBatch]) -> str:
    digest = hashlib.sha256()
    for batch in batches:
        digest.update(f"{batch.topic} {batch.day} {len(batch.values)}".encode())
        for key, value in zip(batch.keys, batch.values, strict=True):
            digest.update(key)
            digest.update(value)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def inline() -> list[DayBatch]:
    return list(day_batches(CLEAN, LOADED_TOPICS, processes=1))


def test_two_processes_hand_out_the_same_batches_in_the_same_order_as_one(inline):
    in_child = list(day_batches(CLEAN, LOADED_TOPICS, processes=2))

    assert [(b.topic, b.day, len(b.values)) for b in in_child] == [
        (b.topic, b.day, len(b.values)) for b in inline
    ]
    assert _fingerprint(in_child) == _fingerprint(inline)


def test_each_batch_holds_its_topics_events_of_one_utc_day_in_stream_order():
    batches = list(day_batches(CLEAN, TOPICS, processes=1))
    expected: dict[tuple[str, date], list[tuple[bytes, bytes]]] = defaultdict(list)
    for event in generate_events(CLEAN):
        expected[(event.topic, event.occurred_at.astimezone(UTC).date())].append(
            (event.key, event.value)
        )

    got = {(b.topic, b.day): list(zip(b.keys, b.values, strict=True)) for b in batches}
    assert len(got) == len(batches)  # each topic's day handed out once
    assert got == expected
    # Days in order, so a loader can number each topic's events as a Kafka partition's.
    for topic in TOPICS:
        days = [b.day for b in batches if b.topic == topic]
        assert days == sorted(days)


def test_an_event_dated_after_its_day_was_handed_out_is_refused():
    late = GeneratorConfig(
        seed=11,
        days=4,
        events_per_day=400,
        start=datetime(2026, 1, 1, tzinfo=UTC),
        late_fraction=0.3,
        duplicate_fraction=0.0,
        malformed_fraction=0.0,
    )

    with pytest.raises(LateEventError, match="late_fraction must be 0"):
        list(day_batches(late, LOADED_TOPICS, processes=1))


def test_unknown_topics_and_process_counts_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown topics"):
        day_batches(CLEAN, ("payments",))
    with pytest.raises(ValueError, match=r"1 .* or 2"):
        day_batches(CLEAN, LOADED_TOPICS, processes=3)
