"""The customer tests' side: every customer table recomputed from the raw events alone.

Days are cut in Python with zoneinfo, aggregates computed with polars over the events
(money in integer cents), without versions or state: the profile, spending rows and
cohort cells "as of day D" straight from the events before the end of D. The SQL keeps
versions and carries state; this must equal what it serves on every day.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

OUTFLOW = ("PAYMENT", "TRANSFER_OUT", "WITHDRAWAL", "BILL_PAYMENT")
KYC_STATUS = {
    "user.kyc_submitted": "pending",
    "user.kyc_verified": "verified",
    "user.kyc_rejected": "rejected",
}


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def end_of(day: date, tz: ZoneInfo) -> datetime:
    return local_midnight(day + timedelta(days=1), tz)


def money(cents: int) -> Decimal:
    return Decimal(cents) / 100


def round6(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def _frame(events: Sequence[dict], columns: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([{c: e.get(c) for c in columns} for e in events], schema=columns)


TX = {
    "occurred_at": pl.Datetime("us", "UTC"),
    "user_id": pl.Utf8,
    "amount_cents": pl.Int64,
    "currency": pl.Utf8,
    "transaction_type": pl.Utf8,
    "category": pl.Utf8,
    "status": pl.Utf8,
    "merchant_id": pl.Utf8,
}
LIFECYCLE = {
    "event_id": pl.Utf8,
    "occurred_at": pl.Datetime("us", "UTC"),
    "user_id": pl.Utf8,
    "event_type": pl.Utf8,
    "kyc_level": pl.Int64,
    "country": pl.Utf8,
}
SEEN = {"occurred_at": pl.Datetime("us", "UTC"), "user_id": pl.Utf8}


def _before(frame: pl.DataFrame, end: datetime) -> pl.DataFrame:
    return frame.filter(pl.col("occurred_at") < end)


def expected_profiles(raw: dict[str, list[dict]], day: date, tz: ZoneInfo) -> dict[str, dict]:
    """Every user's profile as of the end of `day`, keyed by user id."""
    end = end_of(day, tz)
    tx = _before(_frame(raw["raw.transactions"], TX), end)
    lifecycle = _before(
        _frame([{**e, "event_id": str(e["event_id"])} for e in raw["raw.user_events"]], LIFECYCLE),
        end,
    )
    seen = pl.concat(
        [
            tx.select("occurred_at", "user_id"),
            lifecycle.select("occurred_at", "user_id"),
            _before(_frame(raw["raw.user_activity"], SEEN), end),
        ]
    )
    profiles: dict[str, dict] = {}
    for row in (
        seen.group_by("user_id")
        .agg(
            pl.col("occurred_at").min().alias("first_seen_at"),
            pl.col("occurred_at").max().alias("last_activity_at"),
        )
        .iter_rows(named=True)
    ):
        profiles[row["user_id"]] = {
            "first_seen_at": row["first_seen_at"],
            "last_activity_at": row["last_activity_at"],
            "registered_at": None,
            "country": None,
            "kyc_status": "none",
            "kyc_level": None,
            "first_success_at": None,
            "last_success_at": None,
            "success_count": 0,
            "main_currency": None,
            "account_age_days": None,
            "currencies": {},
        }
    # Ties at the same instant: event ids compare as PostgreSQL compares uuids (bytes).
    ordered = lifecycle.sort(["occurred_at", "event_id"])
    for row in (
        ordered.filter(pl.col("event_type") == "user.registered")
        .group_by("user_id", maintain_order=True)
        .first()
        .iter_rows(named=True)
    ):
        registered = row["occurred_at"]
        profiles[row["user_id"]].update(
            registered_at=registered,
            country=row["country"],
            account_age_days=(day - registered.astimezone(tz).date()).days,
        )
    for row in (
        ordered.filter(pl.col("event_type") != "user.registered")
        .group_by("user_id", maintain_order=True)
        .last()
        .iter_rows(named=True)
    ):
        profiles[row["user_id"]]["kyc_status"] = KYC_STATUS[row["event_type"]]
    for row in (
        ordered.filter(pl.col("kyc_level").is_not_null())
        .group_by("user_id", maintain_order=True)
        .last()
        .iter_rows(named=True)
    ):
        profiles[row["user_id"]]["kyc_level"] = row["kyc_level"]
    success = tx.filter(pl.col("status") == "SUCCESS").with_columns(
        pl.col("transaction_type").is_in(OUTFLOW).alias("out")
    )
    for row in (
        success.group_by("user_id")
        .agg(
            pl.col("occurred_at").min().alias("first"),
            pl.col("occurred_at").max().alias("last"),
            pl.len().alias("count"),
        )
        .iter_rows(named=True)
    ):
        profiles[row["user_id"]].update(
            first_success_at=row["first"], last_success_at=row["last"], success_count=row["count"]
        )
    by_currency = success.group_by("user_id", "currency").agg(
        pl.col("amount_cents").filter(~pl.col("out")).sum().alias("inflow"),
        pl.col("amount_cents").filter(pl.col("out")).sum().alias("outflow"),
        (~pl.col("out")).sum().alias("inflow_count"),
        pl.col("out").sum().alias("outflow_count"),
    )
    for row in by_currency.iter_rows(named=True):
        profiles[row["user_id"]]["currencies"][row["currency"]] = {
            "inflow": money(row["inflow"]),
            "outflow": money(row["outflow"]),
            "inflow_count": row["inflow_count"],
            "outflow_count": row["outflow_count"],
        }
    for profile in profiles.values():
        counts = profile["currencies"]
        if counts:
            profile["main_currency"] = min(
                counts, key=lambda c: (-(counts[c]["inflow_count"] + counts[c]["outflow_count"]), c)
            )
    return profiles


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _last_day(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def expected_spending(raw: dict[str, list[dict]], day: date, tz: ZoneInfo) -> dict[tuple, dict]:
    """Spending rows as of the end of `day`, for every month up to day's, keyed by (user,
    month, currency, category). A month before day's is as of its last day."""
    tx = _frame(raw["raw.transactions"], TX).filter(
        (pl.col("status") == "SUCCESS") & pl.col("transaction_type").is_in(OUTFLOW)
    )
    if tx.is_empty():
        return {}
    first_month = min(tx["occurred_at"]).astimezone(tz).date().replace(day=1)
    rows: dict[tuple, dict] = {}
    month = first_month
    while month <= day:
        as_of = min(day, _last_day(month))
        previous = add_months(month, -1)
        if as_of == _last_day(month):
            compared_end = month
        else:
            compared_end = min(previous + timedelta(days=as_of.day), month)
        current = tx.filter(
            (pl.col("occurred_at") >= local_midnight(month, tz))
            & (pl.col("occurred_at") < end_of(as_of, tz))
        )
        before = tx.filter(
            (pl.col("occurred_at") >= local_midnight(previous, tz))
            & (pl.col("occurred_at") < local_midnight(compared_end, tz))
        )
        for category_keys in (["user_id", "currency", "category"], ["user_id", "currency"]):
            spend = current.group_by(category_keys).agg(
                pl.col("amount_cents").sum().alias("spend"), pl.len().alias("transactions")
            )
            earlier = before.group_by(category_keys).agg(
                pl.col("amount_cents").sum().alias("previous")
            )
            cells = spend.join(earlier, on=category_keys, how="full", coalesce=True)
            for row in cells.iter_rows(named=True):
                category = row.get("category", "")
                key = (row["user_id"], month, row["currency"], category)
                cents = row["spend"] or 0
                previous_cents = row["previous"]
                mine = current.filter(
                    (pl.col("user_id") == row["user_id"])
                    & (pl.col("currency") == row["currency"])
                    & (pl.col("merchant_id").is_not_null())
                )
                if category:
                    mine = mine.filter(pl.col("category") == category)
                merchants = sorted(
                    mine.group_by("merchant_id")
                    .agg(pl.col("amount_cents").sum().alias("spend"), pl.len().alias("n"))
                    .iter_rows(named=True),
                    key=lambda m: (-m["spend"], m["merchant_id"]),
                )[:5]
                rows[key] = {
                    "spend": money(cents),
                    "transactions": row["transactions"] or 0,
                    "previous_spend": None if previous_cents is None else money(previous_cents),
                    "change_amount": None
                    if previous_cents is None
                    else money(cents - previous_cents),
                    "change_percent": None
                    if previous_cents is None
                    else round6(Decimal((cents - previous_cents) * 100) / Decimal(previous_cents)),
                    "top_merchants": [
                        (m["merchant_id"], money(m["spend"]), m["n"]) for m in merchants
                    ],
                }
        for (user, m, currency, _category), row in rows.items():
            if m == month:
                total = rows[(user, m, currency, "")]["spend"]
                row["month_share"] = round6(row["spend"] / total) if total else None
        month = add_months(month, 1)
    return rows


def expected_cohorts(
    raw: dict[str, list[dict]], day: date, first_day: date, tz: ZoneInfo
) -> dict[tuple, dict]:
    """Cohort cells as of the end of `day`, keyed by (grain, cohort start, period,
    currency), for the periods holding a day in [first_day, day]; a past period as of
    its last day."""
    registered: dict[str, datetime] = {}
    for e in raw["raw.user_events"]:
        if e["event_type"] == "user.registered":
            at = e["occurred_at"]
            registered[e["user_id"]] = min(registered.get(e["user_id"], at), at)
    seen = [(e["user_id"], e["occurred_at"]) for t in raw for e in raw[t]]
    paid = [
        (e["user_id"], e["occurred_at"], e["currency"], e["amount_cents"])
        for e in raw["raw.transactions"]
        if e["status"] == "SUCCESS" and e["transaction_type"] in OUTFLOW
    ]
    cells: dict[tuple, dict] = {}
    for grain in ("week", "month"):

        def start_of(d: date, grain: str = grain) -> date:
            return d - timedelta(days=d.weekday()) if grain == "week" else d.replace(day=1)

        def next_of(d: date, grain: str = grain) -> date:
            return d + timedelta(days=7) if grain == "week" else add_months(d, 1)

        period = start_of(first_day)
        while period <= day:
            last = min(day, next_of(period) - timedelta(days=1))
            end = end_of(last, tz)
            start = local_midnight(period, tz)
            cohort_of = {
                u: start_of(at.astimezone(tz).date()) for u, at in registered.items() if at < end
            }
            sizes: dict[date, int] = {}
            for c in cohort_of.values():
                sizes[c] = sizes.get(c, 0) + 1
            active: dict[date, set[str]] = {}
            for user, at in seen:
                if user in cohort_of and start <= at < end:
                    active.setdefault(cohort_of[user], set()).add(user)
            payers: dict[tuple[date, str], set[str]] = {}
            revenue: dict[tuple[date, str], int] = {}
            for user, at, currency, cents in paid:
                if user in cohort_of and start <= at < end:
                    for key in ((cohort_of[user], ""), (cohort_of[user], currency)):
                        payers.setdefault(key, set()).add(user)
                    revenue[(cohort_of[user], currency)] = (
                        revenue.get((cohort_of[user], currency), 0) + cents
                    )
            for cohort, size in sizes.items():
                if grain == "week":
                    number = (period - cohort).days // 7
                else:
                    number = (period.year - cohort.year) * 12 + period.month - cohort.month
                users = len(active.get(cohort, ()))
                currencies = ["", *sorted(c for (k, c) in payers if k == cohort and c)]
                for currency in currencies:
                    cells[(grain, cohort, number, currency)] = {
                        "cohort_size": size,
                        "active_users": users,
                        "paying_users": len(payers.get((cohort, currency), ())),
                        "revenue": money(revenue[(cohort, currency)]) if currency else None,
                        "retention_rate": round6(Decimal(users) / size),
                    }
            period = next_of(period)
    return cells
