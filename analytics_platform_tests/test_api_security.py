"""Who sees what, and every error the API can give: keys, merchant isolation (in the API
and in the database itself), and the problem documents with their stable codes."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from fastapi.testclient import TestClient

from analytics_platform import cli
from analytics_platform.api.app import create_app
from analytics_platform.api.auth import KeyVerifier
from analytics_platform.api.db import Database
from analytics_platform.api.errors import ERRORS
from analytics_platform.api.keys import (
    Scope,
    create_api_key,
    list_api_keys,
    revoke_api_key,
    split_key,
)
from analytics_platform.api.wire import ReadAfterLastReadError

from .api_world import NOW, TODAY, money
from .conftest import settings_for

API = "/api/v1/analytics"


@pytest.fixture(scope="module")
def client(world):
    # Unlike conftest's client, no key: every test here sends the one it is about.
    with world.client() as test_client:
        yield test_client


def admin(world):
    return {"X-API-Key": world.admin_key}


def merchant(world):
    return {"X-API-Key": world.merchant_key}


def assert_problem(response, status, code, param=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"] == ERRORS[code].title
    assert body["type"] == f"urn:analytics-platform:{code}"
    assert body["requestId"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text and "SELECT" not in response.text
    if param is not None:
        assert param in body["detail"]
        assert param in [p["name"] for p in body["invalidParams"]]
    return body


# ------------------------------------------------------------------ keys
def test_only_a_hash_of_the_key_is_stored_and_listing_never_shows_it(world):
    with psycopg.connect(world.url, autocommit=True) as conn:
        key = create_api_key(conn, name="hash check", scope="merchant:mch_x")
        row = conn.execute(
            "SELECT key_hash, prefix, scope, merchant_id FROM api.api_keys WHERE prefix = %s",
            (key.split("_")[1],),
        ).fetchone()
        assert row == (
            hashlib.sha256(key.encode()).digest(),
            key.split("_")[1],
            "merchant",
            "mch_x",
        )
        stored = conn.execute("SELECT k::text FROM api.api_keys k").fetchall()
        secret = key.split("_", 2)[2]  # token_urlsafe may itself contain "_"
        assert not any(key in text or secret in text for (text,) in stored)
        listed = list_api_keys(conn)
    assert "hash check" in [k.name for k in listed]
    assert all(not hasattr(k, "key_hash") for k in listed)


def test_api_role_cannot_read_key_hashes(world):
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("SET ROLE analytics_api")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT key_hash FROM api.api_keys")


def test_a_used_key_records_when_it_was_last_used(world, client):
    with psycopg.connect(world.url, autocommit=True) as conn:
        key = create_api_key(conn, name="usage", scope="admin")
    assert client.get(API + "/dashboard", headers={"X-API-Key": key}).status_code == 200
    (used,) = world.query(
        "SELECT last_used_at FROM api.api_keys WHERE prefix = %s", (key.split("_")[1],)
    )
    assert used["last_used_at"] is not None


def test_checking_a_key_again_within_a_minute_writes_nothing(world):
    with psycopg.connect(world.url, autocommit=True) as conn:
        key = create_api_key(conn, name="checked twice", scope="admin")
        prefix, digest = split_key(key) or ("", b"")
        check = "SELECT key_id FROM api.authenticate_key(%s, %s)"
        version = "SELECT xmin::text, last_used_at FROM api.api_keys WHERE prefix = %s"
        first = conn.execute(check, (prefix, digest)).fetchone()
        recorded = conn.execute(version, (prefix,)).fetchone()
        second = conn.execute(check, (prefix, digest)).fetchone()
        # The same row version: the second check within the minute was a read.
        assert conn.execute(version, (prefix,)).fetchone() == recorded
    assert first == second and first is not None
    assert recorded is not None and recorded[1] is not None


def test_revoked_key_stops_working_within_the_key_cache_time(world):
    with psycopg.connect(world.url, autocommit=True) as conn:
        key = create_api_key(conn, name="to revoke", scope="admin")
    with world.client(api_key_cache_seconds="1") as client:
        assert client.get(API + "/dashboard", headers={"X-API-Key": key}).status_code == 200
        revoked = revoke_api_key(world.url, key)
        assert revoked.revoked_at is not None
        time.sleep(1.1)
        response = client.get(API + "/dashboard", headers={"X-API-Key": key})
    assert_problem(response, 401, "ANA_AUTH_002")


def test_a_key_in_use_is_checked_again_before_its_check_expires(world):
    """Used past half its cache time, a key is re-checked in the background, so a key in
    steady use never has a request wait for the database (or leave the fast path)."""

    async def run() -> None:
        db = Database(settings_for(database_url=world.url, api_pool_size="1"))
        await db.open()
        try:
            with psycopg.connect(world.url, autocommit=True) as conn:
                key = create_api_key(conn, name="in steady use", scope="admin")
            keys = KeyVerifier(db, ttl_seconds=2.0)
            started = time.monotonic()
            principal = await keys.verify(key)
            await asyncio.sleep(1.1)
            assert keys.trusted(key) == principal  # and the re-check starts
            await asyncio.sleep(started + 2.2 - time.monotonic())
            # Older than the cache time since the first check, younger since the second.
            assert keys.trusted(key) == principal
        finally:
            await db.close()

    asyncio.run(run())


def test_cli_creates_lists_and_revokes_keys(world, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", world.url)
    assert cli.main(["api-key", "create", "--name", "cli key", "--scope", "merchant:mch_cli"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("ana_")
    assert cli.main(["api-key", "list"]) == 0
    listing = capsys.readouterr().out
    assert "merchant:mch_cli" in listing and key.split("_")[1] in listing and key not in listing
    assert cli.main(["api-key", "revoke", key.split("_")[1]]) == 0
    assert "revoked API key" in capsys.readouterr().out
    assert cli.main(["api-key", "create", "--name", "x", "--scope", "merchant:"]) == 2
    assert "merchant:<merchant_id>" in capsys.readouterr().err
    assert cli.main(["api-key", "revoke", "ffffffff"]) == 2
    assert "no API key" in capsys.readouterr().err


# ------------------------------------------------------------------ merchant isolation
def merchant_rows(world, mart, merchant_id, start, end):
    return world.query(
        f"SELECT * FROM marts.{mart} WHERE dimension = 'merchant' AND dimension_value = %s "
        "AND bucket_start >= %s AND bucket_start < %s",
        (merchant_id, start, end),
    )


def test_merchant_key_gets_its_merchants_numbers(world, client):
    body = client.get(API + "/dashboard", headers=merchant(world)).json()
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    rows = merchant_rows(world, "transactions_hourly", world.merchant, TODAY.replace(day=1), hour)
    revenue = defaultdict(Decimal)
    for row in rows:
        revenue[row["currency"]] += row["revenue"]
    assert (
        body["transactions"]["thisMonth"]["current"]
        == sum(r["transaction_count"] for r in rows)
        > 0
    )
    # A currency the merchant took only last month is listed with 0 this month.
    shown = {c: money(v["thisMonth"]["current"]) for c, v in body["revenue"].items()}
    assert shown == {c: revenue.get(c, Decimal(0)) for c in shown}
    assert set(revenue) <= set(shown)
    webhooks = client.get(
        API + "/webhook-metrics", params={"days": 30}, headers=merchant(world)
    ).json()
    (expected,) = world.query(
        "SELECT sum(deliveries) AS d FROM marts.webhooks_daily WHERE merchant_id = %s "
        "AND webhook_event_type = '' AND bucket_start >= %s AND bucket_start < %s",
        (world.merchant, TODAY - timedelta(days=30), TODAY),
    )
    assert webhooks["deliveries"] == expected["d"] > 0


def test_merchant_key_asking_for_another_merchant_gets_nothing_of_it(world, client):
    for path in ("/dashboard", "/realtime", "/trends/week", "/failures", "/revenue"):
        response = client.get(
            API + path, params={"merchant_id": world.other_merchant}, headers=merchant(world)
        )
        body = assert_problem(response, 403, "ANA_AUTH_003", "merchant_id")
        assert set(body) <= {
            "type",
            "title",
            "status",
            "detail",
            "instance",
            "code",
            "requestId",
            "invalidParams",
        }
    own = client.get(
        API + "/revenue", params={"group_by": "merchant", "limit": 1000}, headers=merchant(world)
    )
    assert {item["group"] for item in own.json()["items"]} == {world.merchant}
    realtime = client.get(API + "/realtime", params={"limit": 100}, headers=merchant(world)).json()
    assert {p["merchantId"] for p in realtime["live"]["recentPayments"]} <= {world.merchant}


def test_admin_can_look_at_one_merchant(world, client):
    mine = client.get(API + "/trends/week", headers=merchant(world)).json()["items"]
    as_admin = client.get(
        API + "/trends/week", params={"merchant_id": world.merchant}, headers=admin(world)
    ).json()["items"]
    assert mine == as_admin


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", "/users/active", None),
        ("GET", "/users/funnel", None),
        ("GET", "/user/usr_1/metrics", None),
        ("POST", "/cashflow", {"interval": "day"}),
        ("POST", "/spending/trends", {"months": 2}),
        ("GET", "/revenue?group_by=category", None),
        ("GET", "/revenue?group_by=payment_method", None),
    ],
)
def test_platform_wide_endpoints_refuse_merchant_keys(world, client, method, path, payload):
    response = client.request(method, API + path, json=payload, headers=merchant(world))
    assert_problem(response, 403, "ANA_AUTH_003")


def scoped(conn, scope, merchant_id=""):
    conn.execute(
        "SELECT set_config('app.scope', %s, true), set_config('app.merchant_id', %s, true)",
        (scope, merchant_id),
    )


def test_database_shows_a_merchant_scope_only_its_rows(world):
    with psycopg.connect(world.url) as conn:
        conn.execute("SET ROLE analytics_api")
        scoped(conn, "merchant", world.merchant)
        values = conn.execute(
            "SELECT DISTINCT dimension, dimension_value FROM marts.transactions_daily"
        ).fetchall()
        assert values == [("merchant", world.merchant)]
        failures = conn.execute(
            "SELECT DISTINCT dimension_value FROM marts.failures_daily"
        ).fetchall()
        assert failures == [(world.merchant,)]
        hooks = conn.execute("SELECT DISTINCT merchant_id FROM marts.webhooks_hourly").fetchall()
        assert hooks == [(world.merchant,)]
        # Raw rows only through the API's view (the raw tables themselves are not
        # readable by the API role: test_migrations).
        view = conn.execute("SELECT DISTINCT merchant_id FROM api.raw_transactions").fetchall()
        assert view == [(world.merchant,)]
        # Even asking for another merchant by name returns nothing.
        (other,) = conn.execute(
            "SELECT count(*) FROM marts.transactions_daily WHERE dimension_value = %s",
            (world.other_merchant,),
        ).fetchone()
        assert other == 0
        for table in (
            "marts.cashflow_daily",
            "marts.activity_daily",
            "marts.user_lifecycle_daily",
        ):
            (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert count == 0, table
        conn.rollback()
        conn.execute("SET ROLE analytics_api")
        scoped(conn, "admin")
        (everything,) = conn.execute(
            "SELECT count(DISTINCT dimension_value) FROM marts.transactions_daily"
        ).fetchone()
        assert everything > 2


def test_a_connection_after_its_request_transaction_sees_nothing(world):
    with psycopg.connect(world.url) as conn:
        conn.execute("SET ROLE analytics_api")
        scoped(conn, "admin")
        assert conn.execute("SELECT count(*) FROM marts.transactions_daily").fetchone()[0] > 0
        conn.commit()
        # The scope was local to that transaction: the pooled connection keeps none.
        assert conn.execute("SELECT count(*) FROM marts.transactions_daily").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM api.raw_transactions").fetchone()[0] == 0


def test_pipelined_reads_see_their_scope_and_leave_none_on_the_pooled_connection(world):
    """The data endpoints read through `scoped_reads`: no BEGIN/COMMIT, the scope set
    local to the implicit transaction that the pipeline's Sync ends. Every statement of
    the block sees the scope; the next user of the same pooled connection sees nothing,
    also after a read that failed, and after a block whose reads were none of them last."""
    seen = (
        "SELECT array(SELECT DISTINCT dimension_value FROM marts.transactions_daily "
        "ORDER BY 1) AS merchants, pg_backend_pid() AS pid, "
        "current_setting('app.scope') AS scope",
        {},
    )

    async def visible_unscoped(db: Database) -> tuple[list[str], int, str]:
        async with db.unscoped() as conn:
            cursor = await conn.execute(seen[0])
            merchants, pid, scope = await cursor.fetchone()
        return merchants, pid, scope

    async def run() -> None:
        # One connection: every block below gets the same one from the pool.
        db = Database(settings_for(database_url=world.url, api_pool_size="1"))
        await db.open()
        try:
            await db.pool.wait()
            async with db.scoped_reads(Scope("merchant", world.merchant)) as reads:
                ((first,),) = await reads.read([seen], last=False)
                ((again,),) = await reads.read([seen], last=True)
            assert first["merchants"] == again["merchants"] == [world.merchant]
            assert first["scope"] == again["scope"] == "merchant"
            assert await visible_unscoped(db) == ([], first["pid"], "none")
            async with db.scoped_reads(Scope("admin", None)) as reads:
                ((only,),) = await reads.read([seen], last=False)
            assert len(only["merchants"]) > 1 and only["pid"] == first["pid"]
            assert await visible_unscoped(db) == ([], first["pid"], "none")
            for last in (False, True):
                with pytest.raises(psycopg.errors.DivisionByZero):
                    async with db.scoped_reads(Scope("admin", None)) as reads:
                        await reads.read([seen, ("SELECT 1 / 0", {}), seen], last=last)
                assert await visible_unscoped(db) == ([], first["pid"], "none")
        finally:
            await db.close()

    asyncio.run(run())


def test_reads_sent_together_answer_as_sent_alone_under_the_scope(world):
    """`rows_together` sends independent reads in one round trip (realtime, freshness):
    each gets the rows it gets alone, under the block's scope (a merchant sees only its
    own payments), and a failing one raises its own error and leaves no scope behind.
    As the block's last reads (`last=True`) they go out with the Sync: the transaction
    has ended when they return, the answers are the same, and a read after them, which
    would see nothing, is refused."""
    payments = (
        "api/recent_payments.sql",
        {
            "since": NOW - timedelta(days=400),
            "now": NOW,
            "merchant_id": None,
            "before_at": NOW,
            "before_id": "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "limit": 50,
        },
        None,
    )
    zone = ("api/tail_start.sql", {"tz": "UTC", "today_start": NOW, "hour_start": NOW}, None)

    setting = ("SELECT current_setting('app.scope') AS scope", {})

    async def run() -> None:
        db = Database(settings_for(database_url=world.url, api_pool_size="1"))
        await db.open()
        try:
            await db.pool.wait()
            for scope in (Scope("merchant", world.merchant), Scope("admin", None)):
                async with db.scoped_reads(scope) as conn:
                    alone = [await db.rows(conn, *payments), await db.rows(conn, *zone)]
                async with db.scoped_reads(scope) as conn:
                    together = await db.rows_together(conn, [payments, zone])
                    ((scope_after_reads,),) = await conn.read([setting], last=False)
                async with db.scoped_reads(scope) as conn:
                    last = await db.rows_together(conn, [payments, zone], last=True)
                    with pytest.raises(ReadAfterLastReadError):
                        await db.rows(conn, *zone)
                # Past the block: the Sync has ended the transaction and its scope.
                async with db.unscoped() as plain:
                    cursor = await plain.execute(setting[0])
                    (scope_after_last_reads,) = await cursor.fetchone()
                assert together == alone == last and alone[0]
                assert (scope_after_reads["scope"], scope_after_last_reads) == (scope.kind, "none")
                merchants = {row["merchant_id"] for row in together[0]}
                assert merchants == {world.merchant} or scope.kind == "admin"
            assert len(merchants) > 1  # the admin's answer is not one merchant's
            bad_zone = (zone[0], {**zone[1], "tz": "Nowhere/Zone"}, None)
            for last_read in (False, True):
                with pytest.raises(psycopg.errors.InvalidParameterValue):
                    async with db.scoped_reads(Scope("admin", None)) as conn:
                        await db.rows_together(conn, [bad_zone, payments], last=last_read)
                async with db.unscoped() as conn:
                    cursor = await conn.execute("SELECT current_setting('app.scope')")
                    assert await cursor.fetchone() == ("none",)
        finally:
            await db.close()

    asyncio.run(run())


def test_api_refuses_to_serve_through_a_role_that_bypasses_row_security(world):
    # The test server's URL logs in as a superuser: without SET ROLE nothing is isolated.
    app = create_app(settings_for(database_url=world.url, api_db_role=""), clock=lambda: NOW)
    app.state.api.db.pool_timeout = 1.0
    with TestClient(app) as client:
        response = client.get(API + "/dashboard", headers=admin(world))
        ready = client.get("/health/ready")
    assert_problem(response, 503, "ANA_SYS_002")
    assert ready.status_code == 503 and not ready.json()["database"]
    assert (
        "row-level security" in ready.json()["problems"][0]
        or "refusing" in ready.json()["problems"][0]
    )


# ------------------------------------------------------------------ every error code
@pytest.mark.parametrize(
    ("request_", "status", "code", "param"),
    [
        (("GET", "/user/usr_nobody/metrics", {}), 404, "ANA_VAL_001", "user_id"),
        (("GET", "/latency?days=0", {}), 400, "ANA_VAL_002", "days"),
        (("GET", "/revenue?interval=year", {}), 400, "ANA_VAL_002", "interval"),
        (("GET", "/revenue?limit=5000", {}), 400, "ANA_VAL_002", "limit"),
        (("GET", "/trends/year", {}), 400, "ANA_VAL_002", "period"),
        (
            ("POST", "/cashflow", {"json": {"userId": "usr_1", "interval": "hour"}}),
            400,
            "ANA_VAL_002",
            "interval",
        ),
        (("POST", "/spending/trends", {"json": {"months": 99}}), 400, "ANA_VAL_002", "body.months"),
        (("GET", "/revenue?start=2026-03-10&end=2026-03-01", {}), 400, "ANA_VAL_003", "end"),
        (("GET", "/revenue?start=yesterday", {}), 400, "ANA_VAL_003", "start"),
        (
            ("GET", "/revenue?interval=hour&start=2025-01-01&end=2026-01-01", {}),
            400,
            "ANA_VAL_003",
            "start",
        ),
        (("GET", "/dashboard?timezone=Mars/Olympus", {}), 400, "ANA_VAL_004", "timezone"),
        (("GET", "/trends/week?cursor=not-a-cursor", {}), 400, "ANA_VAL_005", "cursor"),
        (
            ("GET", "/trends/week", {"headers": {"Accept": "application/xml"}}),
            406,
            "ANA_VAL_006",
            "Accept",
        ),
        (("GET", "/nowhere", {}), 404, "ANA_VAL_007", None),
        (("DELETE", "/dashboard", {}), 405, "ANA_VAL_008", None),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_requests_get_their_stable_code_naming_the_parameter(
    world, client, request_, status, code, param
):
    method, path, extra = request_
    headers = {**admin(world), **extra.get("headers", {})}
    response = client.request(method, API + path, headers=headers, json=extra.get("json"))
    assert_problem(response, status, code, param)


def test_cursor_of_another_query_is_refused(world, client):
    first = client.get(API + "/trends/month", params={"limit": 5}, headers=admin(world)).json()
    response = client.get(
        API + "/success-rate", params={"cursor": first["nextCursor"]}, headers=admin(world)
    )
    assert_problem(response, 400, "ANA_VAL_005", "cursor")


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "ANA_AUTH_001"),
        ({"X-API-Key": "secret"}, "ANA_AUTH_002"),
        ({"X-API-Key": "ana_00000000_" + "a" * 43}, "ANA_AUTH_002"),
    ],
)
def test_missing_or_unknown_keys_are_refused(client, headers, code):
    assert_problem(client.get(API + "/dashboard", headers=headers), 401, code)


def test_internal_errors_say_nothing_of_their_cause(postgres_cluster):
    from .rollup_reference import migrated_database

    with migrated_database(postgres_cluster) as url:
        key = create_api_key(url, name="t", scope="admin")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE marts.transactions_hourly")
        app = create_app(settings_for(database_url=url), clock=lambda: NOW)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get(API + "/dashboard", headers={"X-API-Key": key})
    body = assert_problem(response, 500, "ANA_SYS_001")
    assert "transactions_hourly" not in response.text and "relation" not in response.text
    assert body["requestId"] in body["detail"]
    # One header, the one the body quotes (the observer adds it to every response).
    assert response.headers.get_list("x-request-id") == [body["requestId"]]


def test_unreachable_database_is_a_503_but_the_process_stays_live(world):
    with socket_closed() as port:
        url = f"postgresql://postgres@127.0.0.1:{port}/nowhere?connect_timeout=1"
        app = create_app(settings_for(database_url=url), clock=lambda: NOW)
        app.state.api.db.pool_timeout = 1.0
        with TestClient(app) as client:
            live = client.get("/health/live")
            response = client.get(API + "/dashboard", headers=admin(world))
            ready = client.get("/health/ready")
    assert live.status_code == 200
    body = assert_problem(response, 503, "ANA_SYS_002")
    assert response.headers["retry-after"] == "5"
    assert "nowhere" not in body["detail"]
    assert ready.status_code == 503 and ready.json()["database"] is False


def test_slow_queries_are_cut_off_with_a_503(world):
    with world.client(api_statement_timeout_ms="1") as client:
        response = client.get(
            API + "/revenue",
            params={
                "interval": "hour",
                "group_by": "merchant",
                "start": "2026-01-01",
                "end": "2026-03-18",
            },
            headers=admin(world),
        )
    assert_problem(response, 503, "ANA_SYS_003")


def socket_closed():
    import contextlib
    import socket

    @contextlib.contextmanager
    def port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            yield s.getsockname()[1]  # bound, never listening: connections are refused

    return port()
