"""Exports: a response's series as CSV or JSON, chosen by `format=` or the Accept header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from analytics_platform.api.errors import ApiError, echo

JSON = "application/json"
CSV = "text/csv; charset=utf-8"
FORMATS = ("json", "csv")


_JSON_TYPES = ("application/json", "application/*", "*/*", "application/problem+json")
_CSV_TYPES = ("text/csv", "text/*")


def _acceptable(accept: str) -> list[str]:
    """The media types Accept allows (q > 0), most preferred first."""
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
        if quality > 0:
            ranked.append((-quality, position, media.lower()))
    return [media for _, _, media in sorted(ranked)]


def _not_acceptable(accept: str, produces: str) -> ApiError:
    return ApiError(
        "ANA_VAL_006",
        f"cannot answer with any of Accept: {echo(accept)}; ask for {produces}",
        params=[("Accept", produces)],
    )


def negotiate(format_param: str | None, accept: str | None) -> str:
    """'json' or 'csv': `format` wins; else the first of Accept's types we can produce
    (no Accept, or */*: json); ANA_VAL_006 when Accept allows neither."""
    if format_param is not None:
        return format_param
    if not accept:
        return "json"
    for media in _acceptable(accept):
        if media in _JSON_TYPES:
            return "json"
        if media in _CSV_TYPES:
            return "csv"
    raise _not_acceptable(accept, "application/json or text/csv, or pass format=json|csv")


def require_json(accept: str | None) -> None:
    """For endpoints without an export: ANA_VAL_006 unless Accept allows JSON (no
    Accept allows everything)."""
    if accept and not any(media in _JSON_TYPES for media in _acceptable(accept)):
        raise _not_acceptable(accept, "application/json (this endpoint has no CSV export)")


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
