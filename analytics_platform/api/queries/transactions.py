"""Transaction figures: realtime, dashboard, trends, peak times, success rate, failures,
latency and revenue, from the transactions and failures marts (and, for the open hour,
raw transactions)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from analytics_platform.api.errors import invalid
from analytics_platform.api.pagination import Key, decode_cursor, encode_cursor, page
from analytics_platform.api.periods import (
    Window,
    bucket_end,
    day_start,
    hour_start,
    last_days,
    period_comparisons,
)
from analytics_platform.api.queries.common import (
    Ask,
    Freshness,
    Tally,
    average,
    bucket_totals,
    hour_label,
    percent,
    rounded,
)
from analytics_platform.api.schemas import (
    Change,
    CountChange,
    CountPeriods,
    DailyLatency,
    DailyRate,
    Dashboard,
    DashboardWindows,
    FailureAnalysis,
    FailureReason,
    Failures,
    HourCount,
    Latency,
    LatencySummary,
    Live,
    MoneyChange,
    MoneyPeriods,
    Payment,
    PeakHour,
    PeakTimes,
    Periods,
    RateTotals,
    Realtime,
    RetryPatterns,
    Revenue,
    RevenuePoint,
    RevenueTotal,
    SeriesPoint,
    SuccessRate,
    Trends,
)
from analytics_platform.rollups.families import Grain

HOURLY = "transactions_hourly"
DAILY = "transactions_daily"


def _mart(grain: Grain) -> str:
    return f"transactions_{grain}"


def _totals_query(
    ask: Ask, mart: str, windows: dict[str, Window]
) -> tuple[str, dict[str, Any], str]:
    names = list(windows)
    params = {
        "names": names,
        "starts": [windows[n].utc[0] for n in names],
        "ends": [windows[n].utc[1] for n in names],
        **ask.subject.params(),
    }
    return "api/transactions_totals.sql", params, mart


def _tallies(windows: dict[str, Window], rows: list[dict[str, Any]]) -> dict[str, Tally]:
    tallies = {name: Tally() for name in windows}
    for row in rows:
        tallies[row["name"]].add(row["currency"], row)
    return tallies


# ------------------------------------------------------------------ realtime
async def realtime(ask: Ask, cursor: str | None, limit: int) -> tuple[Realtime, Freshness]:
    """The open hour from raw; today = the hourly marts' closed hours + the raw tail."""
    tz = ask.reporting_tz
    now, hour, today = ask.now, hour_start(ask.now, tz), day_start(ask.now, tz)
    # The hourly mart's buckets of today, the same for every subject: one reading per
    # materialization, not a round trip per answer.
    (tail,) = await ask.shared_rows(
        ("tail_start", tz.key, today, hour),
        [HOURLY],
        ("api/tail_start.sql", {"tz": tz.key, "today_start": today, "hour_start": hour}, None),
    )
    tail_start: datetime = tail["tail_start"]
    merchant = ask.subject.merchant_id
    query = ("realtime", merchant)
    before_at, before_id = _payments_after(decode_cursor(cursor, query))
    # Today: the closed hours the mart has, plus the raw tail added below. The three
    # reads depend on the tail's start only, so they share one round trip.
    so_far_windows = {"today": Window(today, tail_start)}
    (so_far_rows, raw, payments), fresh = await ask.last_reads(
        [
            _totals_query(ask, HOURLY, so_far_windows),
            (
                "api/raw_today.sql",
                {
                    "today_start": today,
                    "tail_start": tail_start,
                    "hour_start": hour,
                    "now": now,
                    "merchant_id": merchant,
                },
                None,
            ),
            (
                "api/recent_payments.sql",
                {
                    "since": today,
                    "now": now,
                    "merchant_id": merchant,
                    "before_at": before_at,
                    "before_id": before_id,
                    "limit": limit + 1,
                },
                None,
            ),
        ],
        [HOURLY],
        so_far_windows["today"],
        raw_since=today,
    )
    so_far = _tallies(so_far_windows, so_far_rows)["today"]
    current = Tally()
    today_payers = hour_payers = 0
    for row in raw:
        if row["all_currencies"]:
            today_payers, hour_payers = row["today_unique_payers"], row["hour_unique_payers"]
            continue
        so_far.add(row["currency"], row, "tail_")
        current.add(row["currency"], row, "hour_")

    next_cursor = None
    if len(payments) > limit:
        payments = payments[:limit]
        last = payments[-1]
        next_cursor = encode_cursor((last["occurred_at"].isoformat(), str(last["event_id"])), query)
    model = Realtime(
        as_of=ask.at(now),
        marts_through=ask.at(tail_start),
        current_hour=current.totals(hour_payers),
        today=so_far.totals(today_payers),
        live=Live(
            pending_transactions=so_far.pending_count,
            recent_payments=[
                Payment(
                    occurred_at=ask.at(p["occurred_at"]),
                    transaction_id=p["transaction_id"],
                    user_id=p["user_id"],
                    merchant_id=p["merchant_id"],
                    amount=p["amount"],
                    currency=p["currency"],
                    payment_method=p["payment_method"],
                    category=p["category"],
                )
                for p in payments
            ],
            next_cursor=next_cursor,
        ),
    )
    return model, fresh


