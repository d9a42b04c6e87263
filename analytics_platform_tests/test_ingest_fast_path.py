"""The compiled fast path takes only events the msgspec decoder accepts, with the same values.

Messages are built field by field from valid events, with each value drawn from the forms
producers (and broken producers) send: other UUID, timestamp and number spellings,
escapes, non-ASCII and invalid UTF-8, wrong JSON types, values at and beyond their
bounds, repeated, missing and unknown fields, nested metadata, odd whitespace, cut and
corrupted bytes. Every message the fast path encodes must decode with msgspec to the same
row, value for value (NUMERIC scale and jsonb included); everything else is msgspec's to
judge. A database test then runs whole batches both ways and compares the tables.
"""

from __future__ import annotations

import functools
import json
import random
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics_platform.dev.generator import GeneratorConfig, generate_events
from analytics_platform.events import TOPICS, EventDecoder, RejectedEvent, TopicSpec
from analytics_platform.ingestion import copy_kernel
from analytics_platform.ingestion.copy_layout import (
    CopyLayout,
    UnsupportedLayoutError,
    copy_layout,
)
from analytics_platform.ingestion.loader import LoaderBusyError, RawLoader
from analytics_platform.migrations import migrate
from analytics_platform.settings import Settings

from .conftest import settings_for
from .factories import event

NOW = datetime.now(UTC).replace(microsecond=0)
# A narrow accepted range keeps the daily partitions the database tests create few.
NOT_BEFORE = (NOW - timedelta(days=3)).replace(hour=0, minute=0, second=0)
SKEW = timedelta(seconds=300)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


# --------------------------------------------------------------------------- messages
def _text(rng: random.Random, low: int, high: int) -> str:
    alphabets = (
        "abcdefghijklmnopqrstuvwxyz0123456789_-.",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        'é中😀ß\u00a0\u2028"\\/',
        "\x00\x01\x1f\x7f\t\n",
        "\ud800\udfff",  # lone surrogates: invalid UTF-8 once encoded
    )
    length = rng.choice([0, 1, 2, 3, low, high, high + 1, rng.randint(0, high + 2)])
    weights = [60, 10, 8, 3, 1]
    return "".join(
        rng.choice(rng.choices(alphabets, weights)[0]) for _ in range(max(0, min(length, 300)))
    )


def _string(rng: random.Random, text: str) -> str:
    """JSON text of a string, escaped or not, sometimes with a needless escape."""
    encoded = json.dumps(text, ensure_ascii=rng.random() < 0.2)
    if rng.random() < 0.05 and len(encoded) > 2:
        i = rng.randrange(1, len(encoded) - 1)
        if encoded[i].isalnum():
            encoded = encoded[:i] + f"\\u{ord(encoded[i]):04x}" + encoded[i + 1 :]
    return encoded


def _wrong_type(rng: random.Random) -> str:
    return rng.choice(["123", "-1", "1.5", "true", "false", "null", "[]", "{}", '"x"', '""'])


def _uuid(rng: random.Random, value: str) -> str:
    variants = [
        json.dumps(value),
        json.dumps(value.upper()),
        json.dumps(value.replace("-", "")),
        json.dumps("{" + value + "}"),
        json.dumps(value[:-1]),
        json.dumps(value[:8] + "g" + value[9:]),
        '"' + value[:8] + "\\u002d" + value[9:] + '"',
        _wrong_type(rng),
    ]
    return rng.choice(variants) if rng.random() < 0.5 else variants[0]


