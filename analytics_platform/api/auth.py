"""Who is calling: the `X-API-Key` header checked against `api.api_keys`.

Verified keys (and unknown ones) are remembered for API_KEY_CACHE_SECONDS, so auth costs
a dictionary lookup per request, not a query. That is also the bound on revocation: a
revoked key keeps working in a worker for at most that long after its last check.

A key used when its check is more than half that old is checked again in the background
while the request goes on: a key in steady use never has a request wait for the database
(nor leave the fast path because its check expired), and the bound on revocation stays.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from analytics_platform.api.db import Database
from analytics_platform.api.errors import ApiError
from analytics_platform.api.keys import Scope, split_key

log = logging.getLogger("analytics_platform.api")


@dataclass(frozen=True)
class Principal:
    """An authenticated key."""

    key_id: int
    key_prefix: str
    key_name: str
    scope: Scope

    @property
    def is_admin(self) -> bool:
        return self.scope.kind == "admin"


# Remembered as refused (unknown or revoked), as opposed to not remembered.
_UNKNOWN = Principal(0, "", "", Scope("none"))


class KeyVerifier:
    def __init__(self, db: Database, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._known: dict[bytes, tuple[Principal | None, float]] = {}
        self._pending: dict[bytes, asyncio.Future[Principal | None]] = {}
        # Background re-checks in flight (referenced, or the loop may drop them).
        self._refreshing: set[asyncio.Task[Principal | None]] = set()

    async def verify(self, presented: str | None) -> Principal:
        if not presented:
            raise ApiError(
                "ANA_AUTH_001",
                "send an API key in the X-API-Key header "
                "(create one with `analytics-platform api-key create`)",
            )
        parts = split_key(presented)
        if parts is None:
            raise ApiError("ANA_AUTH_002", "the X-API-Key header does not hold a valid key")
        prefix, digest = parts
        principal = self._remembered(prefix, digest)
        if principal is None:
            principal = await self._lookup(prefix, digest)
        elif principal is _UNKNOWN:
            principal = None
        if principal is None:
            raise ApiError(
                "ANA_AUTH_002", f"API key {prefix} is unknown or revoked; ask for a new one"
            )
        return principal

    def trusted(self, presented: str) -> Principal | None:
        """The key's principal if it was verified less than the TTL ago (no query)."""
        parts = split_key(presented)
        if parts is None:
            return None
        principal = self._remembered(*parts)
        return None if principal is None or principal is _UNKNOWN else principal

    async def checked(self, presented: str) -> Principal | None:
        """The key's principal, checked against the database first if it is not
        remembered (as `verify` does), or None for a malformed, unknown or revoked key."""
        parts = split_key(presented)
        if parts is None:
            return None
        principal = self._remembered(*parts)
        if principal is None:
            principal = await self._lookup(*parts)
        return None if principal is None or principal is _UNKNOWN else principal

    def _remembered(self, prefix: str, digest: bytes) -> Principal | None:
        """The remembered answer for the key (`_UNKNOWN` if it was refused), None when
        there is none younger than the TTL; past half the TTL a re-check starts."""
        known = self._known.get(digest)
        if known is None:
            return None
        age = time.monotonic() - known[1]
        if age >= self.ttl:
            return None
        if age >= self.ttl / 2 and known[0] is not None and digest not in self._pending:
            task = asyncio.get_running_loop().create_task(self._recheck(prefix, digest))
            self._refreshing.add(task)
            task.add_done_callback(self._refreshing.discard)
        return known[0] or _UNKNOWN

    async def _recheck(self, prefix: str, digest: bytes) -> Principal | None:
        try:
            return await self._lookup(prefix, digest)
        except Exception as exc:  # the entry then expires as it would have
            log.warning("re-checking API key %s failed: %s", prefix, str(exc).strip() or exc)
            return None

    async def _lookup(self, prefix: str, digest: bytes) -> Principal | None:
        pending = self._pending.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._pending[digest] = future
        try:
            async with self.db.unscoped() as conn:
                cursor = await conn.execute(
                    "SELECT * FROM api.authenticate_key(%s, %s)", (prefix, digest)
                )
                row = await cursor.fetchone()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            del self._pending[digest]
        principal = None
        if row is not None:
            key_id, name, kind, merchant_id = row
            principal = Principal(key_id, prefix, name, Scope(kind, merchant_id))
        if len(self._known) >= self.max_entries:
            # Oldest first: dicts keep insertion order.
            for stale in list(self._known)[: self.max_entries // 10 or 1]:
                del self._known[stale]
        self._known[digest] = (principal, time.monotonic())
        future.set_result(principal)
        return principal
