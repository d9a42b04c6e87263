"""Exports: a response's series as CSV or JSON, chosen by `format=` or the Accept header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from analytics_platform.api.errors import ApiError

JSON = "application/json"
CSV = "text/csv; charset=utf-8"
FORMATS = ("json", "csv")


def negotiate(format_param: str | None, accept: str | None) -> str:
    """'json' or 'csv': `format` wins; else the first of Accept's types we can produce
    (no Accept, or */*: json); ANA_VAL_006 when Accept allows neither."""
    if format_param is not None:
        return format_param
    if not accept:
        return "json"
    ranked = []
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, media.lower()))
    for negative_quality, _, media in sorted(ranked):
        if negative_quality >= 0:
            continue
        if media in ("application/json", "application/*", "*/*", "application/problem+json"):
            return "json"
        if media in ("text/csv", "text/*"):
            return "csv"
    raise ApiError(
        "ANA_VAL_006",
        f"cannot answer with any of Accept: {accept!r}; ask for application/json or "
        "text/csv, or pass format=json|csv",
        params=[("Accept", "application/json or text/csv")],
    )


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def to_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """One line per row; nested objects become dotted columns (`revenue.IDR`), every
    column any row has, in order of first appearance; null is an empty cell."""
    flat = []
    columns: dict[str, None] = {}
    for row in rows:
        line: dict[str, Any] = {}
        _flatten(row, "", line)
        flat.append(line)
        columns.update(dict.fromkeys(line))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue().encode()