def _timestamp(rng: random.Random) -> str:
    span = (NOW + 2 * SKEW - NOT_BEFORE).total_seconds()
    instant = NOT_BEFORE - timedelta(days=1) + timedelta(seconds=rng.uniform(0, span + 86400))
    instant = instant.replace(microsecond=rng.choice([0, rng.randrange(1_000_000)]))
    if rng.random() < 0.1:
        instant = rng.choice([NOT_BEFORE, NOW + SKEW, NOW + SKEW + timedelta(microseconds=1)])
    minutes = rng.choice([0, 0, 330, -300, rng.randint(-23 * 60 - 59, 23 * 60 + 59)])
    local = instant.astimezone(UTC) + timedelta(minutes=minutes)
    digits = rng.choice([0, 0, 3, 6, 6, rng.randint(1, 9)])
    fraction = f"{local.microsecond:06d}{rng.randrange(1000):03d}"[:digits]
    sign = "-" if minutes < 0 else "+"
    offset = rng.choice(
        [
            f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}",
            "Z" if minutes == 0 else f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}",
            "z",
            "-00:00" if minutes == 0 else "",
            f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}",
            "",
        ]
        if rng.random() < 0.3
        else [f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}", "Z" if not minutes else ""]
    )
    if not offset:
        offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    separator = rng.choice(["T"] * 8 + ["t", " "])
    fields = [local.year, local.month, local.day, local.hour, local.minute, local.second]
    if rng.random() < 0.05:
        i = rng.randrange(6)
        fields[i] = rng.choice([0, 13, 24, 29, 30, 31, 60, 99])
        if i == 0:
            fields[0] = rng.choice([0, 2026, 9999])
    y, mo, d, h, mi, s = fields
    text = f"{y:04d}-{mo:02d}-{d:02d}{separator}{h:02d}:{mi:02d}:{s:02d}"
    if digits:
        text += "." + fraction
    elif rng.random() < 0.03:
        text += "."
    text += offset
    if rng.random() < 0.03:
        return _wrong_type(rng)
    return json.dumps(text)


def _decimal(rng: random.Random) -> str:
    special = ["NaN", "Infinity", "-0", "0", "0.00", "1e3", "1E-2", "+5", " 5", "5 ", ".5", "5."]
    special += ["1_000", "ten", "", "-0.00", "00.50", "007", "\u0665", "1e-20000", "1E+400"]
    special += ["1." + "0" * 40, "0." + "1" * 17, "9" * 15 + "." + "9" * 16]
    if rng.random() < 0.1:
        text = rng.choice(special)
    else:
        whole = "".join(
            rng.choice("0123456789") for _ in range(rng.choice([1, 1, 2, 3, 6, 15, 16]))
        )
        if len(whole) > 1 and rng.random() < 0.8:
            whole = whole.lstrip("0") or "0"
        scale = rng.choice([0, 2, 2, 2, 1, 3, 4, 5, 16, 17])
        text = whole + (
            "." + "".join(rng.choice("0123456789") for _ in range(scale)) if scale else ""
        )
        if rng.random() < 0.1:
            text = "-" + text
    if rng.random() < 0.3:
        return text if text and rng.random() < 0.9 else "1.0e2"  # a bare JSON number
    return json.dumps(text)


def _integer(rng: random.Random, low: int, high: int) -> str:
    choices = [low, low - 1, high, high + 1, 0, 1, rng.randint(low, min(high, 10**9))]
    value = rng.choice(choices)
    if rng.random() < 0.1:
        return rng.choice(["-0", "5.0", "1e3", '"5"', "007", str(10**20), str(-(2**63)), "true"])
    return str(value)


def _json_value(rng: random.Random, depth: int = 0) -> str:
    kinds = ["int", "str", "lit", "float", "obj", "arr", "odd"]
    kind = rng.choices(kinds, [30, 30, 10, 5, 10 if depth < 3 else 0, 8 if depth < 3 else 0, 3])[0]
    if kind == "int":
        return str(rng.choice([0, 1, -7, 42, 10**15, 2**63, -(2**63) - 1, 10**25]))
    if kind == "str":
        return _string(rng, _text(rng, 0, 12))
    if kind == "lit":
        return rng.choice(["true", "false", "null"])
    if kind == "float":
        return rng.choice(["1.10", "1e2", "-0.0", "0.5", "1E400", "3.0"])
    if kind == "odd":
        return rng.choice(["-0", "01", "-", "tru", '"\\q"', '"\\ud800"', "1.", "[1,]", "NaN"])
    if kind == "arr":
        return "[" + ",".join(_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))) + "]"
    return _object(rng, depth + 1)


def _object(rng: random.Random, depth: int = 0) -> str:
    keys = [
        rng.choice(["a", "b", "trigger", "é", "user_id", "a"]) for _ in range(rng.randint(0, 3))
    ]
    members = [f"{_string(rng, k)}:{_json_value(rng, depth)}" for k in keys]
    return "{" + rng.choice([",", ", "]).join(members) + "}"


@functools.cache
def _field_types(spec: TopicSpec) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.inspect.type_info(spec.schema).fields}