def _payments_after(after: Key | None) -> tuple[datetime, str]:
    if after is None:
        return datetime(9999, 1, 1, tzinfo=UTC), "ffffffff-ffff-ffff-ffff-ffffffffffff"
    try:
        at, event_id = after
        return datetime.fromisoformat(at), str(uuid.UUID(event_id))
    except ValueError:
        raise invalid("cursor", "not a cursor of this list", "ANA_VAL_005") from None


# ------------------------------------------------------------------ dashboard
def _direction(change: float | Decimal | None) -> str:
    if change is None or change == 0:
        return "flat"
    return "up" if change > 0 else "down"


def change(current: float, previous: float) -> Change:
    delta = round(current - previous, 4)
    return Change(
        current=current,
        previous=previous,
        change=delta,
        change_percent=percent(current - previous, previous),
        direction=_direction(delta),  # type: ignore[arg-type]
    )


def count_change(current: int, previous: int) -> CountChange:
    delta = current - previous
    return CountChange(
        current=current,
        previous=previous,
        change=delta,
        change_percent=percent(delta, previous),
        direction=_direction(delta),  # type: ignore[arg-type]
    )


def money_change(current: Decimal | None, previous: Decimal | None) -> MoneyChange:
    delta = None if current is None or previous is None else current - previous
    return MoneyChange(
        current=current,
        previous=previous,
        change=delta,
        change_percent=None if delta is None or previous is None else percent(delta, previous),
        direction=_direction(delta),  # type: ignore[arg-type]
    )


async def dashboard(ask: Ask) -> tuple[Dashboard, Freshness]:
    comparisons = period_comparisons(ask.now, ask.reporting_tz)
    windows: dict[str, Window] = {}
    for c in comparisons:
        windows[c.name] = c.current
        windows["previous_" + c.name] = c.previous
    envelope = Window(min(w.start for w in windows.values()), comparisons[0].current.end)
    (rows,), fresh = await ask.last_reads([_totals_query(ask, HOURLY, windows)], [HOURLY], envelope)
    tallies = _tallies(windows, rows)
    currencies = sorted({cur for t in tallies.values() for cur in t.revenue})

    def periods(figure: Any) -> Periods:
        return Periods(
            **{
                c.name: change(figure(tallies[c.name]), figure(tallies["previous_" + c.name]))
                for c in comparisons
            }
        )

    def counts(figure: Any) -> CountPeriods:
        return CountPeriods(
            **{
                c.name: count_change(
                    int(figure(tallies[c.name])), int(figure(tallies["previous_" + c.name]))
                )
                for c in comparisons
            }
        )

    def money(figure: Any) -> dict[str, MoneyPeriods]:
        return {
            currency: MoneyPeriods(
                **{
                    c.name: money_change(
                        figure(tallies[c.name], currency),
                        figure(tallies["previous_" + c.name], currency),
                    )
                    for c in comparisons
                }
            )
            for currency in currencies
        }

    model = Dashboard(
        as_of=ask.at(comparisons[0].current.end),
        windows=DashboardWindows(**{name: ask.window(w) for name, w in windows.items()}),
        revenue=money(lambda t, c: t.revenue.get(c, Decimal(0))),
        transactions=counts(lambda t: t.transaction_count),
        success_rate=periods(lambda t: t.success_rate or 0.0),
        average_value=money(lambda t, c: t.averages().get(c)),
    )
    return model, fresh


