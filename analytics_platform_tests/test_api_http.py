"""HTTP behaviour of the API: conditional requests and caching headers, health, metrics,
structured logs, the OpenAPI document, and the `analytics-platform api` command."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from analytics_platform.api.cache import (
    MEMO_TRUST_SECONDS,
    FreshnessMemo,
    Rendered,
    ResponseCache,
    Watermarks,
)
from analytics_platform.api.db import Database
from analytics_platform.api.fast_path import Shortcut, Shortcuts
from analytics_platform.api.keys import Scope
from analytics_platform.api.observability import (
    JsonFormatter,
    _json_stream_handlers,
    access_log,
    write_access_line,
)
from analytics_platform.api.queries.common import Ask, Subject
from analytics_platform.resources.warehouse import connect, read_sql
from analytics_platform.rollups.families import TRANSACTIONS, Grain, Mart
from analytics_platform.rollups.runner import materialize_window

from .api_world import MARTS_HOURS_UNTIL, NOW, TODAY
from .conftest import settings_for

API = "/api/v1/analytics"
UTC_ZONE = ZoneInfo("UTC")


# ------------------------------------------------------------------ caching
def test_matching_etag_gets_304_and_any_other_gets_the_body(client):
    first = client.get(API + "/dashboard")
    etag = first.headers["etag"]
    assert client.get(API + "/dashboard").headers["etag"] == etag
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(API + "/dashboard", headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "private, max-age=300"
    changed = client.get(API + "/dashboard", headers={"If-None-Match": '"stale"'})
    assert changed.status_code == 200 and changed.json() == first.json()


def test_a_raw_batch_committing_after_a_later_one_still_moves_the_watermarks(settings):
    # Batch A's transaction starts first and commits last: its ingestion time is older
    # than the one the cache already saw, yet its rows must invalidate realtime answers.
    record = read_sql("ingest/record_touched_hours.sql")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def batch(conn: psycopg.Connection) -> None:
        conn.execute(
            record,
            {
                "raw_table": "raw.transactions",
                "hour_starts": [hour],
                "rows": [10],
                "max_occurred_ats": [hour],
            },
        )

    async def read(marks: Watermarks) -> int:
        db = Database(settings)
        await db.open()
        try:
            await marks.refresh(db)
        finally:
            await db.close()
        return marks.version

    marks = Watermarks()
    with psycopg.connect(settings.database_url) as a, psycopg.connect(settings.database_url) as b:
        a.execute("SELECT now()")  # A's transaction starts here
        time.sleep(0.01)
        batch(b)
        b.commit()
        seen = asyncio.run(read(marks))
        (shown,) = marks.of(["raw.transactions"])
        batch(a)
        a.commit()
    assert asyncio.run(read(marks)) == seen + 1
    (now_shown,) = marks.of(["raw.transactions"])
    assert now_shown == (shown[0], 20)  # the newest time did not move; the rows did


def test_last_modified_is_the_newest_materialization_read(world, client):
    response = client.get(API + "/trends/week")
    (newest,) = world.query(
        "SELECT max(materialized_at) AS at FROM marts.rollup_buckets "
        "WHERE mart = 'transactions_daily' AND bucket_start >= %s AND bucket_start < %s",
        (TODAY - timedelta(days=7), TODAY),
    )
    last_modified = parsedate_to_datetime(response.headers["last-modified"])
    assert last_modified == newest["at"].replace(microsecond=0)
    since = client.get(
        API + "/trends/week", headers={"If-Modified-Since": response.headers["last-modified"]}
    )
    assert since.status_code == 304


def test_a_new_materialization_changes_etag_and_last_modified(world):
    with world.client() as client:
        client.headers["X-API-Key"] = world.admin_key
        before = client.get(API + "/dashboard")
        hour = MARTS_HOURS_UNTIL - timedelta(hours=1)
        with connect(world.url, autocommit=True) as conn:
            materialize_window(
                conn, Mart(TRANSACTIONS, Grain.HOURLY), hour, hour + timedelta(hours=1), "UTC"
            )
        deadline = time.monotonic() + 10
        while True:
            after = client.get(
                API + "/dashboard", headers={"If-None-Match": before.headers["etag"]}
            )
            if after.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert after.status_code == 200, "the cached dashboard outlived the materialization"
    assert after.headers["etag"] != before.headers["etag"]
    assert parsedate_to_datetime(after.headers["last-modified"]) > parsedate_to_datetime(
        before.headers["last-modified"]
    )
    assert after.json() == before.json()  # same rows, recomputed


def test_a_freshness_reading_is_shared_until_its_marts_move():
    hourly, daily = "transactions_hourly", "transactions_daily"
    marks = Watermarks()
    marks.update({hourly: (NOW, None), daily: (NOW, None)})
    memo = FreshnessMemo(marks)
    memo.put("today", memo.seen([hourly]), "reading")
    assert memo.get("today", [hourly]) == "reading"
    marks.update({hourly: (NOW, None), daily: (NOW + timedelta(seconds=1), None)})
    assert memo.get("today", [hourly]) == "reading"  # another mart moved
    marks.update({hourly: (NOW + timedelta(seconds=1), None), daily: (NOW, None)})
    assert memo.get("today", [hourly]) is None
    # Sources the watermarks do not follow, or watermarks not read lately, vouch for nothing.
    assert memo.seen(["a_mart_nobody_follows"]) is None
    memo.put("today", memo.seen([hourly]), "reading")
    marks.read_at -= MEMO_TRUST_SECONDS + 1
    assert memo.seen([hourly]) is None
    assert memo.get("today", [hourly]) is None


def test_a_read_shared_across_subjects_is_reread_once_its_mart_moves(world):
    """Realtime's tail start (the first hour of today without an hourly bucket) is the
    same for every key: read once per materialization of the hourly mart, not per
    answer. Asked again with other parameters under the same key, the memo answers while
    the mart's watermark holds, and the database once it moves."""
    hourly = "transactions_hourly"
    marks = Watermarks()
    marks.update({hourly: (NOW, None)})
    memo = FreshnessMemo(marks)

    def tail_query(hour: datetime) -> tuple[str, dict, None]:
        params = {"tz": "UTC", "today_start": TODAY, "hour_start": hour}
        return ("api/tail_start.sql", params, None)

    async def tail_start(db: Database, merchant: str, hour: datetime) -> datetime:
        async with db.scoped_reads(Scope("merchant", merchant)) as conn:
            ask = Ask(db, conn, Subject(merchant), UTC_ZONE, UTC_ZONE, NOW, memo)
            (row,) = await ask.shared_rows("tail", [hourly], tail_query(hour))
            return row["tail_start"]

    async def run() -> tuple[datetime, datetime, datetime]:
        db = Database(settings_for(database_url=world.url))
        await db.open()
        try:
            await db.pool.wait()
            # Hours past the marts: the tail starts where the marts end.
            first = await tail_start(db, world.merchant, MARTS_HOURS_UNTIL + timedelta(hours=2))
            # Another merchant, and an earlier hour_start, whose own reading would be
            # that hour (every hour before it has its bucket): the memo's reading.
            early = TODAY + timedelta(hours=3)
            held = await tail_start(db, world.other_merchant, early)
            marks.update({hourly: (NOW + timedelta(seconds=1), None)})
            moved = await tail_start(db, world.other_merchant, early)
            return first, held, moved
        finally:
            await db.close()

    first, held, moved = asyncio.run(run())
    assert first == held == MARTS_HOURS_UNTIL
    assert moved == TODAY + timedelta(hours=3)


