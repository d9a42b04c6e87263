"""Per-key rate limits: a tiny budget, spent on the full path and the fast path alike,
answered with 429, Retry-After and a Prometheus count; other keys keep their own."""

from __future__ import annotations

import re

from analytics_platform.api.rate_limit import RateLimiter

from .test_api_security import API, admin, assert_problem, merchant


def test_a_key_over_its_budget_gets_429_with_retry_after_and_is_counted(world):
    # 6 a minute: one token every 10 s, so none comes back during the test.
    with world.client(api_rate_limit_per_minute="6", api_rate_limit_burst="3") as client:
        path = API + "/dashboard"
        # The first computes, the next two are the fast path's: all within the burst.
        for _ in range(3):
            assert client.get(path, headers=merchant(world)).status_code == 200
        for other in ("/dashboard", "/revenue"):  # both paths refuse it now
            response = client.get(API + other, headers=merchant(world))
            body = assert_problem(response, 429, "ANA_RATE_001")
            assert 1 <= int(response.headers["retry-after"]) <= 10
            assert "6 requests a minute" in body["detail"]
        # Another key has a budget of its own.
        assert client.get(path, headers=admin(world)).status_code == 200
        metrics = client.get("/metrics").text
    (count,) = re.findall(r'analytics_api_rate_limited_total\{scope="merchant"\} (\S+)', metrics)
    assert float(count) == 2


def test_the_bucket_refills_at_the_budget_rate_and_holds_at_most_the_burst():
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.take(1), limiter.take(1)] == [None, None]
    assert limiter.take(1) == 1
    now[0] += 1.0
    assert limiter.take(1) is None
    assert limiter.take(1) == 1
    now[0] += 3600
    assert [limiter.take(1), limiter.take(1), limiter.take(1)] == [None, None, 1]
    assert limiter.take(2) is None


def test_a_budget_of_zero_disables_the_limit():
    limiter = RateLimiter(per_minute=0, burst=1)
    assert all(limiter.take(1) is None for _ in range(10_000))
