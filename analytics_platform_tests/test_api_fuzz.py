"""Fuzzing the API from its own OpenAPI document (schemathesis + hypothesis): valid and
invalid parameters, bodies and headers for every operation, and no request gets a 5xx.
Bounded: EXAMPLES per operation and mode, a few hundred requests in all."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from analytics_platform.api.app import create_app
from analytics_platform.settings import load_settings

from .api_world import NOW

EXAMPLES = 10

# Schemathesis' own strategies draw from `random` (its business, not this test's).
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

# The operations, from the document alone (no database needed to build it); invalid
# input only where there is input.
CASES = sorted(
    (method.upper(), path, mode)
    for path, item in create_app(load_settings({})).openapi()["paths"].items()
    for method, operation in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
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


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=str)
def test_no_request_makes_the_api_fail(api_schema, world, method, path, mode):
    operation = api_schema[path][method]
    requests = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case):
        response = case.call_and_validate(
            headers={"X-API-Key": world.admin_key}, checks=[not_a_server_error]
        )
        requests.append(response.status_code)

    call()
    assert requests and max(requests) < 500
