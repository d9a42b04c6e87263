"""What every query function shares: who and when it asks for, figures and rounding.

Query functions take an `Ask` (a scoped connection, the subject, the zones, one clock
reading) and return a response model plus the `Freshness` of what it read, which becomes
Last-Modified and part of the ETag.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from analytics_platform.api.cache import RAW_TRANSACTIONS, FreshnessMemo
from analytics_platform.api.db import Database, Reader
from analytics_platform.api.periods import Window
from analytics_platform.api.schemas import Totals, WindowOut

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Subject:
    """Whose numbers: the platform (merchant_id None) or one merchant."""

    merchant_id: str | None = None

    @property
    def dimension(self) -> str:
        return "platform" if self.merchant_id is None else "merchant"

    @property
    def dimension_value(self) -> str:
        return self.merchant_id or ""

    def params(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "dimension_value": self.dimension_value}


@dataclass(frozen=True)
class Freshness:
    """What a response read: its newest materialization (Last-Modified) and a token that
    changes whenever any bucket it read was added or replaced."""

    last_modified: datetime | None
    token: str


@dataclass(frozen=True)
class Ask:
    db: Database
    conn: Reader
    subject: Subject
    tz: ZoneInfo  # presentation
    reporting_tz: ZoneInfo  # buckets
    now: datetime
    # Freshness readings shared across requests; None: read every time.
    memo: FreshnessMemo | None = None

    async def rows(
        self, relative: str, params: Mapping[str, Any], table: str | None = None
    ) -> list[dict[str, Any]]:
        return await self.db.rows(self.conn, relative, params, table)

    async def rows_together(
        self, *queries: tuple[str, Mapping[str, Any], str | None]
    ) -> list[list[dict[str, Any]]]:
        """Independent reads in one round trip (`Database.rows_together`)."""
        return await self.db.rows_together(self.conn, queries)

    async def shared_rows(
        self, key: Hashable, sources: Sequence[str], query: Query
    ) -> list[dict[str, Any]]:
        """The rows of a read that depends on `sources` alone, not on who asks (no
        protected table, no subject parameter): kept in the memo, by `key`, while their
        watermarks hold, as freshness readings are, so other subjects' answers skip it."""
        if self.memo is None:
            return await self.rows(*query)
        known = self.memo.get(key, sources)
        if isinstance(known, list):
            return known
        seen = self.memo.seen(sources)
        rows = await self.rows(*query)
        if seen is not None:
            self.memo.put(key, seen, rows)
        return rows

    async def last_reads(
        self,
        queries: Sequence[Query],
        marts: Sequence[str],
        window: Window,
        raw_since: datetime | None = None,
    ) -> tuple[list[list[dict[str, Any]]], Freshness]:
        """An answer's last reads and its freshness (`freshness`), all in the one round
        trip that ends the transaction (`Database.rows_together(last=True)`): the
        freshness query rides along unless the memo knows it."""
        start, end = window.utc
        sources = (*marts, RAW_TRANSACTIONS) if raw_since is not None else tuple(marts)
        key = (tuple(marts), start, end, raw_since)
        seen = None
        if self.memo is not None:
            known = self.memo.get(key, sources)
            if isinstance(known, Freshness):
                return await self.db.rows_together(self.conn, queries, last=True), known
            # Before reading: a change landing meanwhile then shows as newer watermarks.
            seen = self.memo.seen(sources)
        reading = _freshness_queries(marts, start, end, raw_since)
        results = await self.db.rows_together(self.conn, [*queries, *reading], last=True)
        fresh = _freshness_of(results[len(queries) :], raw_since)
        if self.memo is not None and seen is not None:
            self.memo.put(key, seen, fresh)
        return results[: len(queries)], fresh

    def at(self, value: datetime) -> datetime:
        """A time as the client asked to see it."""
        return value.astimezone(self.tz)

    def window(self, window: Window) -> WindowOut:
        return WindowOut(start=self.at(window.start), end=self.at(window.end))

    async def freshness(
        self, marts: Sequence[str], window: Window, raw_since: datetime | None = None
    ) -> Freshness:
        """What the marts (and with `raw_since` raw transactions since then) held over
        `window` as read now, or as the memo knows it; the block's last read."""
        _, fresh = await self.last_reads((), marts, window, raw_since)
        return fresh


