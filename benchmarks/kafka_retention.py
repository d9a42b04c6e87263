"""Measure how many events one partition of the embedded Kafka keeps.

librdkafka's mock cluster drops a partition's oldest record batches once it holds more
than 5 MiB of them (as sent on the wire, so compressed if the producer compresses) or
100k batches. Nothing configures that, so the only levers are the number of partitions
and how the producer batches and compresses. This script produces payment events
(about 330 and 420 bytes) into a 1-partition topic until the low watermark moves, keeps
producing until the log is in steady state, and reports the fewest messages the
partition held then (the figure to plan with). Run: `python benchmarks/kafka_retention.py`
(about 20 s); `make bench` calls `run()`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import platform
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import confluent_kafka
from confluent_kafka import Consumer, Producer

from analytics_platform.dev.kafka import MOCK_PARTITION_MAX_BYTES, EmbeddedKafka
from analytics_platform.resources.kafka import consumer_config, get_watermarks, producer_config
from analytics_platform.settings import load_settings

TARGET_TRANSACTIONS = 1_000_000
# Keyed events never spread perfectly evenly, and a demo may run more than once.
PLANNING_HEADROOM = 1.5
CHUNK = 1_000
MAX_IN_FLIGHT = 20_000
MIB = 1024 * 1024

TYPES = ["PAYMENT", "TRANSFER_IN", "TRANSFER_OUT", "TOPUP", "WITHDRAWAL", "REFUND", "BILL_PAYMENT"]
STATUSES = ["SUCCESS"] * 8 + ["PENDING", "FAILED"]
CATEGORIES = ["groceries", "dining", "transport", "utilities", "entertainment", "shopping"]
METHODS = ["card", "wallet", "bank_transfer"]


def payment_events(full: bool, seed: int = 7) -> Iterator[tuple[bytes, bytes]]:
    """Endless (key, value) pairs shaped like `analytics.transactions` events.

    `full` writes every field of the contract (nulls included, about 420 bytes with the
    key); otherwise optional fields are left out, as a lean producer would (about 330).
    """
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    while True:
        user = f"usr_{rng.randrange(50_000):06d}"
        status = rng.choice(STATUSES)
        event: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": (start + timedelta(seconds=rng.randrange(90 * 86400))).isoformat(),
            "user_id": user,
            "transaction_id": f"txn_{rng.getrandbits(48):012x}",
            "amount": f"{rng.uniform(1, 500):.2f}",
            "currency": rng.choice(["EUR", "USD", "GBP"]),
            "transaction_type": rng.choice(TYPES),
            "category": rng.choice(CATEGORIES),
            "status": status,
            "payment_method": rng.choice(METHODS),
            "retry_count": rng.choice([0, 0, 0, 1]),
            "processing_ms": rng.randrange(20, 900),
        }
        if full:
            event |= {
                "schema_version": 1,
                "merchant_id": f"mer_{rng.randrange(2_000):05d}",
                "recipient_id": None,
                "failure_reason": "insufficient_funds" if status == "FAILED" else None,
            }
        yield user.encode(), json.dumps(event, separators=(",", ":")).encode()


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str
    key: str  # metric name suffix; "" = shown in the table only
    full_events: bool
    overrides: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Retention:
    variant: Variant
    retained_min: int
    retained_median: float
    payload_bytes_per_message: float
    produced: int
    seconds: float

    @property
    def payload_mib(self) -> float:
        return self.retained_min * self.payload_bytes_per_message / MIB

    @property
    def wire_bytes_per_message(self) -> float:
        return MOCK_PARTITION_MAX_BYTES / self.retained_median


def measure(kafka: EmbeddedKafka, topic: str, variant: Variant) -> Retention:
    kafka.create_topic(topic, 1)
    settings = dataclasses.replace(load_settings(), kafka_bootstrap_servers=kafka.bootstrap_servers)
    producer = Producer(producer_config(settings, **variant.overrides))
    consumer = Consumer(consumer_config(settings, **{"group.id": "retention-bench"}))
    events = payment_events(variant.full_events)
    produced = payload = 0
    evicted_at_high: int | None = None
    high = 0
    samples: list[int] = []
    started = time.perf_counter()
    # No flush between chunks: flushing would cut batches at chunk boundaries, and the
    # log drops whole batches, so batch size must stay the producer's own choice.
    # Past the first eviction the log holds between (cap - one batch) and cap; sampling
    # until 2.5x that point makes the minimum a steady-state figure, not a lucky one.
    while evicted_at_high is None or high < 2.5 * evicted_at_high:
        if len(producer) < MAX_IN_FLIGHT:
            for key, value in itertools.islice(events, CHUNK):
                producer.produce(topic, value, key, partition=0)
                payload += len(key) + len(value)
            produced += CHUNK
        producer.poll(0 if len(producer) < MAX_IN_FLIGHT else 0.005)
        low, high = get_watermarks(consumer, topic, [0], timeout=10)[0]
        if low > 0:
            evicted_at_high = evicted_at_high or high
            samples.append(high - low)
        if high > 3_000_000:
            raise RuntimeError(f"{topic}: low watermark never moved after 3M messages")
    producer.flush(30)
    consumer.close()
    return Retention(
        variant=variant,
        retained_min=min(samples),
        retained_median=statistics.median(samples),
        payload_bytes_per_message=payload / produced,
        produced=produced,
        seconds=time.perf_counter() - started,
    )


NONE = {"compression.type": "none"}
VARIANTS = [
    Variant("~330 B, uncompressed, default batches", "uncompressed", False, NONE),
    Variant("~330 B, uncompressed, 16 KiB batches", "", False, NONE | {"batch.size": 16384}),
    Variant(
        "~330 B, uncompressed, 1 message per batch",
        "",
        False,
        NONE | {"batch.num.messages": 1, "linger.ms": 0},
    ),
    Variant("~330 B, lz4, platform producer_config", "lz4", False, {}),
    Variant("~330 B, lz4, 64 KiB batches", "", False, {"batch.size": 65536}),
    Variant("~330 B, lz4, 16 KiB batches", "", False, {"batch.size": 16384}),
    Variant("~330 B, zstd (not lz4)", "", False, {"compression.type": "zstd"}),
    Variant("~420 B, uncompressed, default batches", "uncompressed_full", True, NONE),
    Variant("~420 B, lz4, platform producer_config", "lz4_full", True, {}),
]


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"librdkafka {confluent_kafka.libversion()[0]}"
    )


def measure_all() -> list[Retention]:
    with EmbeddedKafka() as kafka:
        return [
            measure(kafka, f"retention-{index}", variant) for index, variant in enumerate(VARIANTS)
        ]


def partitions_needed(result: Retention) -> int:
    return math.ceil(TARGET_TRANSACTIONS * PLANNING_HEADROOM / result.retained_min)


def print_table(results: list[Retention]) -> None:
    rows: list[tuple[str, str, str]] = []
    for r in results:
        label = r.variant.label
        rows.append((f"{label}: messages kept", f"{r.retained_min:,}", "messages"))
        rows.append((f"{label}: payload kept", f"{r.payload_mib:.1f}", "MiB"))
        rows.append((f"{label}: log bytes/message", f"{r.wire_bytes_per_message:.0f}", "bytes"))
    for r in results:
        if r.variant.key:
            rows.append(
                (
                    f"partitions to keep 1M x{PLANNING_HEADROOM}, {r.variant.key}",
                    str(partitions_needed(r)),
                    "",
                )
            )
    rows.append(("wall time", f"{sum(r.seconds for r in results):.1f}", "s"))
    width = max(len(row[0]) for row in rows)
    print(f"{'what':<{width}}  {'figure':>8}  unit")
    print(f"{'-' * width}  {'-' * 8}  --------")
    for what, figure, unit in rows:
        print(f"{what:<{width}}  {figure:>8}  {unit}")
    print(f"machine: {machine()}")


def metrics_of(results: list[Retention]) -> dict[str, dict]:
    def metric(value: float, unit: str) -> dict[str, Any]:
        return {"value": value, "unit": unit, "target": None}

    by_key = {r.variant.key: r for r in results if r.variant.key}
    # The headline is the platform's own producer settings on full-contract events.
    headline = by_key["lz4_full"]
    metrics: dict[str, dict] = {
        "kafka_mock_retention_messages_per_partition": metric(headline.retained_min, "messages"),
        "kafka_mock_retention_mib_per_partition": metric(round(headline.payload_mib, 2), "MiB"),
    }
    for key, r in by_key.items():
        metrics[f"kafka_mock_retention_messages_per_partition_{key}"] = metric(
            r.retained_min, "messages"
        )
        metrics[f"kafka_mock_retention_mib_per_partition_{key}"] = metric(
            round(r.payload_mib, 2), "MiB"
        )
        metrics[f"kafka_mock_event_bytes_{key}"] = metric(
            round(r.payload_bytes_per_message), "bytes"
        )
        metrics[f"kafka_mock_partitions_for_1m_transactions_{key}"] = metric(
            partitions_needed(r), "partitions"
        )
    return metrics


def run() -> dict[str, dict]:
    """The metrics `make bench` merges into benchmarks/results/latest.json."""
    return metrics_of(measure_all())


if __name__ == "__main__":
    measured = measure_all()
    print_table(measured)
    print(json.dumps(metrics_of(measured), indent=2))
