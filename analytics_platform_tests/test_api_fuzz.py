"""Fuzzing the API from its own OpenAPI document (schemathesis + hypothesis): valid and
invalid query, path and body parameters for every operation, with an admin key and with a
merchant key, and no request gets a 5xx.

Random strings almost never hit the inputs that broke the API before (a zone database
directory such as `Europe`, `posixrules`, a 300-character zone, NUL in a body field), so
about half of the examples also plant one hostile value from HOSTILE into one of the
operation's string parameters or body fields.

Bounded: EXAMPLES per operation, mode and key (20 operations x 2 modes x 2 keys x
EXAMPLES requests, about 1,400 in all, 35-50 s here); a bigger EXAMPLES finds nothing the
planted values do not, and this test runs in every suite run."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from analytics_platform.api.app import create_app
from analytics_platform.settings import load_settings

from .api_world import NOW

EXAMPLES = 18

HOSTILE = (
    "Europe",
    "posixrules",
    "America/",
    "x" * 300,
    "UTC\x00",
    "\x00",
    "../../../../etc/passwd",
    "2026-03-01\x00",
    "y" * 5000,
    "Ω" * 70,
    "-1",
    "9" * 40,
)

# Schemathesis' own strategies draw from `random` (its business, not this test's).
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

DOCUMENT = create_app(load_settings({})).openapi()


def _string_fields(operation: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, name) of the operation's parameters and body fields that take strings."""
    fields = [
        ("path" if p["in"] == "path" else "query", p["name"])
        for p in operation.get("parameters", [])
        if p["in"] in ("query", "path")
    ]
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    if ref := body.get("schema", {}).get("$ref"):
        schema = DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[1]]
        fields += [("body", name) for name in schema.get("properties", {})]
    return fields


# The operations, from the document alone (no database needed to build it); invalid
# input only where there is input.
CASES = sorted(
    (method.upper(), path, mode, key)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    for key in ("admin", "merchant")
    if mode is GenerationMode.POSITIVE
    or operation.get("parameters")
    or operation.get("requestBody")
)


@pytest.fixture(scope="module")
def api_schema(world):
    app = create_app(world.settings, clock=lambda: NOW)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    # The app's lifespan (pool, watermark follower) ends before its database is dropped.
    asgi.shutdown_lifespans()


def _plant(case: Any, where: str, name: str, value: str) -> None:
    if where == "query":
        case.query = {**(case.query or {}), name: value}
    elif where == "path":
        case.path_parameters = {**(case.path_parameters or {}), name: value}
    elif isinstance(case.body, dict):
        case.body = {**case.body, name: value}


@pytest.mark.parametrize(("method", "path", "mode", "key"), CASES, ids=str)
def test_no_request_makes_the_api_fail(api_schema, world, method, path, mode, key):
    operation = api_schema[path][method]
    fields = _string_fields(DOCUMENT["paths"][path][method.lower()])
    planted = st.none()
    if fields:
        planted = st.one_of(st.none(), st.tuples(st.sampled_from(fields), st.sampled_from(HOSTILE)))
    api_key = world.admin_key if key == "admin" else world.merchant_key
    statuses = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode), plant=planted)
    def call(case, plant):
        if plant is not None:
            (where, name), value = plant
            _plant(case, where, name, value)
        response = case.call_and_validate(
            headers={"X-API-Key": api_key}, checks=[not_a_server_error]
        )
        statuses.append(response.status_code)

    call()
    assert statuses and max(statuses) < 500
