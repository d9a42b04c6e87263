"""The event contract: topic -> schema -> raw table, and decoding bytes into validated rows.

One place knows every topic: its Kafka short name, the msgspec schema its JSON must
satisfy, the raw table it lands in and that table's columns (in COPY order). msgspec was
picked by measured decode speed (0.6 us per event against 1.1 us for orjson and 3.3 us
for the stdlib), and its schema errors are precise enough to turn into dead-letter
reasons a person can act on.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import msgspec
from psycopg.types.json import Jsonb

# Bounds keep garbage out of the warehouse: ids and labels are short by nature, and an
# amount beyond 1e15 in any currency is a producer bug, not a payment.
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
Country = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]
Count = Annotated[int, msgspec.Meta(ge=0, le=2_147_483_647)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
# The raw tables keep it in a smallint: a larger value is a dead letter, not a failed COPY.
SchemaVersion = Annotated[int, msgspec.Meta(ge=1, le=32_767)]
MAX_AMOUNT = Decimal("1e15")
# Fractional digits an amount may have, trailing zeros included: more than any currency
# or token uses, and what the ingest fast path encodes (four base-10000 NUMERIC groups).
# The raw columns are unconstrained NUMERIC, which would take up to 16,383 of them and
# fail the whole batch's COPY beyond that ("1e-20000").
MAX_AMOUNT_SCALE = 16
# Containers nested inside an object field (`metadata`), the field's own object counting
# as the first: real metadata is flat, and the decoder recurses per level (a message
# nested ~1,000 deep raised RecursionError out of it).
MAX_NESTING = 32
# Kafka's own default limit (message.max.bytes): a larger message is a producer bug, and
# storing it would put megabytes of one event in every query over the raw table.
DEFAULT_MAX_MESSAGE_BYTES = 1_048_576
# An amount given as a JSON string must read as a JSON number would (ASCII digits, no
# `+`, `_`, spaces or other digits that Python's Decimal() happens to accept); leading
# zeros are allowed in the string form, where they cannot be confused with octal.
_DECIMAL_TEXT = re.compile(rb'"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"')

TransactionType = Literal[
    "PAYMENT", "TRANSFER_IN", "TRANSFER_OUT", "TOPUP", "WITHDRAWAL", "REFUND", "BILL_PAYMENT"
]
TransactionStatus = Literal["PENDING", "SUCCESS", "FAILED", "EXPIRED", "REFUNDED"]
ChangeType = Literal["CREDIT", "DEBIT"]
LifecycleEventType = Literal[
    "user.registered", "user.kyc_submitted", "user.kyc_verified", "user.kyc_rejected"
]
DeliveryStatus = Literal["DELIVERED", "FAILED", "RETRYING"]


class Envelope(msgspec.Struct, forbid_unknown_fields=False):
    """Fields every event carries. Unknown fields are ignored so producers can add some."""

    event_id: uuid.UUID
    occurred_at: AwareDatetime


class TransactionEvent(Envelope, kw_only=True):
    user_id: Id
    transaction_id: Id
    amount: Decimal
    currency: Currency
    transaction_type: TransactionType
    category: Label
    status: TransactionStatus
    payment_method: Label
    retry_count: Count
    processing_ms: Count
    merchant_id: Id | None = None
    recipient_id: Id | None = None
    failure_reason: Label | None = None
    metadata: dict[str, Any] | None = None
    schema_version: SchemaVersion = 1


class WalletBalanceEvent(Envelope, kw_only=True):
    user_id: Id
    wallet_id: Id
    balance: Decimal
    currency: Currency
    change_amount: Decimal
    change_type: ChangeType
    schema_version: SchemaVersion = 1


class UserActivityEvent(Envelope, kw_only=True):
    user_id: Id
    activity_type: Label
    session_id: Id | None = None
    device_type: Label | None = None
    ip_address: Annotated[str, msgspec.Meta(max_length=45)] | None = None
    user_agent: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    duration_seconds: Count | None = None
    metadata: dict[str, Any] | None = None
    schema_version: SchemaVersion = 1


class UserLifecycleEvent(Envelope, kw_only=True):
    user_id: Id
    event_type: LifecycleEventType
    kyc_level: Annotated[int, msgspec.Meta(ge=0, le=9)] | None = None
    country: Country | None = None
    schema_version: SchemaVersion = 1


class WebhookDeliveryEvent(Envelope, kw_only=True):
    merchant_id: Id
    webhook_event_type: Label
    status: DeliveryStatus
    attempt: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    latency_ms: Count
    http_status: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None
    schema_version: SchemaVersion = 1


class RejectedEvent(ValueError):
    """A message that breaks the contract; `reason` is what the dead letter records."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PositiveAmount:
    """A decimal field must be a finite number with 0 < value < MAX_AMOUNT."""

    field: str

    def check(self, event: Any) -> None:
        value: Decimal = getattr(event, self.field)
        # NaN must be caught before comparing: ordering a NaN Decimal raises InvalidOperation.
        if not value.is_finite():
            raise RejectedEvent(f"bad value for `{self.field}`: {value} is not a finite number")
        if not 0 < value < MAX_AMOUNT:
            if value <= 0:
                raise RejectedEvent(f"non-positive `{self.field}`: {value} (must be > 0)")
            raise RejectedEvent(f"bad value for `{self.field}`: {value} exceeds {MAX_AMOUNT}")


