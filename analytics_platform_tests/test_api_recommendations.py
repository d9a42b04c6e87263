"""The recommendations endpoints serve what recommendations.daily holds (active ones, one per
type, highest priority first); a dismissal hides the type for the cool-down, survives a
re-run of the day and is idempotent; merchant keys get 403; the API role can read the
recommendations and add dismissals, nothing else (and nothing of schema ml)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from analytics_platform.api.app import create_app
from analytics_platform.ml import features, feedback, scoring

from .api_world import NOW, World
from .conftest import settings_for

API = "/api/v1/analytics"
# The world's last closed day (REPORTING_TIMEZONE is UTC there): its rows were created
# at midnight before NOW and expire a week later.
DAY = NOW.date() - timedelta(days=1)
CREATED = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), UTC)
ACTIVE_COLUMNS = ("id", "type", "priority", "score", "day", "created_at", "expires_at")


@dataclass(frozen=True)
class Recommended:
    world: World
    reminded: list[str]  # users with an INACTIVITY_REMINDER of DAY, in id order
    mixed: str  # a user with hand-written rows of several types, days and expiries


def _extra_row(user: str, kind: str, day: date, priority: int, score: float, **times: datetime):
    created = times.get(
        "created_at", datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    )
    return {
        "id": scoring.recommendation_id(day, user, kind),
        "day": day,
        "user_id": user,
        "type": kind,
        "title": f"{kind.title()} for you",
        "description": f"{kind} with the user's numbers",
        "action_url": "/wallet/home",
        "priority": priority,
        "score": score,
        "reason": json.dumps({"test": kind}),
        "model_name": f"baseline:{kind.lower()}",
        "model_version": None,
        "created_at": created,
        "expires_at": times.get("expires_at", created + timedelta(days=7)),
    }


def _write(conn: psycopg.Connection, rows: list[dict]) -> None:
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            "DELETE FROM recommendations.daily WHERE id = ANY(%s)", ([r["id"] for r in rows],)
        )
        cursor.executemany(
            "INSERT INTO recommendations.daily (id, day, user_id, type, title, description,"
            " action_url, priority, score, reason, model_name, model_version, created_at,"
            " expires_at) VALUES (%(id)s, %(day)s, %(user_id)s, %(type)s, %(title)s,"
            " %(description)s, %(action_url)s, %(priority)s, %(score)s, %(reason)s::jsonb,"
            " %(model_name)s, %(model_version)s, %(created_at)s, %(expires_at)s)",
            rows,
        )


@pytest.fixture(scope="module")
def recommended(world: World) -> Recommended:
    """DAY's features and INACTIVITY_REMINDER rows (the recency rule: this world has no
    trained model), plus hand-written rows of the other types for one user, as the other
    writers of recommendations.daily would add them. Re-running gives the same rows."""
    with psycopg.connect(world.url, autocommit=True) as conn:
        features.build_day(conn, DAY, "UTC")
        report = scoring.score_inactivity(conn, DAY, "UTC")
        assert report.written >= 7, "the world needs a few quiet users"
        reminded = [
            r[0]
            for r in conn.execute(
                "SELECT user_id FROM recommendations.daily WHERE day = %s"
                " AND type = 'INACTIVITY_REMINDER' ORDER BY id",
                (DAY,),
            )
        ]
        mixed = reminded[0]
        _write(
            conn,
            [
                _extra_row(mixed, "SPENDING_TREND", DAY, 5, 0.9),
                _extra_row(mixed, "BUDGET_ALERT", DAY, 2, 0.3),
                _extra_row(mixed, "SAVINGS_GOAL", DAY, 2, 0.8),
                # An older day of a type: the newest day's row stands for it.
                _extra_row(mixed, "PROMOTION", DAY - timedelta(days=1), 5, 0.99),
                _extra_row(mixed, "PROMOTION", DAY, 1, 0.2),
                # Expired, and not yet created at NOW: neither is shown.
                _extra_row(
                    mixed,
                    "INVESTMENT",
                    DAY - timedelta(days=9),
                    5,
                    0.9,
                    expires_at=NOW - timedelta(minutes=1),
                ),
                _extra_row(
                    mixed,
                    "NEW_FEATURE",
                    DAY + timedelta(days=1),
                    5,
                    0.9,
                    created_at=NOW + timedelta(hours=1),
                ),
            ],
        )
    return Recommended(world, reminded, mixed)


@pytest.fixture(scope="module")
def admin(world: World) -> Iterator[TestClient]:
    with world.client() as client:
        client.headers["X-API-Key"] = world.admin_key
        yield client


def at(world: World, now: datetime, **env: str) -> TestClient:
    """A client of the world whose clock reads `now`."""
    settings = settings_for(database_url=world.url, api_rate_limit_per_minute="0", **env)
    client = TestClient(create_app(settings, clock=lambda: now))
    client.headers["X-API-Key"] = world.admin_key
    return client


def active_in_table(world: World, user: str, now: datetime, cooldown_days: int = 30) -> list[str]:
    """The user's active recommendation ids at `now`, computed here from the tables."""
    rows = world.query(
        "SELECT id, type, priority, score, day, created_at, expires_at"
        " FROM recommendations.daily WHERE user_id = %s",
        (user,),
    )
    dismissed = {
        r["type"]
        for r in world.query(
            "SELECT type, dismissed_at FROM recommendations.dismissals WHERE user_id = %s",
            (user,),
        )
        if now - timedelta(days=cooldown_days) < r["dismissed_at"] <= now
    }
    newest: dict[str, dict] = {}
    for row in rows:
        visible = row["created_at"] <= now < row["expires_at"] and row["type"] not in dismissed
        if visible and (row["type"] not in newest or row["day"] > newest[row["type"]]["day"]):
            newest[row["type"]] = row
    ordered = sorted(newest.values(), key=lambda r: (-r["priority"], -r["score"], r["type"]))
    return [str(r["id"]) for r in ordered]