# ------------------------------------------------------------------ series
def _by_bucket(rows: list[dict[str, Any]]) -> dict[datetime, list[dict[str, Any]]]:
    buckets: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        buckets[row["bucket_start"]].append(row)
    return buckets


async def _series(
    ask: Ask, grain: Grain, window: Window
) -> tuple[dict[datetime, list[dict[str, Any]]], Freshness]:
    """The mart's rows per bucket over `window`, and their freshness (the last reads)."""
    start, end = window.utc
    (rows,), fresh = await ask.last_reads(
        [
            (
                "api/transactions_series.sql",
                {**ask.subject.params(), "window_start": start, "window_end": end},
                _mart(grain),
            )
        ],
        [_mart(grain)],
        window,
    )
    return _by_bucket(rows), fresh


def _bucket_key(point: Any) -> Key:
    return (point.bucket_start.astimezone(UTC).isoformat(),)


def trend_window_of(now: datetime, tz: ZoneInfo, period: str) -> tuple[Grain, Window]:
    """today: today's hours; week / month: the last 7 / 30 complete days."""
    if period == "today":
        today = day_start(now, tz)
        return Grain.HOURLY, Window(today, bucket_end(today, Grain.DAILY, tz))
    return Grain.DAILY, last_days(now, tz, 7 if period == "week" else 30)


async def trends(
    ask: Ask, period: str, grain: Grain, window: Window, cursor: str | None, limit: int
) -> tuple[Trends, Freshness]:
    """`grain` and `window` as `trend_window_of` gives them for `period`."""
    points = []
    series, fresh = await _series(ask, grain, window)
    for start, rows in series.items():
        tally, payers = bucket_totals(rows)
        points.append(
            SeriesPoint(
                bucket_start=ask.at(start),
                bucket_end=ask.at(bucket_end(start, grain, ask.reporting_tz)),
                **tally.totals(payers).model_dump(),
            )
        )
    query = ("trends", period, ask.subject, window.key())
    items, next_cursor = page(points, _bucket_key, decode_cursor(cursor, query), limit, query)
    model = Trends(
        period=period,  # type: ignore[arg-type]
        interval="hour" if grain is Grain.HOURLY else "day",
        window=ask.window(window),
        items=items,
        next_cursor=next_cursor,
    )
    return model, fresh


async def peak_times(ask: Ask, days: int, window: Window) -> tuple[PeakTimes, Freshness]:
    """`window`: `periods.last_days` of `days`."""
    start, end = window.utc
    params = {**ask.subject.params(), "tz": ask.tz.key, "window_start": start, "window_end": end}
    (rows,), fresh = await ask.last_reads(
        [("api/peak_times.sql", params, HOURLY)], [HOURLY], window
    )
    hours = {
        h: PeakHour(hour=h, label=hour_label(h), transaction_count=0, success_count=0, revenue={})
        for h in range(24)
    }
    for row in rows:
        entry = hours[row["hour"]]
        entry.transaction_count += row["transaction_count"]
        entry.success_count += row["success_count"]
        entry.revenue[row["currency"]] = row["revenue"]
    busiest = max(hours.values(), key=lambda h: (h.transaction_count, -h.hour))
    model = PeakTimes(
        days=days,
        window=ask.window(window),
        peak_hour=busiest.hour if busiest.transaction_count else None,
        peak_times=list(hours.values()),
    )
    return model, fresh