@dataclass(frozen=True)
class BoundedAmount:
    """A decimal field must be a finite number with -MAX_AMOUNT < value < MAX_AMOUNT."""

    field: str

    def check(self, event: Any) -> None:
        value: Decimal = getattr(event, self.field)
        if not value.is_finite() or not -MAX_AMOUNT < value < MAX_AMOUNT:
            raise RejectedEvent(f"bad value for `{self.field}`: {value}")


@dataclass(frozen=True)
class RequiredWhen:
    """An optional field must be present (not null) when another field has a value."""

    field: str
    when: str
    equals: str

    def check(self, event: Any) -> None:
        if getattr(event, self.field) is None and getattr(event, self.when) == self.equals:
            raise RejectedEvent(
                f"missing field `{self.field}` (required when {self.when} is {self.equals})"
            )


# Declared as data, not code, so ingestion's compiled fast path (ingestion/copy_layout.py)
# enforces exactly the rules the decoder checks.
Rule = PositiveAmount | BoundedAmount | RequiredWhen


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the contract and the raw table it feeds."""

    name: str
    table: str
    schema: type[Envelope]
    # Checks beyond the schema's types and bounds, in the order they are applied.
    rules: tuple[Rule, ...] = ()
    # Columns that hold JSON objects: handed to the database as jsonb.
    json_columns: frozenset[str] = frozenset()

    @property
    def event_columns(self) -> tuple[str, ...]:
        """Columns filled from the event, in COPY order (the schema's field order)."""
        return self.schema.__struct_fields__

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column ingestion writes: the event's, then where it came from."""
        return (*self.event_columns, *SOURCE_COLUMNS)


# Provenance kept on every raw row so any number can be traced back to its message.
SOURCE_COLUMNS = ("kafka_partition", "kafka_offset")

TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in (
        TopicSpec(
            "transactions",
            "raw.transactions",
            TransactionEvent,
            (PositiveAmount("amount"), RequiredWhen("failure_reason", "status", "FAILED")),
            frozenset({"metadata"}),
        ),
        TopicSpec(
            "wallet-balances",
            "raw.wallet_balances",
            WalletBalanceEvent,
            (PositiveAmount("change_amount"), BoundedAmount("balance")),
        ),
        TopicSpec(
            "user-activity",
            "raw.user_activity",
            UserActivityEvent,
            json_columns=frozenset({"metadata"}),
        ),
        TopicSpec("user-lifecycle", "raw.user_events", UserLifecycleEvent),
        TopicSpec("webhook-deliveries", "raw.webhook_deliveries", WebhookDeliveryEvent),
    )
}