@pytest.mark.parametrize(
    ("path", "max_age"),
    [
        ("/realtime", 30),
        ("/dashboard", 300),
        ("/trends/today", 300),
        ("/peak-times", 300),
        ("/trends/week", 1800),
        ("/success-rate", 1800),
        ("/latency", 1800),
        ("/webhook-metrics", 1800),
        ("/revenue?interval=hour", 300),
        ("/revenue?interval=day", 1800),
        ("/revenue?interval=week", 3600),
        ("/revenue?interval=month", 3600),
        ("/users/active?grain=week", 3600),
        ("/users/funnel?interval=month", 3600),
    ],
)
def test_cache_control_max_age_follows_the_grain(client, path, max_age):
    response = client.get(API + path)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == f"private, max-age={max_age}"
    assert response.headers["vary"] == "X-API-Key, Accept"


def test_keys_of_different_scopes_never_share_a_cached_answer(world, client):
    as_admin = client.get(API + "/dashboard")
    as_merchant = client.get(API + "/dashboard", headers={"X-API-Key": world.merchant_key})
    assert as_admin.headers["etag"] != as_merchant.headers["etag"]
    assert as_admin.json()["transactions"] != as_merchant.json()["transactions"]
    again = client.get(API + "/dashboard", headers={"X-API-Key": world.merchant_key})
    assert again.json() == as_merchant.json()


