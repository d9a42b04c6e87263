"""The event contract's decisions (docs/event-contract.md), row by row, through both
decode paths: the msgspec decoder, which words every dead-letter reason, and the
loader's compiled fast path, which may only take what the decoder accepts, with the
same values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from analytics_platform.events import TOPICS, EventDecoder, RejectedEvent
from analytics_platform.ingestion.loader import RawLoader
from analytics_platform.migrations import migrate

from .conftest import settings_for
from .test_ingest_fast_path import NOT_BEFORE, NOW, SKEW, _Message, assert_fast_path_agrees

AT = (NOW - timedelta(hours=1)).replace(microsecond=0)
ID = "0b7e1f8e-3c52-4b1a-9d6e-5f0c2a7d4e11"
# What each field must look like in the documented JSON; amounts go in as JSON text.
VALID = {
    "event_id": ID,
    "occurred_at": AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "user_id": "usr_1",
    "transaction_id": "txn_1",
    "amount": "AMOUNT",
    "currency": "IDR",
    "transaction_type": "PAYMENT",
    "category": "food",
    "status": "SUCCESS",
    "payment_method": "card",
    "retry_count": 0,
    "processing_ms": 120,
    "metadata": "METADATA",
}


def transaction(amount: str = '"25000.00"', metadata: str = "null", **fields: object) -> bytes:
    """A transaction message; `amount` and `metadata` are JSON text, put in as they are."""
    text = json.dumps({**VALID, **fields})
    return text.replace('"AMOUNT"', amount).replace('"METADATA"', metadata).encode()


def nested(levels: int) -> str:
    """A JSON object `levels` containers deep (the object itself is the first)."""
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


NOT_PLAIN = "is not a plain decimal number"
MIB = 1_048_576

# (case, message, None if accepted else the start of its dead-letter reason)
CONTRACT = [
    ("amount as a JSON number", transaction("25000.5"), None),
    ("amount as a string", transaction('"25000.50"'), None),
    ("amount string with leading zeros", transaction('"007.50"'), None),
    ("amount with an exponent", transaction("2.5e3"), None),
    ("amount string with an exponent", transaction('"2.5E3"'), None),
    ("amount with 16 fractional digits", transaction('"0.1234567890123456"'), None),
    ("amount with '_'", transaction('"5_000"'), f'bad value for `amount`: "5_000" {NOT_PLAIN}'),
    (
        "amount in Arabic-Indic digits, escaped",
        transaction('"\\u0665"'),
        'bad value for `amount`: "\\u0665" is not a plain',
    ),
    (
        "amount in raw Arabic-Indic digits",
        transaction('"\u0665"'),  # the digit itself, in UTF-8
        'bad value for `amount`: "\u0665" is not a plain',
    ),
    ("amount with spaces", transaction('" 5 "'), f'bad value for `amount`: " 5 " {NOT_PLAIN}'),
    ("amount with '+'", transaction('"+5"'), f'bad value for `amount`: "+5" {NOT_PLAIN}'),
    ("amount '.5'", transaction('".5"'), f'bad value for `amount`: ".5" {NOT_PLAIN}'),
    ("amount '5.'", transaction('"5."'), f'bad value for `amount`: "5." {NOT_PLAIN}'),
    (
        "amount with 17 fractional digits",
        transaction('"0.12345678901234567"'),
        "bad value for `amount`: 17 digits after the decimal point (at most 16)",
    ),
    (
        "amount with 40 fractional digits",
        transaction('"1.' + "0" * 40 + '"'),
        "bad value for `amount`: 40 digits after the decimal point (at most 16)",
    ),
    (
        "amount 1e-20000",
        transaction('"1e-20000"'),
        "bad value for `amount`: 20000 digits after the decimal point (at most 16)",
    ),
    (
        "amount 1e-20000 as a number",
        transaction("1e-20000"),
        "bad value for `amount`: 20000 digits after the decimal point (at most 16)",
    ),
    ("amount 1e15", transaction("1e15"), "bad value for `amount`: 1E+15 exceeds 1E+15"),
    ("amount NaN", transaction('"NaN"'), "bad value for `amount`: NaN is not a finite number"),
    ("amount zero", transaction("0"), "non-positive `amount`: 0 (must be > 0)"),
    ("occurred_at lower-case t and z", transaction(occurred_at=VALID["occurred_at"].lower()), None),
    (
        "occurred_at with a space separator",
        transaction(occurred_at=VALID["occurred_at"].replace("T", " ")),
        None,
    ),
    (
        "occurred_at with an offset",
        transaction(occurred_at=(AT.replace(tzinfo=None)).isoformat() + "+00:00"),
        None,
    ),
    (
        "occurred_at without an offset",
        transaction(occurred_at=VALID["occurred_at"][:-1]),
        "`occurred_at` has no UTC offset",
    ),
    ("event_id upper-case", transaction(event_id=ID.upper()), None),
    ("event_id without dashes", transaction(event_id=ID.replace("-", "")), None),
    (
        "event_id in braces",
        transaction(event_id="{" + ID + "}"),
        "bad value for `event_id`: Invalid UUID",
    ),
    ("metadata 32 levels deep", transaction(metadata=nested(32)), None),
    (
        "metadata 33 levels deep",
        transaction(metadata=nested(33)),
        "bad value for `metadata`: nested more than 32 levels deep",
    ),
    (
        "metadata 1,000 levels deep",
        transaction(metadata=nested(1000)),
        "bad event: JSON nested too deeply (at most 32 levels in a field)",
    ),
    ("whitespace around the event", b"\n  " + transaction() + b" \t\n", None),
    ("an unknown field", transaction(source="pos-7"), None),
    (
        "metadata over the size limit",
        transaction(metadata=json.dumps({"blob": "x" * MIB})),
        "message is 1,048,",
    ),
    (
        "whitespace over the size limit",
        b" " * MIB + transaction(),
        "message is 1,048,",
    ),
    (
        "truncated JSON whose first field is wrong",
        b'{"event_id": "not-json"',
        "invalid JSON: Input data was truncated",
    ),
    ("not JSON", b"{broken", "invalid JSON: "),
]


def msgspec_outcome(message: bytes) -> str | None:
    decoder = EventDecoder(TOPICS["transactions"], NOT_BEFORE, SKEW)
    try:
        decoder.decode(message, NOW + SKEW)
    except RejectedEvent as rejected:
        return rejected.reason
    return None


def loader_outcomes(conn: psycopg.Connection, message: bytes) -> dict[str, str | None]:
    """The dead-letter reason (or None) the loader gives, with and without the fast path."""
    spec = TOPICS["transactions"]
    outcomes = {}
    for fast_path in (True, False):
        decoder = EventDecoder(spec, NOT_BEFORE, SKEW)
        loader = RawLoader(spec, spec.name, "tests", decoder, NOW.tzinfo, fast_path=fast_path)
        loader.bind(conn)
        batch = loader.prepare([_Message(0, 0, message)], NOW)
        reasons = [letter[5] for letter in batch.letters]
        assert len(reasons) + batch.micros.size == 1
        outcomes["fast" if fast_path else "msgspec"] = reasons[0] if reasons else None
    return outcomes


@pytest.fixture(scope="module")
def contract_conn(postgres_cluster) -> Iterator[psycopg.Connection]:
    """One migrated database for every row of the table (the loaders read its types)."""
    url = postgres_cluster.create_database()
    try:
        migrate(settings_for(database_url=url))
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn
    finally:
        postgres_cluster.drop_database(url)


@pytest.fixture(scope="module")
def transaction_types(contract_conn: psycopg.Connection) -> dict[str, str]:
    return dict(
        contract_conn.execute(
            "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
            "WHERE attrelid = 'raw.transactions'::regclass AND attnum > 0 AND NOT attisdropped"
        ).fetchall()
    )


@pytest.mark.parametrize(("case", "message", "reason"), CONTRACT, ids=[c[0] for c in CONTRACT])
def test_the_contract_table_holds_through_both_decode_paths(
    contract_conn, transaction_types, case, message, reason
):
    got = msgspec_outcome(message)
    if reason is None:
        assert got is None, f"{case}: rejected with {got!r}"
        assert_fast_path_agrees("transactions", transaction_types, [message])
    else:
        assert got is not None and got.startswith(reason), f"{case}: {got!r}"
    outcomes = loader_outcomes(contract_conn, message)
    assert outcomes == {"fast": got, "msgspec": got}, case