def shown(client: TestClient, user: str) -> list[dict]:
    response = client.get(f"{API}/user/{user}/recommendations")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    body = response.json()
    assert body["userId"] == user and body["count"] == len(body["recommendations"])
    return body["recommendations"]


def dismiss(client: TestClient, user: str, recommendation_id: str):
    return client.post(f"{API}/user/{user}/recommendations/{recommendation_id}/dismiss")


def test_a_user_gets_the_tables_active_rows_one_per_type_highest_priority_first(recommended, admin):
    world, user = recommended.world, recommended.mixed
    items = shown(admin, user)
    expected = active_in_table(world, user, NOW)
    assert [i["recommendationId"] for i in items] == expected
    types = [i["recommendationType"] for i in items]
    assert len(set(types)) == len(types) and "INACTIVITY_REMINDER" in types
    assert {"INVESTMENT", "NEW_FEATURE"}.isdisjoint(types)  # expired, not yet created
    priorities = [i["priority"] for i in items]
    assert priorities == sorted(priorities, reverse=True)
    [reminder] = [i for i in items if i["recommendationType"] == "INACTIVITY_REMINDER"]
    [row] = world.query(
        "SELECT * FROM recommendations.daily WHERE id = %s", (reminder["recommendationId"],)
    )
    assert reminder["description"] == row["description"]
    assert reminder["reason"] == row["reason"]
    assert reminder["modelName"] == scoring.BASELINE_MODEL_NAME
    assert reminder["priority"] == row["priority"] and reminder["day"] == DAY.isoformat()
    assert datetime.fromisoformat(reminder["expiresAt"]) == row["expires_at"]
    [promotion] = [i for i in items if i["recommendationType"] == "PROMOTION"]
    assert promotion["day"] == DAY.isoformat()
    assert shown(admin, "usr_nobody_at_all") == []


