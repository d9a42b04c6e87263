"""The tables `copy_kernel.encode_rows` reads for one topic, derived from the contract.

Everything comes from the event schema (msgspec's own description of its types and
constraints), the topic's declared rules and the raw table's column types, so the fast
path cannot drift from the decoder: a schema feature the kernel does not implement makes
`copy_layout` refuse the topic (UnsupportedLayoutError) instead of guessing, and that
topic is then decoded by msgspec alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from analytics_platform.events import (
    SOURCE_COLUMNS,
    BoundedAmount,
    PositiveAmount,
    RequiredWhen,
    TopicSpec,
)
from analytics_platform.ingestion import copy_kernel as k

_INT_TYPES = {"smallint": 2, "integer": 4, "bigint": 8}
_UPPER_ASCII = re.compile(r"\^\[A-Z\]\{(\d+)\}\$")
_TIMESTAMPTZ = "timestamp with time zone"


class UnsupportedLayoutError(ValueError):
    """The topic's schema uses something the compiled fast path does not implement."""


@dataclass(frozen=True)
class CopyLayout:
    """Field tables of one topic, in the argument order of `copy_kernel.encode_rows`."""

    fields: np.ndarray
    keys: np.ndarray
    enum_bytes: np.ndarray
    enum_bounds: np.ndarray
    rules: np.ndarray
    columns: np.ndarray
    id_field: int
    time_field: int

    def tables(self) -> tuple[Any, ...]:
        return (
            self.fields,
            self.keys,
            self.enum_bytes,
            self.enum_bounds,
            self.rules,
            self.columns,
            self.id_field,
            self.time_field,
        )


def copy_layout(spec: TopicSpec, column_types: Mapping[str, str]) -> CopyLayout:
    """Tables for `spec`'s topic; `column_types` maps raw-table columns to their
    PostgreSQL type names as `format_type` spells them."""
    info = msgspec.inspect.type_info(spec.schema)
    if not isinstance(info, msgspec.inspect.StructType):
        raise UnsupportedLayoutError(f"{spec.name}: the schema is not a Struct")
    if info.forbid_unknown_fields or info.array_like or info.tag_field is not None:
        raise UnsupportedLayoutError(
            f"{spec.name}: only plain Structs that ignore unknown fields are supported"
        )
    names = [f.name for f in info.fields]
    fields = np.zeros((len(names), k.FIELD_COLUMNS), np.int64)
    keys: list[bytes] = []
    enum_values: list[bytes] = []
    enum_index: dict[tuple[str, str], int] = {}
    for i, field in enumerate(info.fields):
        where = f"{spec.name}.{field.name}"
        column_type = column_types.get(field.name)
        if column_type is None:
            raise UnsupportedLayoutError(f"{where}: no such column in {spec.table}")
        row = fields[i]
        key = field.encode_name.encode()
        row[k.KEY_FIRST], row[k.KEY_LEN] = sum(map(len, keys)), len(key)
        keys.append(key)
        kind, flags = _describe(where, field.type, column_type, row)
        if field.name in spec.json_columns and kind != k.OBJECT:
            raise UnsupportedLayoutError(f"{where}: a JSON column must be an object field")
        if kind == k.OBJECT and field.name not in spec.json_columns:
            raise UnsupportedLayoutError(f"{where}: an object field must be a JSON column")
        if field.required:
            flags |= k.REQUIRED
        elif field.default is not None:
            if kind != k.INT or not isinstance(field.default, int):
                raise UnsupportedLayoutError(f"{where}: only integer defaults are supported")
            flags |= k.HAS_DEFAULT
            row[k.DEFAULT] = field.default
        elif not flags & k.NULLABLE:
            raise UnsupportedLayoutError(f"{where}: an optional field must default to null")
        if kind == k.ENUM:
            values = _enum_values(where, field.type)
            row[k.ENUM_FIRST], row[k.ENUM_COUNT] = len(enum_values), len(values)
            for value in values:
                enum_index[(field.name, value)] = len(enum_values)
                enum_values.append(value.encode())
        row[k.KIND], row[k.FLAGS] = kind, flags
    rules = _rules(spec, names, fields, enum_index)
    columns = _columns(spec, names, column_types)
    for name, kind in (("event_id", k.UUID), ("occurred_at", k.TIMESTAMP)):
        if name not in names or fields[names.index(name), k.KIND] != kind:
            raise UnsupportedLayoutError(f"{spec.name}: `{name}` is missing or mistyped")
    return CopyLayout(
        fields=fields,
        keys=np.frombuffer(b"".join(keys), np.uint8).copy(),
        enum_bytes=np.frombuffer(b"".join(enum_values) or b"\0", np.uint8).copy(),
        enum_bounds=np.cumsum([0, *map(len, enum_values)], dtype=np.int64),
        rules=rules,
        columns=columns,
        id_field=names.index("event_id"),
        time_field=names.index("occurred_at"),
    )