# A read: a file of `sql/`, its parameters and the marts table filling its `{table}`.
Query = tuple[str, Mapping[str, Any], str | None]


def _freshness_queries(
    marts: Sequence[str], start: datetime, end: datetime, raw_since: datetime | None
) -> list[Query]:
    marts_query: Query = (
        "api/freshness.sql",
        {"marts": list(marts), "window_start": start, "window_end": end},
        None,
    )
    if raw_since is None:
        return [marts_query]
    return [marts_query, ("api/raw_freshness.sql", {"since": raw_since}, None)]


def _freshness_of(results: Sequence[list[dict[str, Any]]], raw_since: datetime | None) -> Freshness:
    """The Freshness of `_freshness_queries`' results."""
    rows = results[0]
    last, buckets, total = rows[0]["last_modified"], rows[0]["buckets"], rows[0]["rows"]
    token = f"{last.isoformat() if last else '-'}|{buckets}|{total}"
    if raw_since is not None:
        ingested = results[1][0]["last_ingested_at"]
        token += f"|{ingested.isoformat() if ingested else '-'}"
        if ingested is not None and (last is None or ingested > last):
            last = ingested
    return Freshness(last, token)


def percent(numerator: float | int | Decimal, denominator: float | int | Decimal) -> float | None:
    """numerator / denominator in percent, 2 decimals; None when the denominator is 0."""
    if not denominator:
        return None
    return round(100.0 * float(numerator) / float(denominator), 2)


def average(amount: Decimal, count: int) -> Decimal | None:
    """amount / count rounded half up to cents; None without any count."""
    if not count:
        return None
    return (amount / count).quantize(CENT, rounding=ROUND_HALF_UP)


def rounded(value: float | Decimal | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def hour_label(hour: int) -> str:
    suffix = "AM" if hour < 12 else "PM"
    return f"{hour % 12 or 12} {suffix}"


COUNTS = (
    "transaction_count",
    "success_count",
    "failed_count",
    "expired_count",
    "pending_count",
    "refunded_count",
)


@dataclass
class Tally:
    """Additive transaction figures of some buckets, money per currency."""

    transaction_count: int = 0
    success_count: int = 0
    failed_count: int = 0
    expired_count: int = 0
    pending_count: int = 0
    refunded_count: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)
    successes: dict[str, int] = field(default_factory=dict)

    def add(self, currency: str, row: Mapping[str, Any], prefix: str = "") -> None:
        """Add a per-currency row (columns named like COUNTS and `revenue`, optionally
        prefixed); a row without transactions adds no currency."""
        if not row[prefix + "transaction_count"]:
            return
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + int(row[prefix + name] or 0))
        revenue = row[prefix + "revenue"]
        self.revenue[currency] = self.revenue.get(currency, Decimal(0)) + (revenue or Decimal(0))
        self.successes[currency] = self.successes.get(currency, 0) + int(
            row[prefix + "success_count"] or 0
        )

    @property
    def success_rate(self) -> float | None:
        return percent(
            self.success_count, self.success_count + self.failed_count + self.expired_count
        )

    def averages(self) -> dict[str, Decimal]:
        result = {}
        for currency, amount in self.revenue.items():
            value = average(amount, self.successes.get(currency, 0))
            if value is not None:
                result[currency] = value
        return result

    def totals(self, unique_payers: int | None) -> Totals:
        return Totals(
            transaction_count=self.transaction_count,
            success_count=self.success_count,
            failed_count=self.failed_count,
            expired_count=self.expired_count,
            pending_count=self.pending_count,
            refunded_count=self.refunded_count,
            success_rate=self.success_rate,
            revenue=dict(sorted(self.revenue.items())),
            average_value=dict(sorted(self.averages().items())),
            unique_payers=unique_payers,
        )


def bucket_totals(rows: Iterable[Mapping[str, Any]]) -> tuple[Tally, int | None]:
    """The figures of one bucket from its mart rows (per currency, and for the platform
    the all-currency row, which alone knows distinct payers across currencies)."""
    tally = Tally()
    across: int | None = None
    per_currency: list[int] = []
    for row in rows:
        if row["currency"] == "":
            across = int(row["unique_payers"])
        else:
            tally.add(row["currency"], row)
            per_currency.append(int(row["unique_payers"]))
    if across is None and len(per_currency) == 1:
        across = per_currency[0]
    return tally, across