def test_answers_from_the_cache_equal_fresh_ones(world, client):
    with world.client() as fresh:
        fresh.headers["X-API-Key"] = world.admin_key
        for path in ("/realtime", "/failures?days=3", "/revenue?group_by=category&limit=7"):
            client.get(API + path)
            cached = client.get(API + path)
            assert cached.json() == fresh.get(API + path).json(), path


# ------------------------------------------------------------------ operations
def test_health_live_and_ready(world, client):
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["lag_minutes"] == (NOW - MARTS_HOURS_UNTIL).total_seconds() / 60


def test_ready_fails_when_the_newest_hourly_rollup_is_too_old(world):
    from fastapi.testclient import TestClient

    from analytics_platform.api.app import create_app

    app = create_app(world.settings, clock=lambda: NOW + timedelta(hours=5))
    with TestClient(app) as client:
        ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["database"] is True
    assert "minutes ago (limit 180)" in ready.json()["problems"][0]


def test_metrics_count_requests_and_latency_by_route_and_status(client):
    client.get(API + "/latency?days=2")
    client.get(API + "/latency?days=2")
    client.get(API + "/latency?days=0")
    client.get(API + "/user/usr_zzz/metrics")
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert (
        'analytics_api_requests_total{method="GET",route="/api/v1/analytics/latency",status="200"}'
        in text
    )
    assert (
        'analytics_api_requests_total{method="GET",route="/api/v1/analytics/latency",status="400"}'
        in text
    )
    assert 'route="/api/v1/analytics/user/{user_id}/metrics",status="404"' in text
    assert 'analytics_api_requests_total{method="GET",route="unmatched",status="404"}' in text
    assert (
        'analytics_api_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/analytics/latency",status="200"}'
        in text
    )


