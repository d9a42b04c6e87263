import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from analytics_platform.events import (
    TOPICS,
    EventDecoder,
    RejectedEvent,
    UnknownTopicError,
    topic_spec,
)

from .factories import TEMPLATES

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
ENVELOPE = {
    "event_id": "0b8f1a3e-4d6c-4f3a-9a51-2f0c8b7e6d10",
    "occurred_at": "2026-11-20T10:15:00+00:00",
    "schema_version": 1,
}
VALID = {topic: {**ENVELOPE, **fields} for topic, fields in TEMPLATES.items()}


def decode(topic: str, payload: bytes) -> tuple:
    decoder = EventDecoder(TOPICS[topic], NOT_BEFORE, timedelta(seconds=300))
    return decoder.decode(payload, decoder.accepted_until(NOW))


def encode(event: dict) -> bytes:
    return json.dumps(event).encode()


def changed(topic: str, **fields) -> bytes:
    event = {**VALID[topic], **fields}
    return encode({k: v for k, v in event.items() if v is not ...})


@pytest.mark.parametrize("topic", list(VALID))
def test_valid_event_decodes_to_a_row_in_column_order(topic):
    row = decode(topic, encode(VALID[topic]))
    columns = TOPICS[topic].event_columns
    assert len(row) == len(columns)
    values = dict(zip(columns, row, strict=True))
    assert str(values["event_id"]) == ENVELOPE["event_id"]
    assert values["occurred_at"] == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    assert values["schema_version"] == 1


def test_money_stays_exact_and_metadata_becomes_jsonb():
    values = dict(
        zip(
            TOPICS["transactions"].event_columns,
            decode("transactions", encode(VALID["transactions"])),
            strict=True,
        )
    )
    assert values["amount"] == Decimal("125.40") and isinstance(values["amount"], Decimal)
    assert values["metadata"].obj == {"channel": "app"}


def test_amount_as_json_number_is_read_exactly():
    payload = encode(VALID["transactions"]).replace(b'"125.40"', b"0.1")
    row = decode("transactions", payload)
    assert Decimal("0.1") in row


