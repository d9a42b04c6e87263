"""Decoding events with the contract: the per-event CPU cost ingestion pays."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import msgspec

from analytics_platform.events import TOPICS, EventDecoder

N = 300_000


def _payloads(n: int) -> list[bytes]:
    encoder = msgspec.json.Encoder()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        encoder.encode(
            {
                "event_id": f"{i:08x}-0000-4000-8000-000000000000",
                "occurred_at": (base + timedelta(seconds=i)).isoformat(),
                "schema_version": 1,
                "user_id": f"usr_{i % 5000:06x}",
                "transaction_id": f"txn_{i:010x}",
                "amount": f"{(i % 9000) / 7 + 1:.2f}",
                "currency": "IDR",
                "transaction_type": "PAYMENT",
                "category": "groceries",
                "status": "SUCCESS",
                "merchant_id": f"mch_{i % 300:04x}",
                "recipient_id": None,
                "payment_method": "CARD",
                "failure_reason": None,
                "retry_count": 0,
                "processing_ms": 350 + i % 400,
                "metadata": None,
            }
        )
        for i in range(n)
    ]


def run() -> dict[str, dict]:
    payloads = _payloads(N)
    decoder = EventDecoder(
        TOPICS["transactions"], datetime(2024, 1, 1, tzinfo=UTC), timedelta(seconds=300)
    )
    until = decoder.accepted_until(datetime.now(UTC))
    decode = decoder.decode
    started = time.perf_counter()
    for payload in payloads:
        decode(payload, until)
    elapsed = time.perf_counter() - started
    return {
        "decode_transactions_per_second": {
            "value": N / elapsed,
            "unit": "events/s",
            "target": None,
        },
        "decode_transaction_microseconds": {
            "value": elapsed / N * 1e6,
            "unit": "us/event",
            "target": None,
        },
    }


if __name__ == "__main__":
    for name, metric in run().items():
        print(name, metric)
