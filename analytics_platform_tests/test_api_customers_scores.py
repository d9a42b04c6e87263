"""The customers endpoints serve exactly what the RFM assets wrote; merchant keys get a
403 problem on the platform-wide aggregates (their own RFM page is
test_api_customers_merchant_rfm.py), never another merchant's customers."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest

from analytics_platform.customers.rfm import materialize_rfm
from analytics_platform.customers.segments import load_rules
from analytics_platform.customers.transitions import materialize_transitions

from .api_world import TODAY

API = "/api/v1/customers"
LOOKBACK = 30
LAST_DAY = TODAY.date() - timedelta(days=1)
FIRST_DAY = LAST_DAY - timedelta(days=31)


@pytest.fixture(scope="module")
def scored(world):
    """RFM scores and transitions of the world's last 32 closed days (re-running gives the
    same rows, so the shared world stays as every other test expects it)."""
    with psycopg.connect(world.url, autocommit=True) as conn:
        materialize_rfm(conn, FIRST_DAY, LAST_DAY, "UTC", LOOKBACK, load_rules())
        materialize_transitions(conn, FIRST_DAY, LAST_DAY, FIRST_DAY)
    return world


def table(world, day: date) -> dict[str, dict]:
    rows = world.query("SELECT * FROM customers.rfm_scores WHERE day = %s", (day,))
    return {r["user_id"]: r for r in rows}


def test_rfm_pages_through_every_scored_user_of_the_newest_day(scored, client):
    expected = table(scored, LAST_DAY)
    assert expected
    seen, cursor, pages = {}, None, 0
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        body = client.get(API + "/rfm", params=params).json()
        assert body["day"] == LAST_DAY.isoformat() and body["lookbackDays"] == LOOKBACK
        for item in body["items"]:
            seen[item["userId"]] = item
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages > 1 and set(seen) == set(expected)
    for user, row in expected.items():
        item = seen[user]
        assert (item["rScore"], item["fScore"], item["mScore"]) == (
            row["r_score"],
            row["f_score"],
            row["m_score"],
        )
        assert item["segment"] == row["segment"]
        assert Decimal(str(item["monetary"])) == row["monetary"]
        assert item["recencyDays"] == row["recency_days"]


def test_rfm_filters_by_segment_and_score_bounds(scored, client):
    rows = table(scored, LAST_DAY).values()
    segment = Counter(r["segment"] for r in rows).most_common(1)[0][0]
    body = client.get(API + "/rfm", params={"segment": segment, "min_r": 3, "limit": 1000}).json()
    expected = {r["user_id"] for r in rows if r["segment"] == segment and r["r_score"] >= 3}
    assert {i["userId"] for i in body["items"]} == expected
    older = client.get(API + "/rfm", params={"day": FIRST_DAY.isoformat(), "limit": 1000})
    assert {i["userId"] for i in older.json()["items"]} == set(table(scored, FIRST_DAY))


def test_rfm_exports_csv_and_revalidates_with_etag(scored, client):
    csv = client.get(API + "/rfm", params={"format": "csv", "limit": 1000})
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == len(table(scored, LAST_DAY)) + 1
    first = client.get(API + "/segments")
    again = client.get(API + "/segments", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def test_bad_day_and_bounds_are_problems(scored, client):
    response = client.get(API + "/rfm", params={"day": "2001-01-01"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get(API + "/rfm", params={"min_f": 4, "max_f": 2}).status_code == 400


def test_segments_count_users_revenue_and_moves_as_the_tables(scored, client):
    rows = list(table(scored, LAST_DAY).values())
    body = client.get(API + "/segments").json()
    assert body["customers"] == len(rows)
    counts = Counter(r["segment"] for r in rows)
    assert {i["segment"]: i["users"] for i in body["items"]} == dict(counts)
    for item in body["items"]:
        members = [r for r in rows if r["segment"] == item["segment"]]
        assert item["avgRScore"] == pytest.approx(sum(r["r_score"] for r in members) / len(members))
        for revenue in item["revenue"]:
            currency = revenue["currency"]
            total = sum(r["monetary"] for r in rows if r["currency"] == currency)
            mine = sum(r["monetary"] for r in members if r["currency"] == currency)
            assert Decimal(str(revenue["revenue"])) == mine
            assert revenue["share"] == pytest.approx(float(mine / total))
    moves = scored.query(
        "SELECT since, from_segment, to_segment, users FROM customers.segment_transitions"
        " WHERE day = %s AND from_segment <> to_segment",
        (LAST_DAY,),
    )
    served = {
        (m["since"], m["fromSegment"], m["toSegment"]): m["users"] for m in body["transitions"]
    }
    assert served == {(m["since"], m["from_segment"], m["to_segment"]): m["users"] for m in moves}


def test_insights_compare_with_thirty_days_before(scored, client):
    body = client.get(API + "/insights").json()
    now = table(scored, LAST_DAY).values()
    before_day = LAST_DAY - timedelta(days=30)
    before = table(scored, before_day).values()
    assert body["previousDay"] == before_day.isoformat()
    at_risk = {"At Risk", "Can't Lose Them"}
    assert body["customers"]["value"] == len(now)
    assert body["customers"]["previous"] == len(before)
    assert body["active"]["value"] == sum(r["recency_days"] < 30 for r in now)
    assert body["atRisk"]["value"] == sum(r["segment"] in at_risk for r in now)
    assert body["atRisk"]["change"] == body["atRisk"]["value"] - sum(
        r["segment"] in at_risk for r in before
    )
    before_users = {r["user_id"] for r in before}
    assert body["new"]["value"] == sum(r["user_id"] not in before_users for r in now)


def test_user_metrics_carry_the_users_rfm_scores(scored, client):
    row = table(scored, LAST_DAY)[scored.user]
    rfm = client.get(f"/api/v1/analytics/user/{scored.user}/metrics").json()["rfm"]
    assert rfm["day"] == LAST_DAY.isoformat()
    assert (rfm["rScore"], rfm["fScore"], rfm["mScore"], rfm["segment"]) == (
        row["r_score"],
        row["f_score"],
        row["m_score"],
        row["segment"],
    )


@pytest.mark.parametrize("path", ["/segments", "/insights"])
def test_merchant_keys_get_a_403_problem(scored, client, path):
    response = client.get(API + path, headers={"X-API-Key": scored.merchant_key})
    assert response.status_code == 403
    assert response.json()["code"] == "ANA_AUTH_003"


def test_the_database_shows_scores_to_admin_scope_only(scored):
    with psycopg.connect(scored.url) as conn:
        conn.execute("SET ROLE analytics_api")
        conn.execute(
            "SELECT set_config('app.scope', 'merchant', true),"
            " set_config('app.merchant_id', %s, true)",
            (scored.merchant,),
        )
        for t in ("rfm_scores", "segment_transitions", "rfm_breakpoints"):
            assert conn.execute(f"SELECT count(*) FROM customers.{t}").fetchone() == (0,)
