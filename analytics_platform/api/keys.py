"""API keys: creating, revoking and listing them (the CLI), and their format.

A key looks like `ana_<prefix>_<secret>`: `prefix` (8 hex digits) is not secret and
finds the row; the whole key is 256 bits of randomness plus the prefix. Only its SHA-256
is stored. A fast hash is enough because nobody can guess a 256-bit random value, so
there is no dictionary for a slow KDF to slow down; and it keeps verification cheap.
The plaintext is returned once, by `create_api_key`, and never stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg

from analytics_platform.resources.warehouse import connect, read_sql

KEY_PREFIX = "ana_"
_KEY = re.compile(r"^ana_(?P<prefix>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_-]{43})$")
_MERCHANT_ID = re.compile(r"^[^\s]{1,200}$")


class ApiKeyError(ValueError):
    """A key, scope or name the key commands cannot use."""


class ApiKeyNotFoundError(LookupError):
    """No API key has that id or prefix."""


@dataclass(frozen=True)
class Scope:
    """What a key may see: everything (`admin`) or one merchant's numbers."""

    kind: str  # 'admin' | 'merchant'
    merchant_id: str | None = None

    def __str__(self) -> str:
        return "admin" if self.kind == "admin" else f"merchant:{self.merchant_id}"


def parse_scope(text: str) -> Scope:
    """`admin` or `merchant:<merchant_id>`."""
    if text == "admin":
        return Scope("admin")
    kind, _, merchant_id = text.partition(":")
    if kind == "merchant" and _MERCHANT_ID.match(merchant_id):
        return Scope("merchant", merchant_id)
    raise ApiKeyError(
        f"scope {text!r}: expected `admin` or `merchant:<merchant_id>` (e.g. merchant:mch_42)"
    )


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def split_key(presented: str) -> tuple[str, bytes] | None:
    """(prefix, hash) of a well-formed key; None for anything else (no lookup needed)."""
    match = _KEY.match(presented)
    return (match["prefix"], hash_key(presented)) if match else None


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its hash."""

    id: int
    prefix: str
    name: str
    scope: str
    merchant_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def scope_text(self) -> str:
        return str(Scope(self.scope, self.merchant_id))


@contextmanager
def _connection(conninfo_or_conn: str | psycopg.Connection) -> Iterator[psycopg.Connection]:
    if isinstance(conninfo_or_conn, psycopg.Connection):
        yield conninfo_or_conn
        return
    with connect(conninfo_or_conn, autocommit=True) as conn:
        yield conn


def create_api_key(conninfo_or_conn: str | psycopg.Connection, *, name: str, scope: str) -> str:
    """Store a new key for `scope` (`admin` or `merchant:<id>`); returns the plaintext key,
    which cannot be recovered later."""
    parsed = parse_scope(scope)
    if not name.strip():
        raise ApiKeyError("name: give the key a name saying who or what uses it")
    with _connection(conninfo_or_conn) as conn:
        for _ in range(5):
            prefix = secrets.token_hex(4)
            key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
            try:
                with conn.transaction():
                    conn.execute(
                        read_sql("api/keys/insert_key.sql"),
                        {
                            "prefix": prefix,
                            "key_hash": hash_key(key),
                            "name": name.strip(),
                            "scope": parsed.kind,
                            "merchant_id": parsed.merchant_id,
                        },
                    )
                return key
            except psycopg.errors.UniqueViolation:
                continue  # a prefix collision (1 in 4 billion per existing key): draw again
    raise ApiKeyError("could not draw an unused key prefix; try again")


def revoke_api_key(conninfo_or_conn: str | psycopg.Connection, key: str | int) -> ApiKey:
    """Revoke the key with this id, prefix, or plaintext. Verified keys are cached by the
    API for API_KEY_CACHE_SECONDS, so the key stops working within that time."""
    text = str(key).strip()
    if match := _KEY.match(text):
        text = match["prefix"]
    # Exactly 8 hex digits is a prefix (ids never get that long); other digits are an id.
    if re.fullmatch(r"[0-9a-f]{8}", text):
        params: dict[str, object] = {"id": None, "prefix": text}
    elif text.isdigit() and len(text) < 18:
        params = {"id": int(text), "prefix": None}
    else:
        raise ApiKeyError(f"{text!r}: give the key's id, its 8-digit prefix, or the key itself")
    with _connection(conninfo_or_conn) as conn:
        row = conn.execute(read_sql("api/keys/revoke_key.sql"), params).fetchone()
    if row is None:
        raise ApiKeyNotFoundError(
            f"no API key with id or prefix {text!r}; `analytics-platform api-key list` shows them"
        )
    return ApiKey(*row)


def list_api_keys(conninfo_or_conn: str | psycopg.Connection) -> list[ApiKey]:
    with _connection(conninfo_or_conn) as conn:
        rows = conn.execute(read_sql("api/keys/list_keys.sql")).fetchall()
    return [ApiKey(*row) for row in rows]
