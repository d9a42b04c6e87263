"""Cursor pagination of the API's lists.

A cursor is opaque to clients: base64url of the sort key of the last item returned and
a fingerprint of the query it belongs to, so a cursor replayed with other parameters is
refused instead of silently skipping or repeating items.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import msgspec

from analytics_platform.api.errors import invalid

T = TypeVar("T")
Key = tuple[str, ...]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def fingerprint(query: Hashable) -> str:
    return hashlib.blake2b(repr(query).encode(), digest_size=6).hexdigest()


def encode_cursor(key: Key, query: Hashable) -> str:
    payload = msgspec.json.encode({"k": list(key), "q": fingerprint(query)})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str | None, query: Hashable) -> Key | None:
    """The key after which the page starts (None: the first page); ANA_VAL_005 for a
    cursor that is malformed or belongs to another query."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = msgspec.json.decode(raw, type=dict[str, list[str] | str])
        key, fp = payload["k"], payload["q"]
    except (binascii.Error, ValueError, KeyError, msgspec.DecodeError):
        raise invalid(
            "cursor", "not a cursor this API returned; pass nextCursor as is", "ANA_VAL_005"
        ) from None
    if not isinstance(key, list) or fp != fingerprint(query):
        raise invalid(
            "cursor",
            "this cursor belongs to a request with other parameters; start again without it",
            "ANA_VAL_005",
        )
    return tuple(key)


def page(
    items: Sequence[T], sort_key: Callable[[T], Key], after: Key | None, limit: int, query: Hashable
) -> tuple[list[T], str | None]:
    """The items after `after` (items are in sort_key order), at most `limit`, and the
    cursor of the next page (None on the last one)."""
    start = 0
    if after is not None:
        while start < len(items) and sort_key(items[start]) <= after:
            start += 1
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return chunk, encode_cursor(sort_key(chunk[-1]), query) if more and chunk else None