def test_a_dismissal_hides_the_type_across_a_rerun_of_the_day_and_is_idempotent(recommended, admin):
    world, user = recommended.world, recommended.reminded[1]
    [reminder] = shown(admin, user)
    response = dismiss(admin, user, reminder["recommendationId"])
    assert response.status_code == 200, response.text
    first = response.json()
    assert first["recommendationType"] == "INACTIVITY_REMINDER" and not first["alreadyDismissed"]
    assert datetime.fromisoformat(first["dismissedAt"]) == NOW
    assert datetime.fromisoformat(first["hiddenUntil"]) == NOW + timedelta(days=30)
    assert shown(admin, user) == []
    # The day re-run: its rows are deleted and written again with the same ids.
    with psycopg.connect(world.url, autocommit=True) as conn:
        scoring.score_inactivity(conn, DAY, "UTC")
    again = world.query(
        "SELECT id FROM recommendations.daily WHERE user_id = %s AND type = 'INACTIVITY_REMINDER'",
        (user,),
    )
    assert [str(r["id"]) for r in again] == [reminder["recommendationId"]]
    assert shown(admin, user) == [] == active_in_table(world, user, NOW)
    second = dismiss(admin, user, reminder["recommendationId"]).json()
    assert second["alreadyDismissed"] and second["dismissedAt"] == first["dismissedAt"]
    [row] = world.query("SELECT * FROM recommendations.dismissals WHERE user_id = %s", (user,))
    assert (str(row["recommendation_id"]), row["type"], row["recommendation_day"]) == (
        reminder["recommendationId"],
        "INACTIVITY_REMINDER",
        DAY,
    )
    assert row["model_name"] == scoring.BASELINE_MODEL_NAME
    [key] = world.query(
        "SELECT id FROM api.api_keys WHERE prefix = %s", (world.admin_key.split("_")[1],)
    )
    assert row["key_id"] == key["id"]


def test_a_dismissed_type_shows_again_when_the_cool_down_is_over(recommended, admin):
    world, user = recommended.world, recommended.reminded[2]
    [reminder] = shown(admin, user)
    assert dismiss(admin, user, reminder["recommendationId"]).status_code == 200
    later = NOW + timedelta(days=3)  # the row is still valid then
    with at(world, later) as default_cool_down:
        assert shown(default_cool_down, user) == []
    with at(world, later, recommendation_dismiss_cooldown_days="2") as short_cool_down:
        assert [i["recommendationId"] for i in shown(short_cool_down, user)] == [
            reminder["recommendationId"]
        ]
        assert active_in_table(world, user, later, cooldown_days=2) == [
            reminder["recommendationId"]
        ]
        # Dismissed again after the cool-down: a new dismissal, hidden again.
        again = dismiss(short_cool_down, user, reminder["recommendationId"]).json()
        assert not again["alreadyDismissed"]
        assert shown(short_cool_down, user) == []


def test_dismissing_an_unknown_id_or_another_users_is_a_404_problem(recommended, admin):
    user, other = recommended.reminded[3], recommended.reminded[4]
    [theirs] = shown(admin, other)
    for target_user, recommendation_id in (
        (user, str(uuid.uuid4())),
        (user, theirs["recommendationId"]),
    ):
        response = dismiss(admin, target_user, recommendation_id)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "ANA_REC_001"
    assert dismiss(admin, user, "not-a-uuid").json()["code"] == "ANA_VAL_002"
    assert (
        recommended.world.query(
            "SELECT * FROM recommendations.dismissals WHERE user_id IN (%s, %s)", (user, other)
        )
        == []
    )
    assert [i["recommendationId"] for i in shown(admin, other)] == [theirs["recommendationId"]]


def test_merchant_keys_get_a_403_and_dismiss_nothing(recommended):
    world, user = recommended.world, recommended.reminded[5]
    [row] = world.query(
        "SELECT id FROM recommendations.daily WHERE user_id = %s AND day = %s", (user, DAY)
    )
    with world.client() as client:
        client.headers["X-API-Key"] = world.merchant_key
        for response in (
            client.get(f"{API}/user/{user}/recommendations"),
            dismiss(client, user, str(row["id"])),
        ):
            assert response.status_code == 403
            assert response.json()["code"] == "ANA_AUTH_003"
    assert world.query("SELECT * FROM recommendations.dismissals WHERE user_id = %s", (user,)) == []


