"""The data routes answered without FastAPI's dependency solving (lean_routes.py) give
the same bytes as FastAPI's path: status, headers and body, for valid requests, for
every kind of error, with admin and merchant keys, windows, zones, pages and formats."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from analytics_platform.api.app import ApiApp, create_app

from .api_world import NOW, TODAY

API = "/api/v1/analytics"
ZONES = ["UTC", "Asia/Jakarta", "America/New_York", "Europe", "posixrules", "Nowhere/City"]
ENDPOINTS = [
    "realtime",
    "dashboard",
    "trends/today",
    "trends/week",
    "trends/month",
    "peak-times",
    "success-rate",
    "failures",
    "latency",
    "webhook-metrics",
    "revenue",
]


@pytest.fixture(scope="module")
def clients(world) -> Iterator[tuple[TestClient, TestClient]]:
    """The same app with the lean routes (as served) and without (FastAPI for all)."""
    lean = create_app(world.settings, clock=lambda: NOW)
    full = create_app(world.settings, clock=lambda: NOW, lean_routes=False)
    with TestClient(lean) as lean_client, TestClient(full) as full_client:
        for client in (lean_client, full_client):
            for key in (world.admin_key, world.merchant_key):
                # Each app checks the keys against the database once here.
                client.get(f"{API}/dashboard?timezone=Etc/GMT-3", headers={"X-API-Key": key})
        yield lean_client, full_client


def _day(offset: int) -> str:
    return (TODAY - timedelta(days=offset)).date().isoformat()


def _sampled(world, rng: random.Random) -> tuple[str, str]:
    """A request of the kind the mix sends, sometimes with an invalid part."""
    endpoint = rng.choice(ENDPOINTS)
    params: list[tuple[str, str]] = []
    if rng.random() < 0.8:
        params.append(("timezone", rng.choice(ZONES)))
    windowed = endpoint in ("peak-times", "success-rate", "failures", "latency", "revenue")
    if windowed and rng.random() < 0.5 and endpoint != "revenue":
        params.append(("days", rng.choice(["1", "7", "30", "366", "0", "367", "07", "x"])))
    elif windowed:
        start = rng.randint(1, 45)
        params += [("start", _day(start)), ("end", _day(start - rng.randint(-3, 20)))]
    if endpoint == "revenue":
        params.append(("interval", rng.choice(["hour", "day", "week", "month", "year"])))
        if rng.random() < 0.3:
            params.append(("group_by", rng.choice(["merchant", "category", "payment_method"])))
    if rng.random() < 0.3:
        params.append(("merchant_id", rng.choice([world.merchant, world.other_merchant, ""])))
    if rng.random() < 0.3 and endpoint not in ("dashboard", "peak-times", "failures"):
        params.append(("limit", rng.choice(["1", "2", "100", "0", "1001"])))
    if rng.random() < 0.15:
        params.append(("format", rng.choice(["csv", "json", "xml"])))
    if rng.random() < 0.05:
        params.append(("timezone", "UTC"))  # repeated
    rng.shuffle(params)
    key = world.admin_key if rng.random() < 0.4 else world.merchant_key
    return f"{API}/{endpoint}?" + "&".join(f"{k}={quote(v)}" for k, v in params), key


def _edge_cases(world) -> list[tuple[str, dict[str, str]]]:
    admin = {"X-API-Key": world.admin_key}
    merchant = {"X-API-Key": world.merchant_key}
    csv = {"X-API-Key": world.merchant_key, "Accept": "text/csv"}
    return [
        (f"{API}/trends/year", merchant),
        (f"{API}/dashboard?merchant_id=", merchant),
        (f"{API}/latency?days=7&merchant_id=", admin),
        (f"{API}/trends/week?unknown=1", merchant),
        (f"{API}/latency?days=%00", merchant),
        (f"{API}/latency?timezone=UTC%00", merchant),
        (f"{API}/latency?days=", merchant),
        (f"{API}/latency?days=7&start={_day(9)}", merchant),
        (f"{API}/revenue?start=yesterday", merchant),
        (f"{API}/revenue?start={_day(1)}&end={_day(5)}", merchant),
        (f"{API}/revenue?timezone=" + "x" * 70, merchant),
        (f"{API}/revenue?merchant_id=" + "m" * 201, admin),
        (f"{API}/revenue?cursor=not-a-cursor", merchant),
        (f"{API}/revenue?cursor=" + "c" * 600, merchant),
        (f"{API}/success-rate?format=csv&limit=3", merchant),
        (f"{API}/success-rate?days=20", csv),
        (f"{API}/dashboard", csv),
        (f"{API}/latency?days=7", {**merchant, "Accept": "image/png"}),
        (f"{API}/failures?days=14", {"X-API-Key": "ak_unknown.key"}),
        (f"{API}/failures?days=14", {}),
        (f"{API}/failures?days=14", {**merchant, "If-None-Match": "*"}),
        (f"{API}/failures?days=15", {**merchant, "If-Modified-Since": "Wed, 18 Mar 2026"}),
        (f"{API}/peak-times?days=5", {**merchant, "X-Request-ID": "not valid!"}),
    ]


def _compare(lean: TestClient, full: TestClient, path: str, headers: dict[str, str]) -> str:
    # The same request id, so the problem documents' requestId agree.
    headers = {"X-Request-ID": "lean-or-full", **headers}
    answers = [client.get(path, headers=headers) for client in (lean, full)]
    lean_answer, full_answer = answers
    assert lean_answer.status_code == full_answer.status_code, (path, lean_answer.text)
    # A request id that is not valid is replaced by a new one on either path.
    lean_headers, full_headers = (
        [
            (k, v)
            for k, v in a.headers.items()
            if headers["X-Request-ID"] == "lean-or-full" or k != "x-request-id"
        ]
        for a in answers
    )
    assert lean_headers == full_headers, path
    assert lean_answer.content == full_answer.content, path
    return str(lean_answer.status_code)


def test_lean_routes_answer_byte_for_byte_what_fastapi_answers(world, clients):
    lean, full = clients
    lean_app = lean.app
    assert isinstance(lean_app, ApiApp) and lean_app.lean is not None
    before = lean_app.lean.answered
    statuses: dict[str, int] = {}
    rng = random.Random(12)
    requests = [_sampled(world, rng) for _ in range(160)]
    for path, key in requests:
        status = _compare(lean, full, path, {"X-API-Key": key})
        statuses[status] = statuses.get(status, 0) + 1
    for path, headers in _edge_cases(world):
        status = _compare(lean, full, path, headers)
        statuses[status] = statuses.get(status, 0) + 1
    # Pages: follow the next links of small pages on both.
    for endpoint, query in (("revenue", "interval=day&limit=2"), ("trends/month", "limit=3")):
        response = lean.get(f"{API}/{endpoint}?{query}", headers={"X-API-Key": world.merchant_key})
        for _ in range(3):
            path = f"{API}/{endpoint}?{query}&cursor={quote(response.json()['nextCursor'])}"
            _compare(lean, full, path, {"X-API-Key": world.merchant_key})
            response = lean.get(path, headers={"X-API-Key": world.merchant_key})
    # The comparison covered answers and errors, and most went the lean way.
    assert statuses.get("200", 0) > 50 and statuses.get("400", 0) > 10, statuses
    assert {"403", "406", "401", "304"} <= set(statuses), statuses
    assert lean_app.lean.answered - before > 100


def test_a_key_not_checked_lately_is_checked_and_answered_the_lean_way(world):
    """A valid request with a key's first use (or its first after an idle spell longer
    than API_KEY_CACHE_SECONDS) is answered without FastAPI, with the same bytes."""
    lean_app = create_app(world.settings, clock=lambda: NOW)
    full_app = create_app(world.settings, clock=lambda: NOW, lean_routes=False)
    with TestClient(lean_app) as lean, TestClient(full_app) as full:
        assert lean_app.lean is not None
        for key in (world.admin_key, world.merchant_key):
            before = lean_app.lean.answered
            _compare(lean, full, f"{API}/latency?days=7&timezone=Europe/Paris", {"X-API-Key": key})
            assert lean_app.lean.answered == before + 1
        # An unknown key is still refused by FastAPI's path, and the same way.
        unknown = world.merchant_key[:-4] + "0000"
        before = lean_app.lean.answered
        assert _compare(lean, full, f"{API}/latency?days=7", {"X-API-Key": unknown}) == "401"
        assert lean_app.lean.answered == before
