"""The synthetic event generator's speed: events of all five topics per second.

Simulates a fixed window (two days, about 300k events) and counts every event it
yields, so the figure is whole simulated days; the generator builds a day before it
yields any of it, so stopping in the middle of one would flatter nothing but distort.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from analytics_platform.dev.generator import GeneratorConfig, generate_events

# Two days at this rate yield about 300k events (transactions are ~23 % of them).
CONFIG = GeneratorConfig(
    seed=11, days=2, events_per_day=27_000, start=datetime(2026, 1, 1, tzinfo=UTC)
)


def run() -> dict[str, dict]:
    started = time.perf_counter()
    count = sum(1 for _ in generate_events(CONFIG))
    elapsed = time.perf_counter() - started
    return {
        "generate_events_per_second": {
            "value": count / elapsed,
            "unit": "events/s",
            "target": None,
        },
        "generate_events": {"value": count, "unit": "events", "target": None},
    }


if __name__ == "__main__":
    for name, metric in run().items():
        print(name, metric)