def test_an_internal_failure_is_an_ana_sys_004_problem(recommended, admin):
    """A writer's broken row (a reason that is not a JSON object) cannot be served."""
    world, user = recommended.world, "usr_broken_row"
    row = _extra_row(user, "SPENDING_TREND", DAY, 3, 0.5)
    with psycopg.connect(world.url, autocommit=True) as conn:
        _write(conn, [{**row, "reason": json.dumps("not an object")}])
    app = create_app(world.settings, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(
            f"{API}/user/{user}/recommendations", headers={"X-API-Key": world.admin_key}
        )
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "ANA_SYS_004" and body["requestId"] in body["detail"]
    assert "not an object" not in response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert admin.get(f"{API}/user/{recommended.mixed}/recommendations").status_code == 200
    text = admin.get("/metrics").text
    assert 'route="/api/v1/analytics/user/{user_id}/recommendations",status="200"' in text


def test_rate_limit_applies_to_the_recommendations(recommended):
    world, user = recommended.world, recommended.mixed
    settings = settings_for(
        database_url=world.url, api_rate_limit_per_minute="1", api_rate_limit_burst="1"
    )
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        client.headers["X-API-Key"] = world.admin_key
        assert client.get(f"{API}/user/{user}/recommendations").status_code == 200
        limited = client.get(f"{API}/user/{user}/recommendations")
        assert limited.status_code == 429 and limited.json()["code"] == "ANA_RATE_001"


def _as_api_role(world: World, scope: str, merchant: str = "") -> psycopg.Connection:
    conn = psycopg.connect(world.url)
    conn.execute("SET ROLE analytics_api")
    conn.execute(
        "SELECT set_config('app.scope', %s, false), set_config('app.merchant_id', %s, false)",
        (scope, merchant),
    )
    return conn


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT count(*) FROM ml.user_features",
        "SELECT count(*) FROM ml.models",
        "DELETE FROM recommendations.daily",
        "UPDATE recommendations.daily SET priority = 5",
        "INSERT INTO recommendations.daily SELECT * FROM recommendations.daily LIMIT 1",
        "UPDATE recommendations.dismissals SET dismissed_at = now()",
        "DELETE FROM recommendations.dismissals",
    ],
)
def test_the_api_role_reads_recommendations_and_adds_dismissals_only(recommended, statement):
    with _as_api_role(recommended.world, "admin") as conn:
        assert conn.execute("SELECT count(*) FROM recommendations.daily").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_a_merchant_scope_sees_no_recommendation_and_cannot_dismiss(recommended):
    world = recommended.world
    with _as_api_role(world, "merchant", world.merchant) as conn:
        assert conn.execute("SELECT count(*) FROM recommendations.daily").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO recommendations.dismissals (recommendation_id, user_id, type,"
                " recommendation_day, model_name, dismissed_at, key_id)"
                " VALUES (gen_random_uuid(), 'u', 'PROMOTION', current_date, 'm', now(), 1)"
            )


def test_training_reads_dismissals_as_of_a_day_and_never_later_ones(recommended, admin):
    world, user = recommended.world, recommended.reminded[6]
    [reminder] = shown(admin, user)
    assert dismiss(admin, user, reminder["recommendationId"]).status_code == 200
    key = (user, "INACTIVITY_REMINDER")
    with psycopg.connect(world.url, autocommit=True) as conn:
        # Dismissed at NOW, during the day after DAY: DAY's inputs must not see it.
        assert key not in feedback.dismissals_as_of(conn, DAY, "UTC")
        assert feedback.dismissals_as_of(conn, NOW.date(), "UTC")[key] == 1
        later = NOW.date() + timedelta(days=feedback.WINDOW_DAYS)
        assert key not in feedback.dismissals_as_of(conn, later, "UTC")