def _rates(tally: Tally) -> dict[str, Any]:
    return {
        "transaction_count": tally.transaction_count,
        "success_count": tally.success_count,
        "failed_count": tally.failed_count,
        "expired_count": tally.expired_count,
        "success_rate": tally.success_rate,
    }


async def success_rate(
    ask: Ask, days: int, window: Window, cursor: str | None, limit: int
) -> tuple[SuccessRate, Freshness]:
    """`window`: `periods.last_days` of `days`."""
    overall = Tally()
    points = []
    series, fresh = await _series(ask, Grain.DAILY, window)
    for start, rows in series.items():
        tally, _ = bucket_totals(rows)
        for row in rows:
            if row["currency"]:
                overall.add(row["currency"], row)
        points.append(
            DailyRate(
                bucket_start=ask.at(start),
                bucket_end=ask.at(bucket_end(start, Grain.DAILY, ask.reporting_tz)),
                **_rates(tally),
            )
        )
    query = ("success-rate", days, ask.subject, window.key())
    items, next_cursor = page(points, _bucket_key, decode_cursor(cursor, query), limit, query)
    model = SuccessRate(
        days=days,
        window=ask.window(window),
        overall=RateTotals(**_rates(overall)),
        items=items,
        next_cursor=next_cursor,
    )
    return model, fresh


async def failures(ask: Ask, days: int, window: Window) -> tuple[Failures, Freshness]:
    """`window`: `periods.last_days` of `days`."""
    start, end = window.utc
    span = {**ask.subject.params(), "window_start": start, "window_end": end}
    marts = [DAILY, "failures_daily", "failures_hourly"]
    (totals_rows, reasons, by_hour_rows), fresh = await ask.last_reads(
        [
            (
                "api/transactions_totals.sql",
                {"names": ["window"], "starts": [start], "ends": [end], **ask.subject.params()},
                DAILY,
            ),
            ("api/failure_reasons.sql", span, "failures_daily"),
            ("api/failures_by_hour.sql", {**span, "tz": ask.tz.key}, "failures_hourly"),
        ],
        marts,
        window,
    )
    total = Tally()
    retries = retried = retried_success = 0
    for row in totals_rows:
        total.add(row["currency"], row)
        retries += row["retries"]
        retried += row["retried_count"]
        retried_success += row["retried_success_count"]
    failed = sum(r["count"] for r in reasons)
    by_hour = {r["hour"]: r["count"] for r in by_hour_rows}
    model = Failures(
        days=days,
        window=ask.window(window),
        analysis=FailureAnalysis(
            total_failed=total.failed_count,
            failure_rate=percent(total.failed_count, total.transaction_count),
            common_reasons=[
                FailureReason(
                    reason=r["reason"],
                    count=r["count"],
                    percentage=percent(r["count"], failed) or 0.0,
                    retries=r["retries"],
                )
                for r in reasons
            ],
            failures_by_hour=[
                HourCount(hour=h, label=hour_label(h), count=by_hour.get(h, 0)) for h in range(24)
            ],
            retry_patterns=RetryPatterns(
                retried_transactions=retried,
                average_retries=rounded(retries / retried) if retried else None,
                successful_retries=retried_success,
                failed_retries=retried - retried_success,
            ),
        ),
    )
    return model, fresh


