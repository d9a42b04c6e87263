"""Input a careful or hostile client sends: time zone names either library would choke on,
NUL in bodies, several keys, malformed JSON, overlong parameters, Accept headers the
endpoint cannot serve. Each gets a 4xx problem document with its stable code, never a
500 (which would also close the keep-alive connection)."""

from __future__ import annotations

import pytest

from .test_api_security import API, admin, assert_problem, merchant

# Names the zone databases treat differently: a directory of the zone database, a file
# PostgreSQL refuses, a name too long for the file system, names of neither.
BAD_ZONES = ["Europe", "America", "posixrules", "Europe/", "x" * 300, "../../etc/passwd", " UTC"]

# The GET endpoints a merchant key reaches that take `timezone`.
MERCHANT_ENDPOINTS = [
    "/realtime",
    "/dashboard",
    "/trends/week",
    "/peak-times",
    "/success-rate",
    "/failures",
    "/latency",
    "/webhook-metrics",
    "/revenue",
]


@pytest.fixture(scope="module")
def client(world):
    with world.client() as test_client:
        yield test_client


@pytest.mark.parametrize("zone", BAD_ZONES, ids=lambda z: z[:20])
@pytest.mark.parametrize("path", MERCHANT_ENDPOINTS)
def test_a_zone_not_known_to_both_python_and_postgres_is_a_400(world, client, path, zone):
    response = client.get(API + path, params={"timezone": zone}, headers=merchant(world))
    if len(zone) > 64:  # the declared maxLength refuses it first
        assert_problem(response, 400, "ANA_VAL_002", "timezone")
    else:
        assert_problem(response, 400, "ANA_VAL_004", "timezone")


@pytest.mark.parametrize("zone", BAD_ZONES, ids=lambda z: z[:20])
@pytest.mark.parametrize("path", ["/cashflow", "/spending/trends"])
def test_a_bad_zone_in_a_post_body_is_a_400(world, client, path, zone):
    response = client.post(API + path, json={"timezone": zone}, headers=admin(world))
    assert_problem(response, 400, "ANA_VAL_004", "timezone")


def test_zones_both_libraries_know_are_accepted(world, client):
    for zone in ("UTC", "Asia/Jakarta", "America/Argentina/Buenos_Aires", "Etc/GMT+5"):
        response = client.get(
            API + "/dashboard", params={"timezone": zone}, headers=merchant(world)
        )
        assert response.status_code == 200, (zone, response.text)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"userId": "usr\x001"}, "body.userId"),
        ({"start": "2026-03-01\x00"}, "body.start"),
        ({"timezone": "UTC\x00"}, "body.timezone"),
        ({"cursor": "\x00"}, "body.cursor"),
    ],
)
def test_nul_anywhere_in_a_post_body_is_a_400_naming_the_field(world, client, body, field):
    response = client.post(API + "/cashflow", json=body, headers=admin(world))
    assert_problem(response, 400, "ANA_VAL_002", field)
    response = client.post(API + "/spending/trends", json=body, headers=admin(world))
    assert response.status_code == 400, response.text


def test_two_api_keys_are_refused_on_the_full_and_the_fast_path(world, client):
    path = API + "/dashboard"
    assert client.get(path, headers=merchant(world)).status_code == 200
    # The same request again is answered by the fast path; with a second key it must not.
    assert client.get(path, headers=merchant(world)).status_code == 200
    for keys in (
        [world.merchant_key, world.admin_key],
        [world.admin_key, world.merchant_key],
        [world.merchant_key, world.merchant_key],
    ):
        response = client.get(path, headers=[("X-API-Key", k) for k in keys])
        assert_problem(response, 400, "ANA_AUTH_004")
        response = client.get(
            API + "/revenue", params={"days": "x"}, headers=[("X-API-Key", k) for k in keys]
        )
        assert response.status_code == 400


def test_dashboard_without_a_csv_export_answers_406_to_accept_csv(world, client):
    for path in ("/dashboard", "/realtime", "/peak-times", "/failures", "/webhook-metrics"):
        response = client.get(API + path, headers={**merchant(world), "Accept": "text/csv"})
        assert_problem(response, 406, "ANA_VAL_006", "Accept")
        both = {**merchant(world), "Accept": "text/csv, application/json;q=0.5"}
        assert client.get(API + path, headers=both).status_code == 200


def test_dashboard_counts_are_whole_numbers(world, client):
    response = client.get(API + "/dashboard", headers=admin(world))
    assert response.status_code == 200
    for change in response.json()["transactions"].values():
        for name in ("current", "previous", "change"):
            assert type(change[name]) is int, (name, change)


def test_a_malformed_json_body_says_so(world, client):
    response = client.post(
        API + "/cashflow",
        content=b'{"userId": "usr_1"',
        headers={**admin(world), "Content-Type": "application/json"},
    )
    body = assert_problem(response, 400, "ANA_VAL_002", "body")
    assert body["detail"].startswith("body: request body is not valid JSON: ")
    assert "JSON decode error" not in body["detail"]


def test_an_overlong_parameter_is_not_echoed_whole(world, client):
    response = client.get(
        API + "/revenue", params={"start": "x" * 60, "pad": "y" * 5000}, headers=admin(world)
    )
    body = assert_problem(response, 400, "ANA_VAL_003", "start")
    assert len(body["instance"]) <= 600
    assert len(response.text) < 2000
    # A body field has no declared maximum; its echo in the detail is cut all the same.
    response = client.post(
        API + "/cashflow", json={"start": "2026" + "x" * 5000}, headers=admin(world)
    )
    body = assert_problem(response, 400, "ANA_VAL_003", "start")
    assert len(body["detail"]) <= 300
    assert len(response.text) < 2000