def _describe(where: str, typ: Any, column_type: str, row: np.ndarray) -> tuple[int, int]:
    """Kind and flags of a field, filling its bounds into `row`."""
    inspect = msgspec.inspect
    flags = 0
    if isinstance(typ, inspect.UnionType):
        others = [t for t in typ.types if not isinstance(t, inspect.NoneType)]
        if len(others) != 1 or len(typ.types) != 2:
            raise UnsupportedLayoutError(f"{where}: only `T | None` unions are supported")
        flags, typ = k.NULLABLE, others[0]

    def expect(*types: str) -> None:
        if column_type not in types:
            raise UnsupportedLayoutError(f"{where}: column type {column_type} for {typ}")

    if isinstance(typ, inspect.UUIDType):
        expect("uuid")
        return k.UUID, flags
    if isinstance(typ, inspect.DateTimeType):
        # A schema taking naive times too is fine: the fast path only takes aware ones.
        if typ.tz is False:
            raise UnsupportedLayoutError(f"{where}: naive-only timestamps are not supported")
        expect(_TIMESTAMPTZ)
        return k.TIMESTAMP, flags
    if isinstance(typ, inspect.DecimalType):
        expect("numeric")
        return k.DECIMAL, flags
    if isinstance(typ, inspect.StrType):
        expect("text")
        row[k.MIN] = typ.min_length or 0
        row[k.MAX] = typ.max_length if typ.max_length is not None else 1 << 40
        if typ.pattern is not None:
            match = _UPPER_ASCII.fullmatch(typ.pattern)
            if match is None or typ.min_length is not None or typ.max_length is not None:
                raise UnsupportedLayoutError(f"{where}: pattern {typ.pattern!r}")
            row[k.MIN] = row[k.MAX] = int(match[1])
            flags |= k.UPPER_ASCII
        return k.TEXT, flags
    if isinstance(typ, inspect.IntType):
        if typ.multiple_of is not None or column_type not in _INT_TYPES:
            raise UnsupportedLayoutError(f"{where}: {typ} in a {column_type} column")
        width = _INT_TYPES[column_type]
        low, high = -(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1
        if typ.ge is not None:
            low = max(low, typ.ge)
        if typ.gt is not None:
            low = max(low, typ.gt + 1)
        if typ.le is not None:
            high = min(high, typ.le)
        if typ.lt is not None:
            high = min(high, typ.lt - 1)
        row[k.MIN], row[k.MAX], row[k.WIDTH] = low, high, width
        return k.INT, flags
    if isinstance(typ, inspect.LiteralType):
        expect("text")
        return k.ENUM, flags
    if isinstance(typ, inspect.DictType):
        if typ.key_type != inspect.StrType() or not isinstance(typ.value_type, inspect.AnyType):
            raise UnsupportedLayoutError(f"{where}: only dict[str, Any] objects are supported")
        if typ.min_length is not None or typ.max_length is not None:
            raise UnsupportedLayoutError(f"{where}: object size bounds are not supported")
        expect("jsonb")
        return k.OBJECT, flags
    raise UnsupportedLayoutError(f"{where}: type {typ} is not supported")


def _enum_values(where: str, typ: Any) -> tuple[str, ...]:
    if isinstance(typ, msgspec.inspect.UnionType):
        typ = next(t for t in typ.types if not isinstance(t, msgspec.inspect.NoneType))
    if not all(isinstance(v, str) for v in typ.values):
        raise UnsupportedLayoutError(f"{where}: only string literals are supported")
    return tuple(typ.values)


def _rules(
    spec: TopicSpec,
    names: list[str],
    fields: np.ndarray,
    enum_index: dict[tuple[str, str], int],
) -> np.ndarray:
    required_when = []
    for rule in spec.rules:
        if isinstance(rule, PositiveAmount | BoundedAmount):
            if rule.field not in names or fields[names.index(rule.field), k.KIND] != k.DECIMAL:
                raise UnsupportedLayoutError(f"{spec.name}: {rule} needs a decimal field")
            # Bounded needs nothing more: the kernel takes at most 15 integer digits.
            if isinstance(rule, PositiveAmount):
                fields[names.index(rule.field), k.FLAGS] |= k.POSITIVE
        elif isinstance(rule, RequiredWhen):
            if (rule.when, rule.equals) not in enum_index or rule.field not in names:
                raise UnsupportedLayoutError(f"{spec.name}: {rule} needs an enum condition")
            required_when.append(
                (
                    names.index(rule.field),
                    names.index(rule.when),
                    enum_index[(rule.when, rule.equals)],
                )
            )
        else:
            raise UnsupportedLayoutError(f"{spec.name}: rule {rule} is not supported")
    return np.array(required_when, np.int64).reshape(-1, 3)


def _columns(spec: TopicSpec, names: list[str], column_types: Mapping[str, str]) -> np.ndarray:
    partition, offset = SOURCE_COLUMNS
    if column_types.get(partition) != "integer" or column_types.get(offset) != "bigint":
        raise UnsupportedLayoutError(f"{spec.table}: unexpected types of the source columns")
    source = {partition: k.SOURCE_PARTITION, offset: k.SOURCE_OFFSET}
    return np.array([source[c] if c in source else names.index(c) for c in spec.columns], np.int64)
