"""GET /customers/rfm with a merchant key: the merchant's own customers scored on demand
over its own purchases (sql/customers/rfm_merchant_page.sql), equal to an independent
polars computation (rfm_reference) over that merchant's events only; never another
merchant's customers or transactions; admin keys keep the platform-wide answer."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from analytics_platform.api.app import create_app
from analytics_platform.api.keys import create_api_key
from analytics_platform.customers.rfm import materialize_rfm
from analytics_platform.customers.segments import cell_params, load_rules
from analytics_platform.resources.warehouse import read_sql

from .conftest import PostgresCluster, settings_for
from .rfm_reference import expected_scores
from .rollup_reference import RawLoaders, migrated_database, transaction

API = "/api/v1/customers/rfm"
# A half-hour zone: the merchant's days must be cut where the platform cuts them.
ZONE = "Asia/Kolkata"
TZ = ZoneInfo(ZONE)
LOOKBACK = 10
DAY = date(2026, 3, 10)
# A day whose window holds purchases from M1 only: there the platform's scores and M1's
# on-demand scores must be the same rows (the two SQL files cannot drift apart).
ONE_MERCHANT_DAY = DAY - timedelta(days=40)
M1, M2, M3 = "m-one", "m-two", "m-three"
SHARED = "u-shared"
RULES = load_rules()


@dataclass(frozen=True)
class MerchantWorld:
    url: str
    events: list[dict]
    keys: dict[str, str]
    client: TestClient


def _at(day: date, rng: random.Random) -> datetime:
    local = datetime.combine(day, datetime.min.time(), TZ) + timedelta(
        minutes=rng.randrange(0, 24 * 60, 30), microseconds=rng.choice([0, 0, -1, 1])
    )
    return local.astimezone(UTC)


def _events(rng: random.Random) -> list[dict]:
    """Ties (few amounts, many one-time buyers), two currencies, other types and statuses,
    a user buying from two merchants, and an era with one merchant only."""
    events = []
    users = [f"u{i:02d}" for i in range(24)]
    for _ in range(260):
        day = DAY - timedelta(days=rng.randrange(0, LOOKBACK + 3))
        status = rng.choice(["SUCCESS", "SUCCESS", "SUCCESS", "FAILED", "REFUNDED"])
        events.append(
            transaction(
                _at(day, rng),
                user_id=rng.choice(users[: rng.choice([6, 24])]),
                merchant_id=rng.choice([M1, M1, M2, M3]),
                amount=Decimal(rng.choice([100, 250, 1000, 1001, 99999])) / 100,
                currency=rng.choice(["IDR", "IDR", "USD"]),
                transaction_type=rng.choice(
                    ["PAYMENT", "PAYMENT", "BILL_PAYMENT", "TRANSFER_OUT", "TOPUP"]
                ),
                status=status,
                failure_reason="TIMEOUT" if status == "FAILED" else None,
            )
        )
    for merchant, count, amount, currency in ((M1, 3, "10.00", "IDR"), (M2, 1, "99.00", "USD")):
        for _ in range(count):
            events.append(
                transaction(
                    _at(DAY - timedelta(days=2), rng),
                    user_id=SHARED,
                    merchant_id=merchant,
                    amount=Decimal(amount),
                    currency=currency,
                )
            )
    for _ in range(40):
        events.append(
            transaction(
                _at(ONE_MERCHANT_DAY - timedelta(days=rng.randrange(0, LOOKBACK)), rng),
                user_id=rng.choice(users),
                merchant_id=M1,
                amount=Decimal(rng.choice([100, 250, 1000])) / 100,
                currency=rng.choice(["IDR", "USD"]),
            )
        )
    for i, event in enumerate(events):
        event["transaction_id"] = f"t{i}"
    return events


@pytest.fixture(scope="module")
def merchants(postgres_cluster: PostgresCluster) -> Iterator[MerchantWorld]:
    with migrated_database(postgres_cluster) as url:
        events = _events(random.Random(13))
        with psycopg.connect(url, autocommit=True) as conn:
            RawLoaders(TZ).insert(conn, "raw.transactions", events)
            for day in (ONE_MERCHANT_DAY, DAY):
                materialize_rfm(conn, day, day, ZONE, LOOKBACK, RULES)
            keys = {
                scope: create_api_key(conn, name=f"tests {scope}", scope=scope)
                for scope in ("admin", f"merchant:{M1}", f"merchant:{M2}", f"merchant:{M3}")
            }
        settings = settings_for(
            database_url=url, reporting_timezone=ZONE, api_rate_limit_per_minute="0"
        )
        app = create_app(settings, clock=lambda: datetime(2026, 3, 11, 12, tzinfo=UTC))
        with TestClient(app) as client:
            yield MerchantWorld(url, events, keys, client)


def served(world: MerchantWorld, key: str, **params: object) -> dict[str, tuple]:
    """Every item of the key's answer, paging through with small pages."""
    items, cursor = {}, None
    while True:
        query = {"limit": 5, **params, **({"cursor": cursor} if cursor else {})}
        response = world.client.get(API, params=query, headers={"X-API-Key": world.keys[key]})
        assert response.status_code == 200, response.text
        body = response.json()
        for i in body["items"]:
            items[i["userId"]] = (
                i["currency"],
                i["recencyDays"],
                i["frequency"],
                Decimal(str(i["monetary"])),
                i["rScore"],
                i["fScore"],
                i["mScore"],
                i["segment"],
            )
        cursor = body["nextCursor"]
        if cursor is None:
            return items


