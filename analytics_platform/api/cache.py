"""In-process cache of rendered responses, kept exact by watermarks instead of timers.

A response depends on a few sources: marts (changed only when a rollup run materializes
them, recorded in `marts.rollup_buckets.materialized_at`) and, for the realtime figures,
raw transactions (changed by every ingestion batch, recorded in `ingest.touched_hours`:
the newest ingestion time and the rows ingested, since batches commit in any order of
their times). `Watermarks` re-reads them (api/watermarks.sql) at most once a second; a
cached response is served as long as the watermarks of its sources are the ones it was
computed under, so a new materialization is visible within about a second and nothing
is recomputed while nothing changed. Time-dependent windows ("today", "the last 7
days") are resolved before the cache key is built, so a new hour or day is a new key.

Concurrent requests for a response being computed wait for that one computation.

`FreshnessMemo` keeps, the same way, what a response's freshness query read (the newest
materialization and bucket count of some marts over a window): it depends on the marts
alone, not on who asks, so the many uncached answers over the same windows (today, the
last 7 days) share one reading instead of a query each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from analytics_platform.api.db import Database
from analytics_platform.rollups.families import MARTS

log = logging.getLogger("analytics_platform.api")

RAW_TRANSACTIONS = "raw.transactions"
MART_NAMES = [m.name for m in MARTS]


# A source's newest change time and, where times alone cannot tell a later commit, a
# count that grows with every change (None where they can).
Mark = tuple[datetime | None, int | None]


class Watermarks:
    """The newest change of every source, as last read; `version` moves when any does."""

    def __init__(self) -> None:
        self.values: dict[str, Mark] = {}
        self.version = 0
        self.read_at = 0.0  # monotonic time of the last successful read

    def update(self, values: dict[str, Mark]) -> None:
        if values != self.values:
            self.values = values
            self.version += 1
        self.read_at = time.monotonic()

    def of(self, sources: Sequence[str]) -> tuple[Mark | None, ...]:
        return tuple(self.values.get(s) for s in sources)

    async def refresh(self, db: Database, now: datetime | None = None) -> None:
        # Realtime reads today's raw hours; two days back covers "today" in any zone.
        since = (now or datetime.now(UTC)) - timedelta(days=2)
        async with db.unscoped() as conn:
            rows = await db.rows(
                conn, "api/watermarks.sql", {"marts": MART_NAMES, "raw_since": since}
            )
        self.update({r["source"]: (r["watermark"], r["changes"]) for r in rows})

    async def follow(
        self, db: Database, interval: float, clock: Callable[[], datetime] | None = None
    ) -> None:
        """Refresh every `interval` seconds until cancelled; errors are logged, and the
        last values stay (cached responses are still right as of then)."""
        failing = False
        while True:
            try:
                await self.refresh(db, clock() if clock else None)
                if failing:
                    log.info("watermarks readable again")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep following whatever the database does
                if not failing:
                    log.warning("cannot read watermarks: %s", str(exc).strip() or type(exc))
                failing = True
            await asyncio.sleep(interval)


# A memo older than this many seconds of watermark silence is not trusted: the follower
# is failing, so nothing would invalidate it.
MEMO_TRUST_SECONDS = 5.0


class FreshnessMemo:
    """Values by key, each kept while the watermarks of its sources are the ones read
    before it was computed (the same rule as the response cache); least recently used go.

    A value computed just as a materialization commits, before the watermarks show it,
    is replaced at the next watermark reading (within WATERMARK_INTERVAL_SECONDS), as
    the response computed with it is: the bound the response cache already has."""

    def __init__(self, watermarks: Watermarks, max_entries: int = 4096) -> None:
        self.watermarks = watermarks
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[tuple[Mark | None, ...], object]] = OrderedDict()

    def seen(self, sources: Sequence[str]) -> tuple[Mark | None, ...] | None:
        """The watermarks a value computed now depends on; None when they cannot vouch
        for it (a source they do not follow, or no recent reading)."""
        marks = self.watermarks
        if time.monotonic() - marks.read_at > MEMO_TRUST_SECONDS:
            return None
        if not all(s in marks.values for s in sources):
            return None
        return marks.of(sources)

    def get(self, key: Hashable, sources: Sequence[str]) -> object | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        seen = self.seen(sources)
        if seen is None or seen != entry[0]:
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, seen: tuple[Mark | None, ...], value: object) -> None:
        self._entries[key] = (seen, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


@dataclass
class Rendered:
    """A computed response: its bytes and what the HTTP caching headers need."""

    body: bytes
    media_type: str
    etag: str
    last_modified: datetime | None
    headers: dict[str, str] = field(default_factory=dict)
    # The same headers as ASGI sends them, encoded once.
    raw_headers: list[tuple[bytes, bytes]] = field(init=False)

    def __post_init__(self) -> None:
        self.raw_headers = [
            (k.lower().encode(), v.encode("latin-1")) for k, v in self.headers.items()
        ]


@dataclass
class _Entry:
    rendered: Rendered
    sources: tuple[str, ...]
    seen: tuple[Mark | None, ...]
    version: int


class ResponseCache:
    """Rendered responses by key, least recently used evicted past `max_entries`."""

    def __init__(self, watermarks: Watermarks, max_entries: int = 4096) -> None:
        self.watermarks = watermarks
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future[Rendered]] = {}
        self.hits = 0
        self.misses = 0

    def _valid(self, entry: _Entry) -> bool:
        marks = self.watermarks
        if entry.version == marks.version:
            return True
        if marks.of(entry.sources) == entry.seen:
            entry.version = marks.version  # other sources moved; this one did not
            return True
        return False

    def peek(self, key: Hashable) -> Rendered | None:
        """The cached response for `key` if it is still valid (nothing computed)."""
        entry = self._entries.get(key)
        if entry is None or not self._valid(entry):
            return None
        # A hit of the fast path counts as a use too, or the entries it serves most
        # would be the first evicted.
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.rendered

    async def get(
        self,
        key: Hashable,
        sources: tuple[str, ...],
        compute: Callable[[], Awaitable[Rendered]],
    ) -> Rendered:
        entry = self._entries.get(key)
        if entry is not None and self._valid(entry):
            self._entries.move_to_end(key)
            self.hits += 1
            return entry.rendered
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        self.misses += 1
        # Read before computing: a materialization landing during the computation then
        # shows as a newer watermark and the next request recomputes.
        version, seen = self.watermarks.version, self.watermarks.of(sources)
        future: asyncio.Future[Rendered] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            rendered = await compute()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else must
            raise
        finally:
            del self._pending[key]
        future.set_result(rendered)
        self._entries[key] = _Entry(rendered, sources, seen, version)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return rendered

    def clear(self) -> None:
        self._entries.clear()
