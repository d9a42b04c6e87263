"""The customer endpoints of the profiles side: user metrics' profile, spending trends'
same-days comparison and categories, cohorts and retention. Their numbers are the
customer tables' (read here with the SQL the assets' tests check), merchant keys get
nothing, and lists come as CSV too."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest

from analytics_platform.customers import cohorts, profiles, spending
from analytics_platform.customers.days import day_of
from analytics_platform.resources.warehouse import read_sql

from .api_world import NOW, UTC_ZONE, money
from .test_api_security import assert_problem, merchant

API = "/api/v1/analytics"
AS_OF = NOW.date() - timedelta(days=1)
CUSTOMER_TABLES = ("customer_profiles", "customer_spending", "customer_cohorts")


@pytest.fixture(scope="module")
def customers(world) -> Iterator[date]:
    """The customer assets over every day of the world up to yesterday (as the automation
    would leave them); the first day."""
    with psycopg.connect(world.url, autocommit=True) as conn:
        (first,) = conn.execute(
            "SELECT min(occurred_at AT TIME ZONE 'UTC')::date FROM raw.user_events"
        ).fetchone()
        (done,) = conn.execute(
            "SELECT count(*) FROM marts.customer_days WHERE day = %s", (AS_OF,)
        ).fetchone()
        if done < 3:
            for materialize in (
                profiles.materialize_user_profiles,
                spending.materialize_spending,
                cohorts.materialize_cohorts,
            ):
                materialize(
                    conn, day_of(first, UTC_ZONE).start, day_of(AS_OF, UTC_ZONE).end, UTC_ZONE
                )
    yield first


def _rows(world, relative: str, params: dict) -> list[dict]:
    return world.query(read_sql(relative), params)


def test_user_metrics_carry_the_profile_of_the_newest_day(world, client, customers):
    response = client.get(f"{API}/user/{world.user}/metrics")
    assert response.status_code == 200, response.text
    profile = response.json()["profile"]
    (expected,) = _rows(
        world,
        "customers/profiles_as_of.sql",
        {"day": AS_OF, "tz": "UTC", "user_id": world.user},
    )
    assert profile["asOf"] == AS_OF.isoformat()
    assert profile["kycStatus"] == expected["kyc_status"]
    assert profile["kycLevel"] == expected["kyc_level"]
    assert profile["accountAgeDays"] == expected["account_age_days"]
    assert profile["mainCurrency"] == expected["main_currency"]
    assert profile["lastActivityAt"].startswith(
        expected["last_activity_at"].isoformat().replace("+00:00", "")
    )


def test_spending_trends_serve_customer_spending_with_same_days_comparisons(
    world, client, customers
):
    response = client.post(API + "/spending/trends", json={"userId": world.user, "months": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["asOf"] == AS_OF.isoformat()
    rows = _rows(
        world,
        "customers/spending_as_of.sql",
        {"day": AS_OF, "from_month": date(2026, 2, 1), "user_id": world.user},
    )
    expected = {
        (f"{r['month']:%Y-%m}", r["currency"], r["category"]): r for r in rows if r["category"]
    }
    served = {(c["month"], c["currency"], c["category"]): c for c in body["categories"]}
    assert served.keys() == expected.keys() and served
    for key, item in served.items():
        row = expected[key]
        assert money(item["spending"]) == row["spend"]
        assert item["transactions"] == row["transactions"]
        assert (item["previousSpending"] is None) == (row["previous_spend"] is None)
        if row["previous_spend"] is not None:
            assert money(item["previousSpending"]) == row["previous_spend"]
        assert [m["merchantId"] for m in item["topMerchants"]] == [
            m["merchant_id"] for m in row["top_merchants"]
        ]
    march = [m for m in body["months"] if m["month"] == "2026-03"]
    assert march and not march[0]["complete"]
    totals = {(f"{r['month']:%Y-%m}", r["currency"]): r for r in rows if not r["category"]}
    for month in march:
        row = totals[(month["month"], month["currency"])]
        same_days = month["sameDaysPreviousSpending"]
        assert (same_days is None) == (row["previous_spend"] is None)
        if same_days is not None:
            assert money(same_days) == row["previous_spend"]
    # The same days: March 1-17 against February 1-17.
    assert {c["comparedThrough"] for c in body["categories"] if c["month"] == "2026-03"} == {
        "2026-02-17"
    }


def test_cohorts_and_retention_are_the_cohort_table_as_of_its_newest_day(world, client, customers):
    response = client.get(f"{API}/cohort", params={"grain": "week", "limit": 1000})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["asOf"] == AS_OF.isoformat() and response.headers["etag"]
    rows = _rows(
        world,
        "customers/cohorts_as_of.sql",
        {"grain": "week", "day": AS_OF, "from_day": date(2000, 1, 1)},
    )
    start = date.fromisoformat(body["window"]["start"][:10])
    end = date.fromisoformat(body["window"]["end"][:10])
    expected = {
        (r["cohort_start"].isoformat(), r["period"], r["currency"]): r
        for r in rows
        if start <= r["cohort_start"] < end
    }
    served = {(i["cohortStart"], i["period"], i["currency"]): i for i in body["items"]}
    assert served.keys() == expected.keys() and served
    for key, item in served.items():
        row = expected[key]
        assert item["cohortSize"] == row["cohort_size"]
        assert item["activeUsers"] == row["active_users"]
        assert item["payingUsers"] == row["paying_users"]
        assert (item["revenue"] is None) == (row["revenue"] is None)
        if row["revenue"] is not None:
            assert money(item["revenue"]) == row["revenue"]
        assert item["retentionRate"] == round(float(row["retention_rate"]) * 100, 2)
    retention = client.get(f"{API}/retention", params={"grain": "week", "format": "csv"})
    assert retention.status_code == 200, retention.text
    assert retention.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(retention.text)))
    assert lines
    for line in lines:
        cell = served[(line["cohortStart"], int(line["period"]), "")]
        assert int(line["activeUsers"]) == cell["activeUsers"]
        assert Decimal(line["retentionRate"]) == Decimal(str(cell["retentionRate"]))


@pytest.mark.parametrize("path", ["/cohort", "/retention", "/user/usr_1/metrics"])
def test_merchant_keys_get_no_customer_figures(world, client, customers, path):
    assert_problem(client.get(API + path, headers=merchant(world)), 403, "ANA_AUTH_003")


def test_the_database_shows_a_merchant_scope_no_customer_rows(world, customers):
    with psycopg.connect(world.url) as conn:
        conn.execute("SET ROLE analytics_api")
        conn.execute(
            "SELECT set_config('app.scope', 'merchant', true), "
            "set_config('app.merchant_id', %s, true)",
            (world.merchant,),
        )
        for table in (*CUSTOMER_TABLES, "customer_profile_currencies", "customer_days"):
            (count,) = conn.execute(f"SELECT count(*) FROM marts.{table}").fetchone()
            assert count == 0, table
        conn.execute("SELECT set_config('app.scope', 'admin', true)")
        (admin,) = conn.execute("SELECT count(*) FROM marts.customer_profiles").fetchone()
        assert admin > 0