def _value(rng: random.Random, spec: TopicSpec, name: str, canonical: Any) -> str:
    """JSON text for field `name`: the canonical value or a variant of it."""
    typ = _field_types(spec)[name]
    if isinstance(typ, msgspec.inspect.UnionType):
        if rng.random() < 0.15:
            return "null"
        typ = next(t for t in typ.types if not isinstance(t, msgspec.inspect.NoneType))
    if rng.random() < 0.5:
        return json.dumps(canonical)
    if rng.random() < 0.05:
        return _wrong_type(rng)
    inspect = msgspec.inspect
    if isinstance(typ, inspect.UUIDType):
        return _uuid(rng, str(uuid.UUID(int=rng.getrandbits(128), version=4)))
    if isinstance(typ, inspect.DateTimeType):
        return _timestamp(rng)
    if isinstance(typ, inspect.DecimalType):
        return _decimal(rng)
    if isinstance(typ, inspect.IntType):
        low = typ.ge if typ.ge is not None else -(2**31)
        high = typ.le if typ.le is not None else 2**31
        return _integer(rng, low, high)
    if isinstance(typ, inspect.LiteralType):
        value = rng.choice(typ.values)
        return _string(rng, rng.choice([value, value, value.lower(), value + "X", "OTHER"]))
    if isinstance(typ, inspect.StrType):
        if typ.pattern is not None:
            return _string(rng, rng.choice(["IDR", "USD", "ID", "idr", "IDRX", "ÉUR", "I\u00a0D"]))
        return _string(rng, _text(rng, typ.min_length or 0, typ.max_length or 64))
    if isinstance(typ, inspect.DictType):
        if rng.random() < 0.05:  # around the nesting bound, and far beyond it
            levels = rng.choice([31, 32, 33, 34, 1000])
            return '{"a":' * (levels - 1) + rng.choice(["{}", "[]"]) + "}" * (levels - 1)
        return _object(rng) if rng.random() < 0.8 else _json_value(rng)
    raise AssertionError(f"no variants for {typ}")


def message(rng: random.Random, topic: str) -> bytes:
    """One message of `topic`: a valid event, or a variant of one."""
    spec = TOPICS[topic]
    valid = event(topic, NOW - timedelta(seconds=rng.randrange(86400 * 2)))
    if topic == "transactions" and rng.random() < 0.2:
        valid = {**valid, "status": "FAILED", "failure_reason": rng.choice([None, "timeout"])}
    if rng.random() < 0.25:
        members = [(k, json.dumps(v)) for k, v in valid.items()]
    else:
        members = [
            (k, _value(rng, spec, k, v))
            if k in spec.schema.__struct_fields__
            else (k, json.dumps(v))
            for k, v in valid.items()
        ]
        for k, _ in list(members):
            roll = rng.random()
            if roll < 0.03:
                members = [m for m in members if m[0] != k]
            elif roll < 0.05:
                members.append((k, _value(rng, spec, k, valid.get(k))))
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            key = rng.choice(["extra", "source", "User_id", "tags", "é"])
            members.append((key, _json_value(rng)))
        if rng.random() < 0.3:
            rng.shuffle(members)
    space = rng.choice(["", "", " ", "\n  ", "\t"])
    colon = rng.choice([":", ": ", " : "])
    text = "{" + space + ("," + space).join(f'"{k}"{colon}{v}' for k, v in members) + space + "}"
    if rng.random() < 0.05:
        text = rng.choice(
            ["", " ", "[", "[]", "null", '"x"', "{}", text + " ", " " + text, text + "x"]
        )
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.08 and data:
        i = rng.randrange(len(data))
        byte = rng.choice([b'"', b"\\", b"\x00", b"\xff", b"}", b",", b" ", b"7", b"\xc3"])
        data = rng.choice(
            [data[:i] + data[i + 1 :], data[:i] + byte + data[i:], data[:i] + byte + data[i + 1 :]]
        )
    if rng.random() < 0.03 and data:
        data = data[: rng.randrange(len(data))]
    return data


# --------------------------------------------------------------------------- decoding
def parse_numeric(data: bytes) -> tuple[Decimal, int]:
    """A NUMERIC in binary form as (value, display scale), built exactly (no context
    rounding: amounts may have 31 significant digits)."""
    ndigits, weight, sign, dscale = (int.from_bytes(data[i : i + 2], "big") for i in (0, 2, 4, 6))
    weight = weight - 65536 if weight >= 32768 else weight
    groups = [int.from_bytes(data[8 + 2 * i : 10 + 2 * i], "big") for i in range(ndigits)]
    digits = tuple(int(c) for c in "".join(f"{g:04d}" for g in groups)) or (0,)
    value = Decimal((1 if sign == 0x4000 else 0, digits, 4 * (weight - ndigits + 1)))
    return value, dscale