def test_schema_version_defaults_to_one_and_unknown_fields_are_ignored():
    row = decode("user-lifecycle", changed("user-lifecycle", schema_version=..., extra="x"))
    assert row[-1] == 1


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("transactions", b"not json", "invalid JSON: "),
        ("transactions", b'{"event_id": "0b8f', "invalid JSON: Input data was truncated"),
        ("transactions", b"[1, 2]", "bad event: Expected `object`, got `array`"),
        ("transactions", changed("transactions", user_id=...), "missing field `user_id`"),
        ("transactions", changed("transactions", event_id=...), "missing field `event_id`"),
        (
            "transactions",
            changed("transactions", status="DONE"),
            "unknown `status` 'DONE' (expected one of PENDING, SUCCESS, FAILED, EXPIRED, REFUNDED)",
        ),
        (
            "transactions",
            changed("transactions", transaction_type="GIFT"),
            "unknown `transaction_type` 'GIFT' (expected one of PAYMENT, TRANSFER_IN, "
            "TRANSFER_OUT, TOPUP, WITHDRAWAL, REFUND, BILL_PAYMENT)",
        ),
        (
            "transactions",
            changed("transactions", amount="0"),
            "non-positive `amount`: 0 (must be > 0)",
        ),
        (
            "transactions",
            changed("transactions", amount="-3.50"),
            "non-positive `amount`: -3.50 (must be > 0)",
        ),
        (
            "transactions",
            changed("transactions", amount="NaN"),
            "bad value for `amount`: NaN is not a finite number",
        ),
        (
            "transactions",
            changed("transactions", amount="ten"),
            "bad value for `amount`: Invalid decimal string",
        ),
        (
            "transactions",
            changed("transactions", retry_count="1"),
            "bad value for `retry_count`: Expected `int`, got `str`",
        ),
        (
            "transactions",
            changed("transactions", retry_count=-1),
            "bad value for `retry_count`: Expected `int` >= 0",
        ),
        (
            "transactions",
            changed("transactions", currency="rupiah"),
            "bad value for `currency`: Expected `str` matching regex '^[A-Z]{3}$'",
        ),
        (
            "transactions",
            changed("transactions", status="FAILED", failure_reason=None),
            "missing field `failure_reason` (required when status is FAILED)",
        ),
        (
            "transactions",
            changed("transactions", occurred_at="2026-11-20T10:15:00"),
            "`occurred_at` has no UTC offset (RFC 3339 with offset required)",
        ),
        (
            "transactions",
            changed("transactions", occurred_at="yesterday"),
            "bad value for `occurred_at`: Invalid RFC3339 encoded datetime",
        ),
        (
            "transactions",
            changed("transactions", occurred_at="2026-11-20T12:05:01+00:00"),
            "`occurred_at` 2026-11-20T12:05:01+00:00 is more than 300 s in the future "
            "(accepted until 2026-11-20T12:05:00+00:00; see EVENT_MAX_FUTURE_SKEW_SECONDS)",
        ),
        (
            "transactions",
            changed("transactions", occurred_at="2023-12-31T23:59:59+00:00"),
            "`occurred_at` 2023-12-31T23:59:59+00:00 is before the accepted range starting "
            "2024-01-01T00:00:00+00:00 (see PARTITIONS_START_DATE)",
        ),
        (
            "transactions",
            changed("transactions", event_id="42"),
            "bad value for `event_id`: Invalid UUID",
        ),
        (
            "transactions",
            changed("transactions", metadata=[1]),
            "bad value for `metadata`: Expected `object | null`, got `array`",
        ),
        (
            "wallet-balances",
            changed("wallet-balances", change_type="HOLD"),
            "unknown `change_type` 'HOLD' (expected one of CREDIT, DEBIT)",
        ),
        (
            "wallet-balances",
            changed("wallet-balances", change_amount="-1"),
            "non-positive `change_amount`: -1 (must be > 0)",
        ),
        ("wallet-balances", changed("wallet-balances", wallet_id=...), "missing field `wallet_id`"),
        (
            "user-activity",
            changed("user-activity", activity_type=""),
            "bad value for `activity_type`: Expected `str` of length >= 1",
        ),
        (
            "user-activity",
            changed("user-activity", duration_seconds=1.5),
            "bad value for `duration_seconds`: Expected `int | null`, got `float`",
        ),
        (
            "user-lifecycle",
            changed("user-lifecycle", event_type="user.deleted"),
            "unknown `event_type` 'user.deleted' (expected one of user.registered, "
            "user.kyc_submitted, user.kyc_verified, user.kyc_rejected)",
        ),
        (
            "user-lifecycle",
            changed("user-lifecycle", country="IDN"),
            "bad value for `country`: Expected `str` matching regex '^[A-Z]{2}$'",
        ),
        (
            "webhook-deliveries",
            changed("webhook-deliveries", status="LOST"),
            "unknown `status` 'LOST' (expected one of DELIVERED, FAILED, RETRYING)",
        ),
        (
            "webhook-deliveries",
            changed("webhook-deliveries", attempt=0),
            "bad value for `attempt`: Expected `int` >= 1",
        ),
        (
            "webhook-deliveries",
            changed("webhook-deliveries", http_status=99),
            "bad value for `http_status`: Expected `int` >= 100",
        ),
        (
            "webhook-deliveries",
            changed("webhook-deliveries", schema_version=40_000),
            "bad value for `schema_version`: Expected `int` <= 32767",
        ),
        (
            "user-activity",
            changed("user-activity", user_agent="Pay\x00App"),
            "bad value for `user_agent`: contains the character U+0000, which PostgreSQL "
            "cannot store",
        ),
        (
            "transactions",
            changed("transactions", metadata={"note": ["a\x00"]}),
            "bad value for `metadata`: contains the character U+0000",
        ),
        (
            "transactions",
            changed("transactions", category="caf\u00e9").replace(b"\\u00e9", b"\xe9"),
            "invalid UTF-8: 'utf-8' codec can't decode byte 0xe9",
        ),
    ],
)
def test_invalid_payload_is_rejected_with_its_exact_reason(topic, payload, reason):
    with pytest.raises(RejectedEvent) as rejected:
        decode(topic, payload)
    assert rejected.value.reason.startswith(reason), rejected.value.reason


def test_nul_in_a_field_that_is_not_stored_is_no_reason_to_reject():
    row = decode("user-lifecycle", changed("user-lifecycle", note="x\x00y"))
    assert row[-1] == 1


def test_non_utc_offsets_are_accepted_and_compared_as_instants():
    row = decode("transactions", changed("transactions", occurred_at="2026-11-20T17:30:00+05:30"))
    assert row[1] == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_every_topic_maps_to_a_raw_table_with_provenance_columns():
    assert {spec.table for spec in TOPICS.values()} == {
        "raw.transactions",
        "raw.wallet_balances",
        "raw.user_activity",
        "raw.user_events",
        "raw.webhook_deliveries",
    }
    for spec in TOPICS.values():
        assert spec.columns[-2:] == ("kafka_partition", "kafka_offset")
        assert spec.columns[:2] == ("event_id", "occurred_at")


def test_unknown_topic_names_the_contract():
    with pytest.raises(UnknownTopicError, match="transactions, wallet-balances"):
        topic_spec("payments")