def _cache_hits(client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('analytics_api_response_cache_total{result="hit"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_answers_repeated_from_the_cache_are_counted_as_hits(client):
    # The repeats are answered in front of FastAPI (fast_path.py): counted all the same.
    before = _cache_hits(client)
    for _ in range(3):
        assert client.get(API + "/latency?days=3").status_code == 200
    assert _cache_hits(client) - before >= 2


def test_every_request_logs_one_json_line_with_its_request_id(world, client):
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(JsonFormatter().format(record))

    logger = logging.getLogger("analytics_platform.api.access")
    handler = Collect()
    logger.addHandler(handler)
    try:
        response = client.get(API + "/trends/today", headers={"X-Request-ID": "req-42"})
        generated = client.get(API + "/trends/today")
    finally:
        logger.removeHandler(handler)
    assert response.headers["x-request-id"] == "req-42"
    first, second = (json.loads(line) for line in lines)
    assert first["request_id"] == "req-42"
    assert first["route"] == "/api/v1/analytics/trends/{period}"
    assert first["status"] == 200 and first["level"] == "info" and first["duration_ms"] > 0
    assert first["key"] == world.admin_key.split("_")[1]
    assert second["request_id"] == generated.headers["x-request-id"] != "req-42"


def test_access_lines_written_directly_are_the_lines_logging_writes():
    """The observer writes its access line without a LogRecord when only the JSON stream
    handler listens: the line must be the one `logging` and JsonFormatter write, key for
    key and in the same order (its time aside); with any other handler or a filter it
    goes through `logging`."""
    fields = {
        "request_id": "req-1",
        "method": "GET",
        "path": "/api/v1/analytics/dashboard",
        "route": "/api/v1/analytics/dashboard",
        "status": 200,
        "duration_ms": 0.125,
        "key": "ab12cd34",
        "cache": None,
    }
    api_logger = logging.getLogger("analytics_platform.api")
    saved = api_logger.handlers[:], api_logger.propagate, api_logger.level
    direct, through_logging = io.StringIO(), io.StringIO()
    try:
        for stream, write in (
            (direct, lambda: write_access_line(fields)),
            (through_logging, lambda: access_log.info("request", extra=fields)),
        ):
            handler = logging.StreamHandler(stream)
            handler.setFormatter(JsonFormatter())
            api_logger.handlers[:] = [handler]
            api_logger.propagate = False
            api_logger.setLevel("INFO")
            assert _json_stream_handlers() == [handler]
            write()
        time_field = re.compile(r'"ts":"[^"]+"')
        assert direct.getvalue().endswith("\n") and direct.getvalue().count("\n") == 1
        assert time_field.sub("", direct.getvalue()) == time_field.sub(
            "", through_logging.getvalue()
        )
        # Anything else listening: through logging, so it sees a record.
        handler.addFilter(lambda record: True)
        assert _json_stream_handlers() is None
        seen: list[logging.LogRecord] = []
        handler.filters.clear()
        collect = logging.Handler()
        collect.emit = seen.append  # type: ignore[method-assign]
        access_log.addHandler(collect)
        try:
            write_access_line(fields)
        finally:
            access_log.removeHandler(collect)
        assert [r.request_id for r in seen] == ["req-1"]  # type: ignore[attr-defined]
    finally:
        api_logger.handlers[:], api_logger.propagate = saved[0], saved[1]
        api_logger.setLevel(saved[2])


# ------------------------------------------------------------------ OpenAPI
def test_openapi_documents_every_parameter_and_response(client):
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {s["name"] for s in schemes.values()} == {"X-API-Key"}
    operations = [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if path.startswith(API)
    ]
    # 14 + cohort and retention (customers) + monthly report and transaction export
    # + a user's recommendations and dismissing one
    assert len(operations) == 20
    # The transaction export streams CSV or JSON lines, not one JSON document: its
    # formats are checked in test_reports.py.
    operations = [o for o in operations if not o[0].endswith("/exports/transactions")]
    for path, method, op in operations:
        for parameter in op.get("parameters", []):
            if parameter["in"] == "header":
                continue
            assert parameter.get("description"), f"{method} {path}: {parameter['name']}"
        success = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in success, f"{method} {path}"
        assert {"400", "401", "500", "503"} <= set(op["responses"]), f"{method} {path}"
        problem = op["responses"]["401"]["content"]["application/problem+json"]["schema"]
        assert problem["$ref"].endswith("/Problem")
    schemas = spec["components"]["schemas"]

    def has_examples(name, seen=()):
        schema = schemas[name]
        if "examples" in schema or name in seen:
            return True
        for field, prop in schema.get("properties", {}).items():
            ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
            if ref:
                assert has_examples(ref.rsplit("/", 1)[1], (*seen, name)), f"{name}.{field}"
            elif "datetime" not in json.dumps(prop) and "date-time" not in json.dumps(prop):
                assert "examples" in prop, f"{name}.{field}"
        return True

    for *_, op in operations:
        ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert has_examples(ref.rsplit("/", 1)[1])


# ------------------------------------------------------------------ the command
@pytest.mark.slow
def test_api_command_serves_the_app_with_uvicorn(world, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": world.url, "API_PORT": str(port)}
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "analytics_platform.cli", "api"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[1],
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                assert urllib.request.urlopen(f"{base}/health/live", timeout=2).status == 200
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        assert urllib.request.urlopen(f"{base}/docs", timeout=5).status == 200
        request = urllib.request.Request(
            f"{base}{API}/success-rate?days=366", headers={"X-API-Key": world.admin_key}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            # The real clock: the world's days are in the last year.
            assert len(json.loads(response.read())["items"]) > 40
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    output = log.read_text()
    assert f"docs: http://127.0.0.1:{port}/docs" in output
    access = [
        json.loads(line)
        for line in output.splitlines()
        if '"analytics_platform.api.access"' in line
    ]
    assert {entry["route"] for entry in access} == {"/health/live", "/docs", API + "/success-rate"}


def test_response_examples_are_valid_responses():
    import inspect

    from analytics_platform.api import schemas

    checked = 0
    for model in vars(schemas).values():
        if inspect.isclass(model) and issubclass(model, schemas.ApiModel):
            extra = model.model_config.get("json_schema_extra")
            for example in extra.get("examples", []) if isinstance(extra, dict) else []:
                model.model_validate(example)
                checked += 1
    assert checked >= 2


def test_answers_the_fast_path_repeats_stay_cached_longest():
    cache = ResponseCache(Watermarks(), max_entries=2)
    shortcuts = Shortcuts(max_entries=2)
    later = datetime(2100, 1, 1, tzinfo=UTC)

    async def fill(key: str) -> None:
        async def render() -> Rendered:
            return Rendered(key.encode(), "application/json", f'"{key}"', None, {})

        await cache.get(key, (), render)
        shortcuts.remember((key, b"", b"k", b""), Shortcut(key, "/x", later))

    async def scenario() -> None:
        await fill("hot")
        await fill("a")
        # The fast path repeats "hot", then a new answer arrives: "a" goes, not "hot".
        assert shortcuts.get(("hot", b"", b"k", b"")) is not None
        assert cache.peek("hot") is not None
        await fill("b")

    asyncio.run(scenario())
    assert cache.peek("hot") is not None and cache.peek("a") is None
    assert shortcuts.get(("hot", b"", b"k", b"")) is not None
    assert shortcuts.get(("a", b"", b"k", b"")) is None