class UnknownTopicError(KeyError):
    """A topic name that is not part of the event contract."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown topic {name!r}; the contract has: {', '.join(TOPICS)}")


def topic_spec(name: str) -> TopicSpec:
    try:
        return TOPICS[name]
    except KeyError:
        raise UnknownTopicError(name) from None


_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_ENUM = re.compile(r"Invalid enum value (?P<value>.+)")


# Cached: get_type_hints re-evaluates every annotation of the schema on each call
# (378 us), which made each unknown-enum dead letter cost as much as ~100 valid events.
@functools.cache
def _literal_choices(schema: type[Envelope], field: str) -> str:
    hint = get_type_hints(schema).get(field)
    return ", ".join(get_args(hint)) if get_origin(hint) is Literal else ""


def _reason(schema: type[Envelope], error: msgspec.ValidationError) -> str:
    """Turn msgspec's message into the wording a dead letter reader expects."""
    message = str(error)
    at = _AT.search(message)
    path = at.group("path") if at else ""
    detail = message[: at.start()] if at else message
    if missing := _MISSING.match(detail):
        field = f"{path}.{missing['field']}" if path else missing["field"]
        return f"missing field `{field}`"
    if enum := _ENUM.match(detail):
        choices = _literal_choices(schema, path)
        expected = f" (expected one of {choices})" if choices else ""
        return f"unknown `{path}` {enum['value']}{expected}"
    if path == "occurred_at" and "timezone" in detail:
        return "`occurred_at` has no UTC offset (RFC 3339 with offset required)"
    if not path:
        return f"bad event: {detail}"
    return f"bad value for `{path}`: {detail}"


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether containers in `value` (itself at level 1) nest deeper than `limit`.

    A loop, not recursion: the value may be as deep as the decoder allowed.
    """
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if level > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        pending.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return False


def _decimal_fields(schema: type[Envelope]) -> tuple[str, ...]:
    hints = get_type_hints(schema)
    return tuple(name for name in schema.__struct_fields__ if hints[name] is Decimal)


_TOO_DEEP = f"bad event: JSON nested too deeply (at most {MAX_NESTING} levels in a field)"


class EventDecoder:
    """Decodes one topic's messages into raw-table rows, or raises RejectedEvent.

    `not_before` is the oldest accepted event time (the partitions' start date),
    `max_future_skew` how far ahead of `now` a producer clock may run and
    `max_message_bytes` the largest message taken. docs/event-contract.md lists what is
    accepted and the reason each rejection records.
    """

    def __init__(
        self,
        spec: TopicSpec,
        not_before: datetime,
        max_future_skew: timedelta,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        if not_before.tzinfo is None:
            raise ValueError("not_before must be timezone-aware")
        self.spec = spec
        self.not_before = not_before
        self.max_future_skew = max_future_skew
        self.max_message_bytes = max_message_bytes
        self._decoder = msgspec.json.Decoder(spec.schema)
        # The decimal fields again, as the JSON text they were given in: msgspec parses a
        # string amount with Decimal(), which takes "5_000", " 5 " and Arabic-Indic digits.
        self._decimals = _decimal_fields(spec.schema)
        self._decimal_texts = (
            msgspec.json.Decoder(
                msgspec.defstruct(
                    f"{spec.schema.__name__}DecimalTexts",
                    [(name, msgspec.Raw, None) for name in self._decimals],
                )
            )
            if self._decimals
            else None
        )
        self._encoder = msgspec.json.Encoder()
        self._rules = spec.rules
        self._json_positions = tuple(
            i for i, name in enumerate(spec.event_columns) if name in spec.json_columns
        )

    def accepted_until(self, now: datetime) -> datetime:
        """The latest accepted event time at `now`; compute once per batch, not per event."""
        return now + self.max_future_skew

    def decode(self, payload: bytes, accepted_until: datetime) -> tuple[Any, ...]:
        """Validated row values in `spec.event_columns` order.

        `accepted_until` comes from `accepted_until(now)`: the hot loop should not redo
        the clock arithmetic for every message.
        """
        if len(payload) > self.max_message_bytes:
            raise RejectedEvent(
                f"message is {len(payload):,} bytes, more than the maximum of "
                f"{self.max_message_bytes:,} (INGEST_MAX_MESSAGE_BYTES)"
            )
        try:
            event = self._decoder.decode(payload)
        except msgspec.ValidationError as exc:
            # msgspec validates as it parses: a truncated message whose first field is
            # wrong would be reported for that field rather than as broken JSON.
            raise RejectedEvent(
                self._malformed(payload) or _reason(self.spec.schema, exc)
            ) from None
        except msgspec.DecodeError as exc:
            raise RejectedEvent(f"invalid JSON: {exc}") from None
        except UnicodeDecodeError as exc:
            # msgspec raises this, not DecodeError, for a string that is not UTF-8.
            raise RejectedEvent(f"invalid UTF-8: {exc}") from None
        except RecursionError:
            raise RejectedEvent(_TOO_DEEP) from None
        if self._decimal_texts is not None:
            self._check_decimals(payload, event)
        occurred_at: datetime = event.occurred_at
        if not self.not_before <= occurred_at <= accepted_until:
            raise RejectedEvent(self._out_of_range(occurred_at, accepted_until))
        for rule in self._rules:
            rule.check(event)
        row = msgspec.structs.astuple(event)
        # Deeper than the bound needs that many brackets: most messages skip the walk.
        deep = payload.count(b"{") + payload.count(b"[") > MAX_NESTING
        for i in self._json_positions if deep else ():
            if row[i] is not None and _nested_deeper_than(row[i], MAX_NESTING):
                raise RejectedEvent(
                    f"bad value for `{self.spec.event_columns[i]}`: nested more than "
                    f"{MAX_NESTING} levels deep"
                )
        if b"\\u0000" in payload:
            self._check_no_nul(row)
        for i in self._json_positions:
            if row[i] is not None:
                row = (*row[:i], Jsonb(row[i], dumps=self._encoder.encode), *row[i + 1 :])
        return row

    @staticmethod
    def _malformed(payload: bytes) -> str | None:
        """The reason a payload is not well-formed JSON at all, or None if it is."""
        try:
            msgspec.json.decode(payload, type=msgspec.Raw)
        except msgspec.DecodeError as exc:
            return f"invalid JSON: {exc}"
        except RecursionError:
            return _TOO_DEEP
        return None

    def _check_decimals(self, payload: bytes, event: Any) -> None:
        """Amounts as plain ASCII numbers, with at most MAX_AMOUNT_SCALE decimals."""
        assert self._decimal_texts is not None
        texts = self._decimal_texts.decode(payload)
        for name in self._decimals:
            raw = getattr(texts, name)
            if raw is None:
                continue
            text = bytes(raw)
            value: Decimal = getattr(event, name)
            # NaN and Infinity are left to the rules, whose reason says "not finite".
            if text[0] == 0x22 and value.is_finite() and not _DECIMAL_TEXT.fullmatch(text):
                shown = text.decode("utf-8", "replace")
                if len(shown) > 40:
                    shown = shown[:37] + '..."'
                raise RejectedEvent(
                    f"bad value for `{name}`: {shown} is not a plain decimal number "
                    "(ASCII digits with an optional leading '-', '.' and exponent; "
                    "no spaces, '+' or '_')"
                )
            # Only a long text or an exponent can hold more decimals than allowed.
            if len(text) > MAX_AMOUNT_SCALE + 1 or b"e" in text or b"E" in text:
                exponent = value.as_tuple().exponent
                if isinstance(exponent, int) and -exponent > MAX_AMOUNT_SCALE:
                    raise RejectedEvent(
                        f"bad value for `{name}`: {-exponent} digits after the decimal "
                        f"point (at most {MAX_AMOUNT_SCALE})"
                    )

    def _check_no_nul(self, row: tuple[Any, ...]) -> None:
        """PostgreSQL text and jsonb cannot hold U+0000: storing such an event would fail
        its whole batch again on every retry, so it is a dead letter instead."""
        for name, value in zip(self.spec.event_columns, row, strict=True):
            if _holds_nul(value):
                raise RejectedEvent(
                    f"bad value for `{name}`: contains the character U+0000, which "
                    "PostgreSQL cannot store"
                )

    def _out_of_range(self, occurred_at: datetime, accepted_until: datetime) -> str:
        if occurred_at > accepted_until:
            return (
                f"`occurred_at` {occurred_at.isoformat()} is more than "
                f"{int(self.max_future_skew.total_seconds())} s in the future "
                f"(accepted until {accepted_until.isoformat()}; see EVENT_MAX_FUTURE_SKEW_SECONDS)"
            )
        return (
            f"`occurred_at` {occurred_at.isoformat()} is before the accepted range "
            f"starting {self.not_before.isoformat()} (see PARTITIONS_START_DATE)"
        )
