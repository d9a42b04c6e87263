"""Valid events per topic and a producer for the tests."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer

from analytics_platform.resources.kafka import producer_config, topic_name
from analytics_platform.settings import Settings

_ids = itertools.count(1)

TEMPLATES: dict[str, dict] = {
    "transactions": {
        "user_id": "usr_1",
        "transaction_id": "txn_1",
        "amount": "125.40",
        "currency": "IDR",
        "transaction_type": "PAYMENT",
        "category": "groceries",
        "status": "SUCCESS",
        "merchant_id": "mch_1",
        "recipient_id": None,
        "payment_method": "CARD",
        "failure_reason": None,
        "retry_count": 0,
        "processing_ms": 412,
        "metadata": {"channel": "app"},
    },
    "wallet-balances": {
        "user_id": "usr_1",
        "wallet_id": "wal_1",
        "balance": "1000.00",
        "currency": "IDR",
        "change_amount": "125.40",
        "change_type": "DEBIT",
    },
    "user-activity": {
        "user_id": "usr_1",
        "activity_type": "login",
        "session_id": "ses_1",
        "device_type": "android",
        "ip_address": "10.1.2.3",
        "user_agent": "PayApp/5.1",
        "duration_seconds": 30,
        "metadata": None,
    },
    "user-lifecycle": {
        "user_id": "usr_1",
        "event_type": "user.kyc_verified",
        "kyc_level": 2,
        "country": "ID",
    },
    "webhook-deliveries": {
        "merchant_id": "mch_1",
        "webhook_event_type": "payment.succeeded",
        "status": "DELIVERED",
        "attempt": 1,
        "http_status": 200,
        "latency_ms": 87,
    },
}

# Two days ago at 10:00 UTC: recent enough to be accepted, old enough to be in the past.
BASE_TIME = (datetime.now(UTC) - timedelta(days=2)).replace(
    hour=10, minute=0, second=0, microsecond=0
)


def event(topic: str, at: datetime | None = None, **fields: object) -> dict:
    """A valid event of `topic` with a fresh event_id; `fields` override the template."""
    return {
        "event_id": str(uuid.UUID(int=next(_ids), version=4)),
        "occurred_at": (at or BASE_TIME).isoformat(),
        "schema_version": 1,
        **TEMPLATES[topic],
        **fields,
    }


def events(
    topic: str, n: int, start: datetime = BASE_TIME, step: timedelta = timedelta(seconds=7)
) -> list[dict]:
    """`n` valid events `step` apart, spread over 50 users where the topic has users."""
    per_user = "user_id" in TEMPLATES[topic]
    return [
        event(topic, start + i * step, **({"user_id": f"usr_{i % 50}"} if per_user else {}))
        for i in range(n)
    ]


def produce(settings: Settings, topic: str, payloads: Iterable[dict | bytes]) -> int:
    """Produce to the prefixed topic, keyed like the real producers; returns the count."""
    producer = Producer(producer_config(settings))
    name = topic_name(settings, topic)
    count = 0
    for payload in payloads:
        if isinstance(payload, dict):
            key = str(payload.get("user_id") or payload.get("merchant_id") or "").encode()
            value = json.dumps(payload).encode()
        else:
            key, value = b"raw", payload
        producer.produce(name, key=key, value=value)
        count += 1
        if count % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} messages not delivered"
    return count
