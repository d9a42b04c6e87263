"""Decoding events with the contract: the per-event CPU cost ingestion pays.

Two ways, on the same payloads: msgspec into Python values (the contract's decoder, the
fallback for anything unusual), and the compiled fast path straight into binary COPY
rows (what ingestion does with plain events).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np

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


# raw.transactions as sql/migrations/003_raw_tables.sql creates it (no database here).
_TRANSACTION_COLUMN_TYPES = {
    **dict.fromkeys(
        ("user_id", "transaction_id", "currency", "transaction_type", "category", "status"),
        "text",
    ),
    **dict.fromkeys(("payment_method", "merchant_id", "recipient_id", "failure_reason"), "text"),
    **dict.fromkeys(("retry_count", "processing_ms", "kafka_partition"), "integer"),
    "event_id": "uuid",
    "occurred_at": "timestamp with time zone",
    "amount": "numeric",
    "metadata": "jsonb",
    "schema_version": "smallint",
    "kafka_offset": "bigint",
}


def _fast_path_seconds(payloads: list[bytes], accepted_until: datetime) -> float:
    """CPU seconds of the compiled fast path over the payloads, 4096 per call as the
    loader does (joining them into one buffer included); compiled beforehand."""
    from analytics_platform.ingestion import copy_kernel
    from analytics_platform.ingestion.copy_layout import copy_layout

    layout = copy_layout(TOPICS["transactions"], _TRANSACTION_COLUMN_TYPES).tables()
    not_before = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1e6)
    until = int(accepted_until.timestamp() * 1e6)
    chunk = 4096
    out = np.empty(copy_kernel.row_capacity(chunk * 1000, chunk, 19), np.uint8)
    arrays = [np.zeros(chunk, t) for t in (np.int8, np.int64, np.int64, np.uint64, np.uint64)]
    status, row_start, row_end, high, low = arrays
    micros = np.zeros(chunk, np.int64)

    def encode(batch: list[bytes]) -> None:
        n = len(batch)
        lengths = np.fromiter(map(len, batch), np.int64, n)
        ends = np.cumsum(lengths)
        zeros = np.zeros(n, np.int64)
        copy_kernel.encode_rows(
            np.frombuffer(bytearray().join(batch), np.uint8),
            *(ends - lengths, ends, zeros, zeros),
            *layout,
            *(not_before, until, out, 0),
            *(status[:n], row_start[:n], row_end[:n], high[:n], low[:n], micros[:n]),
        )
        if not status[:n].all():
            raise RuntimeError("the fast path refused a benchmark payload")

    encode(payloads[:10])
    started = time.process_time()
    for first in range(0, len(payloads), chunk):
        encode(payloads[first : first + chunk])
    return time.process_time() - started


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
    fast = _fast_path_seconds(payloads, until)
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
        "decode_fast_path_transaction_cpu_microseconds": {
            "value": fast / N * 1e6,
            "unit": "us/event",
            "target": None,
        },
    }


if __name__ == "__main__":
    for name, metric in run().items():
        print(name, metric)