def of_merchant(events: list[dict], merchant: str) -> list[dict]:
    return [e for e in events if e["merchant_id"] == merchant]


@pytest.mark.parametrize("merchant", [M1, M2, M3])
def test_a_merchant_sees_its_customers_scored_over_its_own_purchases(merchants, merchant):
    expected = expected_scores(of_merchant(merchants.events, merchant), TZ, DAY, LOOKBACK, RULES)
    assert len(expected) > 5
    assert served(merchants, f"merchant:{merchant}") == expected


def test_two_merchants_sharing_a_user_each_see_only_their_own_purchases(merchants):
    one = served(merchants, f"merchant:{M1}")[SHARED]
    two = served(merchants, f"merchant:{M2}")[SHARED]
    own = {
        m: expected_scores(of_merchant(merchants.events, m), TZ, DAY, LOOKBACK, RULES)[SHARED]
        for m in (M1, M2)
    }
    assert (one, two) == (own[M1], own[M2])
    assert one[0] != two[0] and one[2] != two[2]
    assert SHARED not in served(merchants, f"merchant:{M3}")


def test_a_merchant_scope_cannot_read_another_merchants_rows_even_by_asking(merchants):
    """The SQL asked for M2's customers in M1's session: row-level security leaves none."""
    params = {
        "merchant_id": M2,
        "day": DAY,
        "lookback_days": LOOKBACK,
        "tz": ZONE,
        "cell_segments": cell_params(RULES)["cell_segments"],
        "after": "",
        "segment": None,
        "currency": None,
        **{f"{b}_{s}": (1 if b == "min" else 5) for b in ("min", "max") for s in "rfm"},
        "limit": 1000,
    }
    with psycopg.connect(merchants.url) as conn:
        conn.execute("SET ROLE analytics_api")
        scope = "SELECT set_config('app.scope', %s, true), set_config('app.merchant_id', %s, true)"
        conn.execute(scope, ("merchant", M1))
        sql = read_sql("customers/rfm_merchant_page.sql")
        assert conn.execute(sql, params).fetchall() == []
        conn.execute(scope, ("merchant", M2))
        assert len(conn.execute(sql, params).fetchall()) > 5


def test_the_merchant_scores_equal_the_platforms_where_one_merchant_sold_everything(merchants):
    platform = {
        r[0]: tuple(r[1:])
        for r in psycopg.connect(merchants.url, autocommit=True).execute(
            "SELECT user_id, currency, recency_days, frequency, monetary, r_score, f_score,"
            " m_score, segment FROM customers.rfm_scores WHERE day = %s",
            (ONE_MERCHANT_DAY,),
        )
    }
    assert len(platform) > 5
    assert served(merchants, f"merchant:{M1}", day=ONE_MERCHANT_DAY.isoformat()) == platform


def test_admin_keys_keep_the_platform_wide_scores(merchants):
    expected = expected_scores(merchants.events, TZ, DAY, LOOKBACK, RULES)
    assert served(merchants, "admin") == expected


def test_merchant_filters_csv_and_etag_follow_the_platform_page(merchants):
    key = {"X-API-Key": merchants.keys[f"merchant:{M1}"]}
    everyone = served(merchants, f"merchant:{M1}")
    only = served(merchants, f"merchant:{M1}", min_f=2, currency="IDR")
    assert only == {u: v for u, v in everyone.items() if v[5] >= 2 and v[0] == "IDR"}
    csv = merchants.client.get(API, params={"format": "csv", "limit": 1000}, headers=key)
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == len(everyone) + 1
    first = merchants.client.get(API, headers=key)
    again = merchants.client.get(API, headers={**key, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "params", [{"day": "2001-01-01"}, {"min_m": 4, "max_m": 2}, {"min_r": 0}, {"cursor": "x"}]
)
def test_bad_merchant_requests_are_400_problems(merchants, params):
    response = merchants.client.get(
        API, params=params, headers={"X-API-Key": merchants.keys[f"merchant:{M1}"]}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", ["/segments", "/insights"])
def test_merchant_keys_are_pointed_from_platform_aggregates_to_rfm(merchants, path):
    response = merchants.client.get(
        "/api/v1/customers" + path, headers={"X-API-Key": merchants.keys[f"merchant:{M1}"]}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "ANA_AUTH_003"
    assert "/customers/rfm" in response.json()["detail"]


def test_a_merchant_page_over_the_time_limit_is_a_503_problem_saying_what_to_do(merchants):
    """The page waits on a lock held elsewhere until API_STATEMENT_TIMEOUT_MS cancels it
    (a lock wait counts toward the timeout: a slow scan, deterministically)."""
    settings = settings_for(
        database_url=merchants.url,
        reporting_timezone=ZONE,
        api_rate_limit_per_minute="0",
        api_statement_timeout_ms="300",
    )
    with (
        psycopg.connect(merchants.url) as locker,
        TestClient(create_app(settings)) as client,
    ):
        locker.execute("LOCK TABLE raw.transactions IN ACCESS EXCLUSIVE MODE")
        response = client.get(API, headers={"X-API-Key": merchants.keys[f"merchant:{M1}"]})
        locker.rollback()
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "ANA_SYS_003"
    assert "API_STATEMENT_TIMEOUT_MS" in response.json()["detail"]