def parse_row(data: bytes, types: list[str]) -> list[Any]:
    """A binary COPY row back into Python values (numeric as (value, scale))."""
    assert int.from_bytes(data[:2], "big") == len(types)
    values: list[Any] = []
    at = 2
    for typ in types:
        size = int.from_bytes(data[at : at + 4], "big", signed=True)
        at += 4
        if size < 0:
            values.append(None)
            continue
        raw, at = data[at : at + size], at + size
        if typ == "uuid":
            values.append(uuid.UUID(bytes=raw))
        elif typ == "timestamp with time zone":
            values.append(
                PG_EPOCH + timedelta(microseconds=int.from_bytes(raw, "big", signed=True))
            )
        elif typ in ("smallint", "integer", "bigint"):
            values.append(int.from_bytes(raw, "big", signed=True))
        elif typ == "numeric":
            values.append(parse_numeric(raw))
        elif typ == "jsonb":
            assert raw[0] == 1
            values.append(json.loads(raw[1:]))
        else:
            values.append(raw.decode())
    assert at == len(data)
    return values


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values, types included (so True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def same_value(fast: Any, reference: Any, typ: str) -> bool:
    if typ == "numeric":
        value, scale = fast
        return value == reference and scale == max(0, -reference.as_tuple().exponent)
    if typ == "jsonb":
        return reference is not None and same_json(fast, reference.obj)
    if isinstance(reference, datetime):
        return fast == reference  # the same instant, as timestamptz keeps it
    return type(fast) is type(reference) and fast == reference


@pytest.fixture(scope="module")
def column_types(postgres_cluster) -> dict[str, dict[str, str]]:
    url = postgres_cluster.create_database()
    try:
        migrate(settings_for(database_url=url))
        with psycopg.connect(url) as conn:
            return {
                name: dict(
                    conn.execute(
                        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                        (spec.table,),
                    ).fetchall()
                )
                for name, spec in TOPICS.items()
            }
    finally:
        postgres_cluster.drop_database(url)


@functools.cache
def _layout(topic: str, types: tuple[tuple[str, str], ...]) -> CopyLayout:
    return copy_layout(TOPICS[topic], dict(types))


def run_fast_path(topic: str, types: dict[str, str], values: list[bytes]) -> list[Any]:
    """Per message: (row values, (uuid int, micros)) if the fast path encoded it, else None."""
    layout = _layout(topic, tuple(sorted(types.items())))
    count = len(values)
    lengths = np.array([len(v) for v in values], np.int64)
    ends = np.cumsum(lengths)
    out = np.zeros(
        copy_kernel.row_capacity(int(lengths.sum()), count, len(layout.columns)), np.uint8
    )
    status = np.zeros(count, np.int8)
    starts, finishes = np.zeros(count, np.int64), np.zeros(count, np.int64)
    high, low, at = (
        np.zeros(count, np.uint64),
        np.zeros(count, np.uint64),
        np.zeros(count, np.int64),
    )
    copy_kernel.encode_rows(
        np.frombuffer(bytearray().join(values), np.uint8),
        ends - lengths,
        ends,
        np.arange(count, dtype=np.int64) % 3,
        np.arange(count, dtype=np.int64),
        *layout.tables(),
        micros(NOT_BEFORE),
        micros(NOW + SKEW),
        out,
        0,
        status,
        starts,
        finishes,
        high,
        low,
        at,
    )
    column_types_in_order = [types[c] for c in TOPICS[topic].columns]
    return [
        (
            parse_row(out[starts[i] : finishes[i]].tobytes(), column_types_in_order),
            ((int(high[i]) << 64) | int(low[i]), int(at[i])),
        )
        if status[i] == copy_kernel.ENCODED
        else None
        for i in range(count)
    ]


def assert_fast_path_agrees(topic: str, types: dict[str, str], values: list[bytes]) -> int:
    """Every message the fast path encodes decodes with msgspec to the same row; returns
    how many it encoded."""
    decoder = EventDecoder(TOPICS[topic], NOT_BEFORE, SKEW)
    column_types_in_order = [types[c] for c in TOPICS[topic].columns]
    encoded = 0
    for i, (value, fast) in enumerate(
        zip(values, run_fast_path(topic, types, values), strict=True)
    ):
        if fast is None:
            continue
        encoded += 1
        try:
            reference = (*decoder.decode(value, NOW + SKEW), i % 3, i)
        except RejectedEvent as rejected:
            pytest.fail(f"fast path took {value!r}, which msgspec rejects: {rejected.reason}")
        row, (event_key, event_micros) = fast
        for name, typ, got, want in zip(
            TOPICS[topic].columns, column_types_in_order, row, reference, strict=True
        ):
            if want is None or got is None:
                assert got is None and want is None, f"{name} of {value!r}: {got!r} != {want!r}"
            else:
                assert same_value(got, want, typ), f"{name} of {value!r}: {got!r} != {want!r}"
        assert (event_key, event_micros) == (reference[0].int, micros(reference[1]))
    return encoded


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("topic", list(TOPICS))
@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32))
def test_fast_path_takes_only_what_msgspec_accepts_with_identical_values(column_types, topic, seed):
    # A seed rather than hypothesis-driven draws: the messages take thousands of draws,
    # and a failure names the message itself.
    rng = random.Random(seed)
    assert_fast_path_agrees(topic, column_types[topic], [message(rng, topic) for _ in range(50)])