def _latency_of(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """A bucket's latency figures: the all-currency row's (exact), else the only
    currency's (exact), else the count-weighted mean over currencies (not exact)."""
    across = [r for r in rows if r["currency"] == ""]
    chosen = across or [r for r in rows if r["currency"]]
    count = sum(r["transaction_count"] for r in chosen)
    figures: dict[str, Any] = {"transaction_count": count}
    for name, column in (
        ("average", "latency_avg_ms"),
        ("median", "latency_p50_ms"),
        ("p95", "latency_p95_ms"),
        ("p99", "latency_p99_ms"),
    ):
        total = sum(r[column] * r["transaction_count"] for r in chosen)
        figures[name] = total / count if count else None
    return figures, len(chosen) == 1


async def latency(
    ask: Ask, days: int, window: Window, cursor: str | None, limit: int
) -> tuple[Latency, Freshness]:
    """`window`: `periods.last_days` of `days`."""
    points: list[DailyLatency] = []
    sums = {"average": 0.0, "median": 0.0, "p95": 0.0, "p99": 0.0}
    count = 0
    exact = True
    series, fresh = await _series(ask, Grain.DAILY, window)
    for start, rows in series.items():
        figures, one_row = _latency_of(rows)
        exact = exact and one_row
        n = figures["transaction_count"]
        count += n
        for name in sums:
            if figures[name] is not None:
                sums[name] += figures[name] * n
        points.append(
            DailyLatency(
                bucket_start=ask.at(start),
                bucket_end=ask.at(bucket_end(start, Grain.DAILY, ask.reporting_tz)),
                transaction_count=n,
                **{k: rounded(figures[k]) for k in sums},
            )
        )
    summary = LatencySummary(
        transaction_count=count,
        exact=exact and len(points) == 1,
        **{k: rounded(v / count) if count else None for k, v in sums.items()},
    )
    query = ("latency", days, ask.subject, window.key())
    items, next_cursor = page(points, _bucket_key, decode_cursor(cursor, query), limit, query)
    model = Latency(
        days=days, window=ask.window(window), latency=summary, items=items, next_cursor=next_cursor
    )
    return model, fresh


# ------------------------------------------------------------------ revenue
_FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)


async def revenue(
    ask: Ask,
    grain: Grain,
    window: Window,
    group_by: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Revenue, Freshness]:
    """Revenue per bucket and currency (and group), from the transactions mart of the
    grain. With group_by the rows are that dimension's (a merchant key's: its own)."""
    start, end = window.utc
    if group_by is None:
        dimension, value = ask.subject.dimension, ask.subject.dimension_value
    else:
        dimension, value = group_by, ask.subject.merchant_id
    mart = _mart(grain)
    query = ("revenue", grain, dimension, value, window.key())
    after_group, after_bucket, after_currency = "", _FAR_PAST, ""
    if (after := decode_cursor(cursor, query)) is not None:
        try:
            after_group, bucket, after_currency = after
            after_bucket = datetime.fromisoformat(bucket)
        except ValueError:
            raise invalid("cursor", "not a cursor of this list", "ANA_VAL_005") from None
    params = {
        "dimension": dimension,
        "dimension_value": value,
        "window_start": start,
        "window_end": end,
    }
    page_params = {
        **params,
        "after_group": after_group,
        "after_bucket": after_bucket,
        "after_currency": after_currency,
        "limit": limit + 1,
    }
    (rows, totals), fresh = await ask.last_reads(
        [
            ("api/revenue_page.sql", page_params, mart),
            ("api/revenue_totals.sql", params, mart),
        ],
        [mart],
        window,
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(
            (last["group_value"], last["bucket_start"].isoformat(), last["currency"]), query
        )
    model = Revenue(
        interval={Grain.HOURLY: "hour", Grain.DAILY: "day", Grain.WEEKLY: "week"}.get(
            grain, "month"
        ),  # type: ignore[arg-type]
        group_by=group_by,  # type: ignore[arg-type]
        window=ask.window(window),
        totals=[RevenueTotal(**t) for t in totals],
        items=[
            RevenuePoint(
                bucket_start=ask.at(r["bucket_start"]),
                bucket_end=ask.at(bucket_end(r["bucket_start"], grain, ask.reporting_tz)),
                group=r["group_value"] if group_by else None,
                currency=r["currency"],
                revenue=r["revenue"],
                transaction_count=r["transaction_count"],
                success_count=r["success_count"],
                average_value=average(r["revenue"], r["success_count"]),
                refund_count=r["refund_count"],
                refund_amount=r["refund_amount"],
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )
    return model, fresh
