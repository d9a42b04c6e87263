"""The read API's numbers against the marts they come from.

The world (api_world.py) is a month and a half of generated events, ingested and rolled
up by the real loader and runner, read by the real app on a fixed clock. Each test reads
the marts (as the owner, without row-level security) and checks the endpoint's figures
against them, computed here on their own.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest

from .api_world import MARTS_HOURS_UNTIL, NOW, TODAY, money

API = "/api/v1/analytics"
CENT = Decimal("0.01")


def get(client, path, **params):
    response = client.get(API + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def pct(numerator, denominator):
    return None if not denominator else round(100.0 * float(numerator) / float(denominator), 2)


def avg(amount, count):
    return None if not count else (Decimal(amount) / count).quantize(CENT, ROUND_HALF_UP)


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def platform_rows(world, mart, start, end, currency_rows=True):
    condition = "currency <> ''" if currency_rows else "currency = ''"
    return world.query(
        f"SELECT * FROM marts.{mart} WHERE dimension = 'platform' AND {condition} "
        "AND bucket_start >= %s AND bucket_start < %s ORDER BY bucket_start, currency",
        (start, end),
    )


def sums(rows):
    result = defaultdict(int)
    revenue = defaultdict(Decimal)
    successes = defaultdict(int)
    for row in rows:
        for name in (
            "transaction_count",
            "success_count",
            "failed_count",
            "expired_count",
            "pending_count",
            "refunded_count",
        ):
            result[name] += row[name]
        revenue[row["currency"]] += row["revenue"]
        successes[row["currency"]] += row["success_count"]
    return result, revenue, successes


# ------------------------------------------------------------------ dashboard
def test_dashboard_compares_period_sums_of_the_hourly_marts(world, client):
    body = get(client, "/dashboard")
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    windows = {
        "today": (TODAY, hour),
        "previousToday": (TODAY - timedelta(days=1), hour - timedelta(days=1)),
        "thisWeek": (TODAY - timedelta(days=NOW.weekday()), hour),
        "thisMonth": (TODAY.replace(day=1), hour),
        "previousThisMonth": (
            datetime(2026, 2, 1, tzinfo=UTC),
            datetime(2026, 2, 1, tzinfo=UTC) + (hour - TODAY.replace(day=1)),
        ),
    }
    assert body["asOf"] == "2026-03-18T14:00:00Z"
    for name, (start, end) in windows.items():
        assert ts(body["windows"][name]["start"]) == start
        assert ts(body["windows"][name]["end"]) == end
    for name, current_window, previous_window in [
        ("today", windows["today"], windows["previousToday"]),
        ("thisMonth", windows["thisMonth"], windows["previousThisMonth"]),
    ]:
        current, current_revenue, current_ok = sums(
            platform_rows(world, "transactions_hourly", *current_window)
        )
        previous, previous_revenue, _ = sums(
            platform_rows(world, "transactions_hourly", *previous_window)
        )
        figure = body["transactions"][name]
        assert figure["current"] == current["transaction_count"]
        assert figure["previous"] == previous["transaction_count"]
        assert figure["change"] == current["transaction_count"] - previous["transaction_count"]
        assert figure["changePercent"] == pct(figure["change"], previous["transaction_count"])
        assert figure["direction"] == (
            "up" if figure["change"] > 0 else "down" if figure["change"] < 0 else "flat"
        )
        rate = body["successRate"][name]
        assert rate["current"] == pct(
            current["success_count"],
            current["success_count"] + current["failed_count"] + current["expired_count"],
        )
        for currency, amount in current_revenue.items():
            entry = body["revenue"][currency][name]
            assert money(entry["current"]) == amount
            assert money(entry["previous"]) == previous_revenue.get(currency, 0)
            assert money(entry["change"]) == amount - previous_revenue.get(currency, 0)
            assert money(body["averageValue"][currency][name]["current"]) == avg(
                amount, current_ok[currency]
            )
    assert (
        body["transactions"]["today"]["current"] > 0
        and body["transactions"]["thisMonth"]["previous"] > 0
    )


# ------------------------------------------------------------------ realtime
def raw_figures(world, start, end):
    rows = world.query(
        "SELECT currency, count(*) AS n, count(*) FILTER (WHERE status = 'SUCCESS') AS ok, "
        "count(*) FILTER (WHERE status = 'FAILED') AS failed, "
        "count(*) FILTER (WHERE status = 'PENDING') AS pending, "
        "coalesce(sum(amount) FILTER (WHERE status = 'SUCCESS'), 0) AS revenue "
        "FROM raw.transactions WHERE occurred_at >= %s AND occurred_at < %s GROUP BY 1",
        (start, end),
    )
    return {r["currency"]: r for r in rows}


def test_realtime_is_hourly_marts_plus_the_raw_tail(world, client):
    body = get(client, "/realtime")
    assert ts(body["martsThrough"]) == MARTS_HOURS_UNTIL
    assert ts(body["asOf"]) == NOW
    marts, marts_revenue, _ = sums(
        platform_rows(world, "transactions_hourly", TODAY, MARTS_HOURS_UNTIL)
    )
    tail = raw_figures(world, MARTS_HOURS_UNTIL, NOW)
    today = body["today"]
    assert today["transactionCount"] == marts["transaction_count"] + sum(
        r["n"] for r in tail.values()
    )
    assert today["successCount"] == marts["success_count"] + sum(r["ok"] for r in tail.values())
    assert today["pendingCount"] == body["live"]["pendingTransactions"]
    for currency in set(marts_revenue) | set(tail):
        expected = marts_revenue.get(currency, 0) + (
            tail[currency]["revenue"] if currency in tail else 0
        )
        assert money(today["revenue"][currency]) == expected
    (payers,) = world.query(
        "SELECT count(DISTINCT user_id) AS n FROM raw.transactions "
        "WHERE status = 'SUCCESS' AND occurred_at >= %s AND occurred_at < %s",
        (TODAY, NOW),
    )
    assert today["uniquePayers"] == payers["n"]
    hour = raw_figures(world, NOW.replace(minute=0, second=0, microsecond=0), NOW)
    assert body["currentHour"]["transactionCount"] == sum(r["n"] for r in hour.values())
    assert {c: money(v) for c, v in body["currentHour"]["revenue"].items()} == {
        c: r["revenue"] for c, r in hour.items()
    }


def test_realtime_recent_payments_page_back_in_time(world, client):
    first = get(client, "/realtime", limit=3)
    second = get(client, "/realtime", limit=3, cursor=first["live"]["nextCursor"])
    payments = first["live"]["recentPayments"] + second["live"]["recentPayments"]
    expected = world.query(
        "SELECT transaction_id FROM raw.transactions WHERE status = 'SUCCESS' "
        "AND transaction_type = 'PAYMENT' AND occurred_at >= %s AND occurred_at < %s "
        "ORDER BY occurred_at DESC, event_id DESC LIMIT 6",
        (TODAY, NOW),
    )
    assert [p["transactionId"] for p in payments] == [r["transaction_id"] for r in expected]


# ------------------------------------------------------------------ series
def test_trends_today_are_the_hourly_mart_rows(world, client):
    body = get(client, "/trends/today")
    rows = platform_rows(
        world, "transactions_hourly", TODAY, TODAY + timedelta(days=1), currency_rows=False
    )
    assert [ts(p["bucketStart"]) for p in body["items"]] == [r["bucket_start"] for r in rows]
    for point, row in zip(body["items"], rows, strict=True):
        assert point["transactionCount"] == row["transaction_count"]
        assert point["uniquePayers"] == row["unique_payers"]
        assert point["successRate"] == pct(
            row["success_count"], row["success_count"] + row["failed_count"] + row["expired_count"]
        )
        assert ts(point["bucketEnd"]) == row["bucket_start"] + timedelta(hours=1)


@pytest.mark.parametrize(("period", "days"), [("week", 7), ("month", 30)])
def test_trends_of_days_are_the_daily_mart_rows(world, client, period, days):
    body = get(client, f"/trends/{period}")
    rows = platform_rows(world, "transactions_daily", TODAY - timedelta(days=days), TODAY)
    by_day = defaultdict(list)
    for row in rows:
        by_day[row["bucket_start"]].append(row)
    assert len(body["items"]) == days == len(by_day)
    for point in body["items"]:
        day_rows = by_day[ts(point["bucketStart"])]
        assert point["transactionCount"] == sum(r["transaction_count"] for r in day_rows)
        assert {c: money(v) for c, v in point["revenue"].items()} == {
            r["currency"]: r["revenue"] for r in day_rows if r["transaction_count"]
        }


def test_success_rate_per_day_and_overall(world, client):
    body = get(client, "/success-rate", days=7)
    totals, _, _ = sums(
        platform_rows(world, "transactions_daily", TODAY - timedelta(days=7), TODAY)
    )
    overall = body["overall"]
    assert overall["transactionCount"] == totals["transaction_count"]
    assert overall["successRate"] == pct(
        totals["success_count"],
        totals["success_count"] + totals["failed_count"] + totals["expired_count"],
    )
    assert sum(p["failedCount"] for p in body["items"]) == totals["failed_count"]


def test_peak_times_group_hourly_marts_by_hour_of_the_requested_zone(world, client):
    body = get(client, "/peak-times", days=7, timezone="Asia/Kolkata")
    rows = platform_rows(world, "transactions_hourly", TODAY - timedelta(days=7), TODAY)
    kolkata = ZoneInfo("Asia/Kolkata")
    expected = defaultdict(int)
    for row in rows:
        expected[row["bucket_start"].astimezone(kolkata).hour] += row["transaction_count"]
    assert [h["hour"] for h in body["peakTimes"]] == list(range(24))
    assert {h["hour"]: h["transactionCount"] for h in body["peakTimes"]} == {
        hour: expected.get(hour, 0) for hour in range(24)
    }
    assert body["peakHour"] == max(expected, key=lambda h: (expected[h], -h))
    assert body["window"]["start"] == "2026-03-11T05:30:00+05:30"


def test_failures_come_from_the_failures_and_transactions_marts(world, client):
    body = get(client, "/failures", days=14)["analysis"]
    start = TODAY - timedelta(days=14)
    reasons = world.query(
        "SELECT failure_reason, sum(failure_count) AS n FROM marts.failures_daily "
        "WHERE dimension = 'platform' AND bucket_start >= %s AND bucket_start < %s "
        "GROUP BY 1",
        (start, TODAY),
    )
    total = sum(r["n"] for r in reasons)
    assert {r["reason"]: r["count"] for r in body["commonReasons"]} == {
        r["failure_reason"]: r["n"] for r in reasons
    }
    assert {r["reason"]: r["percentage"] for r in body["commonReasons"]} == {
        r["failure_reason"]: pct(r["n"], total) for r in reasons
    }
    totals, _, _ = sums(platform_rows(world, "transactions_daily", start, TODAY))
    assert body["totalFailed"] == totals["failed_count"] == total
    assert body["failureRate"] == pct(total, totals["transaction_count"])
    assert sum(h["count"] for h in body["failuresByHour"]) == total
    (retries,) = world.query(
        "SELECT sum(retries) AS r, sum(retried_count) AS n, sum(retried_success_count) AS ok "
        "FROM marts.transactions_daily WHERE dimension = 'platform' AND currency <> '' "
        "AND bucket_start >= %s AND bucket_start < %s",
        (start, TODAY),
    )
    patterns = body["retryPatterns"]
    assert patterns["retriedTransactions"] == retries["n"]
    assert patterns["successfulRetries"] == retries["ok"]
    assert patterns["averageRetries"] == round(float(retries["r"]) / float(retries["n"]), 2)


def test_latency_of_one_day_is_exact_and_of_a_week_is_count_weighted(world, client):
    day = get(client, "/latency", days=1)
    (row,) = platform_rows(
        world, "transactions_daily", TODAY - timedelta(days=1), TODAY, currency_rows=False
    )
    assert day["latency"]["exact"] is True
    assert day["latency"]["p95"] == round(row["latency_p95_ms"], 2)
    assert day["latency"]["p99"] == round(row["latency_p99_ms"], 2)
    assert day["latency"]["average"] == round(float(row["latency_avg_ms"]), 2)
    week = get(client, "/latency", days=7)
    rows = platform_rows(
        world, "transactions_daily", TODAY - timedelta(days=7), TODAY, currency_rows=False
    )
    count = sum(r["transaction_count"] for r in rows)
    assert week["latency"]["exact"] is False
    assert week["latency"]["transactionCount"] == count
    assert week["latency"]["p95"] == round(
        sum(r["latency_p95_ms"] * r["transaction_count"] for r in rows) / count, 2
    )
    assert [p["p99"] for p in week["items"]] == [round(r["latency_p99_ms"], 2) for r in rows]


def test_webhook_metrics_are_the_webhooks_marts(world, client):
    body = get(client, "/webhook-metrics", days=30)
    rows = world.query(
        "SELECT webhook_event_type, sum(deliveries) AS d, sum(delivered_count) AS ok, "
        "sum(failed_count) AS f, sum(retrying_count) AS r FROM marts.webhooks_daily "
        "WHERE merchant_id = '' AND bucket_start >= %s AND bucket_start < %s GROUP BY 1",
        (TODAY - timedelta(days=30), TODAY),
    )
    by_type = {r["webhook_event_type"]: r for r in rows}
    total = by_type.pop("")
    assert (body["deliveries"], body["successful"], body["failed"], body["pending"]) == (
        total["d"],
        total["ok"],
        total["f"],
        total["r"],
    )
    assert body["successRate"] == pct(total["ok"], total["ok"] + total["f"])
    assert {e["eventType"]: e["deliveries"] for e in body["byEventType"]} == {
        t: r["d"] for t, r in by_type.items()
    }


def test_revenue_by_merchant_pages_through_every_mart_row(world, client):
    start, end = TODAY - timedelta(days=10), TODAY
    params = {
        "interval": "day",
        "group_by": "merchant",
        "start": "2026-03-08",
        "end": "2026-03-18",
        "limit": 50,
    }
    items, cursor, pages = [], None, 0
    while True:
        body = get(client, "/revenue", **params, **({"cursor": cursor} if cursor else {}))
        items += body["items"]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    rows = world.query(
        "SELECT bucket_start, dimension_value, currency, revenue, success_count "
        "FROM marts.transactions_daily WHERE dimension = 'merchant' AND currency <> '' "
        "AND bucket_start >= %s AND bucket_start < %s",
        (start, end),
    )
    assert pages > 2
    assert sorted(
        (ts(i["bucketStart"]), i["group"], i["currency"], money(i["revenue"])) for i in items
    ) == sorted(
        (r["bucket_start"], r["dimension_value"], r["currency"], r["revenue"]) for r in rows
    )
    totals = defaultdict(Decimal)
    for r in rows:
        totals[r["currency"]] += r["revenue"]
    assert {t["currency"]: money(t["revenue"]) for t in body["totals"]} == dict(totals)


@pytest.mark.parametrize("interval", ["hour", "week", "month"])
def test_revenue_reads_the_mart_of_its_interval(world, client, interval):
    mart = {
        "hour": "transactions_hourly",
        "week": "transactions_weekly",
        "month": "transactions_monthly",
    }[interval]
    start = (
        datetime(2026, 3, 16, tzinfo=UTC)
        if interval == "hour"
        else datetime(2026, 1, 1, tzinfo=UTC)
    )
    end = datetime(2026, 3, 18, 12, tzinfo=UTC)
    body = get(
        client,
        "/revenue",
        interval=interval,
        start=start.isoformat(),
        end=end.isoformat(),
        limit=1000,
    )
    rows = platform_rows(world, mart, start, end)
    assert rows and body["nextCursor"] is None
    assert sorted(
        (ts(i["bucketStart"]), i["currency"], money(i["revenue"])) for i in body["items"]
    ) == sorted((r["bucket_start"], r["currency"], r["revenue"]) for r in rows)


# ------------------------------------------------------------------ users
def test_user_metrics_sum_the_users_daily_cashflow(world, client):
    body = get(client, f"/user/{world.user}/metrics")
    rows = world.query(
        "SELECT currency, sum(inflow) AS i, sum(outflow) AS o, "
        "sum(inflow_count + outflow_count) AS n, max(bucket_start) AS last "
        "FROM marts.cashflow_daily WHERE user_id = %s GROUP BY 1",
        (world.user,),
    )
    assert body["totalTransactions"] == sum(r["n"] for r in rows)
    assert {
        c["currency"]: (money(c["inflow"]), money(c["outflow"])) for c in body["currencies"]
    } == {r["currency"]: (r["i"], r["o"]) for r in rows}
    assert ts(body["lastTransactionDate"]) == max(r["last"] for r in rows)


def test_spending_trends_sum_daily_cashflow_per_month(world, client):
    response = client.post(API + "/spending/trends", json={"userId": world.user, "months": 2})
    assert response.status_code == 200, response.text
    months = response.json()["months"]
    rows = world.query(
        "SELECT date_trunc('month', bucket_start, 'UTC') AS m, currency, sum(outflow) AS o "
        "FROM marts.cashflow_daily WHERE user_id = %s GROUP BY 1, 2 ORDER BY 1",
        (world.user,),
    )
    expected = {(r["m"], r["currency"]): r["o"] for r in rows}
    assert [m["month"] for m in months] == ["2026-02", "2026-03"][-len(months) :]
    for month in months:
        start = ts(month["bucketStart"])
        assert money(month["spending"]) == expected[(start, month["currency"])]
        before = expected.get((datetime(2026, start.month - 1, 1, tzinfo=UTC), month["currency"]))
        if before:
            assert month["spendingChangePercent"] == pct(
                expected[(start, month["currency"])] - before, before
            )


def test_cashflow_series_and_totals_are_the_weekly_mart(world, client):
    body = {"userId": world.user, "interval": "week", "start": "2026-02-02", "end": "2026-03-16"}
    response = client.post(API + "/cashflow", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    rows = world.query(
        "SELECT bucket_start, currency, inflow, outflow, net FROM marts.cashflow_weekly "
        "WHERE user_id = %s AND bucket_start >= '2026-02-02' AND bucket_start < '2026-03-16' "
        "ORDER BY 1, 2",
        (world.user,),
    )
    assert [(ts(i["bucketStart"]), money(i["net"])) for i in data["items"]] == [
        (r["bucket_start"], r["net"]) for r in rows
    ]
    assert sum(money(t["inflow"]) for t in data["totals"]) == sum(r["inflow"] for r in rows)


def test_platform_cashflow_has_hours(world, client):
    response = client.post(
        API + "/cashflow", json={"interval": "hour", "start": "2026-03-17", "end": "2026-03-18"}
    )
    assert response.status_code == 200, response.text
    rows = world.query(
        "SELECT count(*) AS n FROM marts.cashflow_hourly WHERE user_id = '' "
        "AND bucket_start >= '2026-03-17' AND bucket_start < '2026-03-18'"
    )
    assert len(response.json()["items"]) == rows[0]["n"] > 20


@pytest.mark.parametrize(
    ("grain", "mart"),
    [("day", "activity_daily"), ("week", "activity_weekly"), ("month", "activity_monthly")],
)
def test_active_users_are_the_activity_marts(world, client, grain, mart):
    body = get(client, "/users/active", grain=grain, start="2026-01-01", end="2026-03-18")
    rows = world.query(
        f"SELECT bucket_start, active_users FROM marts.{mart} WHERE device_type = '' "
        "AND bucket_start >= '2026-01-01' AND bucket_start < '2026-03-18' ORDER BY 1"
    )
    assert rows
    assert [(ts(p["bucketStart"]), p["activeUsers"]) for p in body["items"]] == [
        (r["bucket_start"], r["active_users"]) for r in rows
    ]


def test_funnel_counts_and_rates_are_the_lifecycle_marts(world, client):
    body = get(client, "/users/funnel", interval="day", start="2026-02-01", end="2026-03-18")
    rows = world.query(
        "SELECT * FROM marts.user_lifecycle_daily WHERE country = '' "
        "AND bucket_start >= '2026-02-01' AND bucket_start < '2026-03-18' ORDER BY 1"
    )
    registrations = sum(r["registrations"] for r in rows)
    submitted = sum(r["kyc_submitted"] for r in rows)
    assert body["totals"]["registrations"] == registrations > 0
    assert body["totals"]["submissionRate"] == pct(submitted, registrations)
    assert [p["kycVerified"] for p in body["items"]] == [r["kyc_verified"] for r in rows]


# ------------------------------------------------------------------ presentation
def test_csv_export_has_the_same_items_as_json(client):
    as_json = get(client, "/trends/week")["items"]
    by_param = client.get(API + "/trends/week", params={"format": "csv"})
    by_accept = client.get(API + "/trends/week", headers={"Accept": "text/csv"})
    assert by_param.headers["content-type"].startswith("text/csv")
    assert by_accept.text == by_param.text
    lines = list(csv.DictReader(io.StringIO(by_param.text)))
    assert [int(line["transactionCount"]) for line in lines] == [
        p["transactionCount"] for p in as_json
    ]
    assert [line["revenue.IDR"] for line in lines] == [p["revenue"]["IDR"] for p in as_json]


def test_times_are_shown_in_the_requested_zone_and_read_in_it(client):
    body = get(
        client,
        "/revenue",
        interval="day",
        start="2026-03-10",
        end="2026-03-12",
        timezone="Asia/Jakarta",
    )
    # Local midnight in Jakarta is 17:00 UTC the day before: the UTC day buckets that
    # start in [2026-03-09T17:00Z, 2026-03-11T17:00Z) are those of the 10th and 11th.
    assert body["window"]["start"] == "2026-03-10T00:00:00+07:00"
    assert sorted({i["bucketStart"] for i in body["items"]}) == [
        "2026-03-10T07:00:00+07:00",
        "2026-03-11T07:00:00+07:00",
    ]


# ------------------------------------------------------------------ start/end or days
def _platform_total(world, mart, column, start, end, where="dimension = 'platform'"):
    (row,) = world.query(
        f"SELECT coalesce(sum({column}), 0) AS n FROM marts.{mart} WHERE {where} "
        "AND bucket_start >= %s AND bucket_start < %s",
        (start, end),
    )
    return row["n"]


OLDER = (datetime(2026, 2, 2, tzinfo=UTC), datetime(2026, 2, 16, tzinfo=UTC))
# Per endpoint: a figure of the answer and the mart total it must equal.
DAYS_ENDPOINTS = {
    "/success-rate": (
        lambda b: b["overall"]["transactionCount"],
        ("transactions_daily", "transaction_count", "dimension = 'platform' AND currency <> ''"),
    ),
    "/latency": (
        lambda b: b["latency"]["transactionCount"],
        ("transactions_daily", "transaction_count", "dimension = 'platform' AND currency = ''"),
    ),
    "/failures": (
        lambda b: b["analysis"]["totalFailed"],
        ("failures_daily", "failure_count", "dimension = 'platform'"),
    ),
    "/webhook-metrics": (
        lambda b: b["deliveries"],
        ("webhooks_daily", "deliveries", "merchant_id = '' AND webhook_event_type = ''"),
    ),
    "/peak-times": (
        lambda b: sum(h["transactionCount"] for h in b["peakTimes"]),
        ("transactions_hourly", "transaction_count", "dimension = 'platform' AND currency <> ''"),
    ),
}


@pytest.mark.parametrize("path", sorted(DAYS_ENDPOINTS))
def test_days_endpoints_answer_an_older_start_end_range(world, client, path):
    figure, (mart, column, where) = DAYS_ENDPOINTS[path]
    start, end = OLDER
    body = get(client, path, start=start.date().isoformat(), end=end.date().isoformat())
    assert (ts(body["window"]["start"]), ts(body["window"]["end"])) == OLDER
    assert body["days"] == 14
    expected = _platform_total(world, mart, column, start, end, where)
    assert expected > 0 and figure(body) == expected
    # `days` still works, and start alone runs up to today.
    assert get(client, path, days=3)["days"] == 3
    since = get(client, path, start="2026-03-10")
    assert ts(since["window"]["end"]) == TODAY and since["days"] == 8


@pytest.mark.parametrize("path", sorted(DAYS_ENDPOINTS))
@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"days": 7, "start": "2026-02-01"}, "days"),
        ({"days": 7, "end": "2026-02-01"}, "days"),
        ({"start": "2026-02-10", "end": "2026-02-01"}, "end"),
        ({"start": "2024-01-01", "end": "2026-02-01"}, "start"),
        ({"start": "yesterday"}, "start"),
    ],
)
def test_days_endpoints_refuse_both_forms_and_bad_ranges(client, path, params, param):
    response = client.get(API + path, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "ANA_VAL_003"
    assert param in [p["name"] for p in body["invalidParams"]]