@pytest.mark.parametrize("topic", list(TOPICS))
def test_producers_usual_events_take_the_fast_path(column_types, topic):
    """Events as the tests' producer (json.dumps) and the generator (msgspec) write them."""
    generated = [
        e.value
        for e in generate_events(
            GeneratorConfig(seed=3, days=1, events_per_day=300, malformed_fraction=0)
        )
        if e.topic == topic
    ][:200]
    dumped = [json.dumps(event(topic, NOW - timedelta(hours=i))).encode() for i in range(50)]
    values = generated + dumped
    assert assert_fast_path_agrees(topic, column_types[topic], values) == len(values)


def test_a_schema_the_fast_path_cannot_encode_is_refused(column_types):
    class Odd(TOPICS["user-lifecycle"].schema, kw_only=True):
        score: float = 0.0

    odd = replace(TOPICS["user-lifecycle"], schema=Odd)
    with pytest.raises(UnsupportedLayoutError, match="score"):
        copy_layout(odd, {**column_types["user-lifecycle"], "score": "double precision"})


class _Message:
    def __init__(self, partition: int, offset: int, value: bytes | None) -> None:
        self._partition, self._offset, self._value = partition, offset, value

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k%d" % self._offset

    def value(self) -> bytes | None:
        return self._value


def _corpus(topic: str) -> list[bytes | None]:
    rng = random.Random(11)
    config = GeneratorConfig(
        seed=5, days=1, events_per_day=400, duplicate_fraction=0.05, malformed_fraction=0.05
    )
    generated = [e.value for e in generate_events(config) if e.topic == topic][:800]
    variants = [message(rng, topic) for _ in range(800)]
    values: list[bytes | None] = [*generated, *variants, None]
    values += rng.sample(values[:-1], 100)  # redeliveries, some across batches
    rng.shuffle(values)
    return values


def _tables(conn: psycopg.Connection, spec: TopicSpec) -> dict[str, list[tuple]]:
    columns = ", ".join(f"{c}::text" for c in spec.columns)
    return {
        "rows": conn.execute(f"SELECT {columns} FROM {spec.table} ORDER BY 1, 2").fetchall(),
        "dead_letters": conn.execute(
            'SELECT topic, partition, "offset", key, payload, reason FROM ingest.dead_letters '
            'ORDER BY partition, "offset"'
        ).fetchall(),
        "hours": conn.execute(
            "SELECT hour_start, rows_ingested, max_occurred_at FROM ingest.touched_hours "
            "ORDER BY hour_start"
        ).fetchall(),
        "offsets": conn.execute(
            "SELECT partition, next_offset FROM ingest.offsets ORDER BY partition"
        ).fetchall(),
    }


@pytest.mark.parametrize("topic", list(TOPICS))
def test_batches_store_the_same_rows_and_dead_letters_with_and_without_the_fast_path(
    settings: Settings, postgres_cluster, topic
):
    spec = TOPICS[topic]
    values = _corpus(topic)
    partitions = 4
    offsets = [0] * partitions
    messages = []
    for i, value in enumerate(values):
        messages.append(_Message(i % partitions, offsets[i % partitions], value))
        offsets[i % partitions] += 1
    reference_url = postgres_cluster.create_database()
    try:
        migrate(settings_for(database_url=reference_url))
        outcomes = {}
        for label, url, fast_path in (
            ("fast", settings.database_url, True),
            ("msgspec", reference_url, False),
        ):
            decoder = EventDecoder(spec, NOT_BEFORE, SKEW)
            loader = RawLoader(spec, spec.name, "tests", decoder, settings.tz, fast_path=fast_path)
            totals = []
            with psycopg.connect(url, autocommit=True) as conn:
                for first in range(0, len(messages), 500):
                    result = loader.load(conn, messages[first : first + 500], NOW)
                    totals.append(
                        (
                            result.messages,
                            result.rows_inserted,
                            result.duplicates,
                            result.dead_letters,
                        )
                    )
                outcomes[label] = (_tables(conn, spec), totals)
    finally:
        postgres_cluster.drop_database(reference_url)
    fast, reference = outcomes["fast"], outcomes["msgspec"]
    assert fast[1] == reference[1]
    for name in reference[0]:
        assert fast[0][name] == reference[0][name], name
    rows_inserted = sum(t[1] for t in fast[1])
    assert rows_inserted > 200 and sum(t[3] for t in fast[1]) > 50


def test_recent_ids_drop_repeats_and_forget_between_half_and_full_capacity():
    from analytics_platform.ingestion.recent_ids import RecentIds

    def admit(recent: RecentIds, keys: list[int]) -> list[bool]:
        count = len(keys)
        keep = np.zeros(count, np.bool_)
        ids = np.array(keys, np.uint64)
        recent.admit(np.ones(count, np.bool_), ids, ids * 7, np.array(keys, np.int64), keep)
        return keep.tolist()

    recent = RecentIds(capacity=1000)
    assert admit(recent, [1, 2, 1, 3, 2]) == [True, True, False, True, False]
    assert admit(recent, [3, 4]) == [False, True]
    admit(recent, list(range(100, 500)))
    assert admit(recent, [1]) == [False]
    admit(recent, list(range(1000, 1400)))  # beyond half: the next call starts a generation
    assert admit(recent, [1]) == [False]  # still held by the previous generation
    admit(recent, list(range(2000, 2600)))
    assert admit(recent, [1, 2000]) == [True, False]  # 1 is forgotten, 1400 keys later
    recent.clear()
    assert admit(recent, [2000, 3000]) == [True, True]


@pytest.mark.slow
def test_the_compiled_path_loads_from_numbas_cache_in_a_new_process(settings: Settings):
    """numba caches the compiled code on disk; a stale or broken cache entry crashed a
    process once (a recursive function), so a second process must load it and agree."""
    script = (
        "import sys\n"
        "from datetime import UTC, datetime, timedelta\n"
        "from zoneinfo import ZoneInfo\n"
        "import psycopg\n"
        "from analytics_platform.events import TOPICS, EventDecoder\n"
        "from analytics_platform.ingestion.loader import RawLoader\n"
        "spec = TOPICS['webhook-deliveries']\n"
        "decoder = EventDecoder(spec, datetime(2024, 1, 1, tzinfo=UTC), timedelta(0))\n"
        "loader = RawLoader(spec, 't', 'g', decoder, ZoneInfo('UTC'))\n"
        "with psycopg.connect(sys.argv[1]) as conn:\n"
        "    loader.bind(conn)\n"
        "loader.warm_up()\n"
        "class M:\n"
        "    def partition(self): return 0\n"
        "    def offset(self): return 5\n"
        "    def key(self): return b''\n"
        "    def value(self): return sys.argv[2].encode()\n"
        "batch = loader.prepare([M()], datetime.now(UTC))\n"
        "print(b''.join(batch.payload).hex(), len(batch.rows))\n"
    )
    value = json.dumps(event("webhook-deliveries", NOW - timedelta(days=1)))
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script, settings.database_url, value],
            capture_output=True,
            text=True,
            timeout=240,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert outputs[0] == outputs[1] and outputs[0].endswith(" 0\n") and len(outputs[0]) > 100


def test_one_loader_serves_one_ingestion_at_a_time():
    spec = TOPICS["transactions"]
    loader = RawLoader(spec, spec.name, "tests", EventDecoder(spec, NOT_BEFORE, SKEW), UTC)
    with (
        loader.exclusive(),
        pytest.raises(LoaderBusyError, match="one ingestion per topic at a time"),
        loader.exclusive(),
    ):
        pass
    with loader.exclusive():  # released again
        pass
