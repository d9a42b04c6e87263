"""The session settings every connection of the platform runs with (SESSION_OPTIONS).

JIT: where the server has LLVM (PostgreSQL's default, the TimescaleDB image) the planner's
1,000-row guess for generate_series puts a rollup over 30 rows above jit_above_cost, and a
daily rollup spent 4.3 of its 4.4 s compiling. The embedded server has no LLVM, so these
tests look at what would decide it (the session's `jit` and the plan's cost); against a
server with JIT (DATABASE_URL) the plan's own JIT section is checked too.
"""

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql

from analytics_platform.api.db import Database
from analytics_platform.migrations import migrate
from analytics_platform.resources.warehouse import connect
from analytics_platform.rollups.families import MARTS, Grain
from analytics_platform.rollups.runner import mart_identifier, render, window_params
from analytics_platform.settings import Settings

from .conftest import settings_for


@pytest.fixture
def migrated(empty_database_url: str) -> Iterator[Settings]:
    settings = settings_for(database_url=empty_database_url)
    migrate(settings)
    yield settings


async def _api_session_jit(settings: Settings) -> str:
    database = Database(settings)
    await database.open()
    try:
        async with database.unscoped() as conn:
            cursor = await conn.execute("SHOW jit")
            row = await cursor.fetchone()
            assert row is not None
            return str(row[0])
    finally:
        await database.close()


def test_platform_and_api_sessions_run_without_jit(migrated):
    with connect(migrated.database_url) as conn:
        assert conn.execute("SHOW jit").fetchone() == ("off",)
    assert asyncio.run(_api_session_jit(migrated)) == "off"


@pytest.mark.parametrize("mart", [m for m in MARTS if m.grain is Grain.DAILY], ids=lambda m: m.name)
def test_a_daily_rollup_plan_is_never_jit_compiled_in_a_platform_session(migrated, mart):
    day = datetime(2024, 5, 10, tzinfo=UTC)
    params = window_params(mart, day, day + timedelta(days=1), "UTC")
    statement = render(
        mart.sql_file, table=mart_identifier(mart), grain=sql.Literal(mart.grain.unit)
    )
    with connect(migrated.database_url) as conn:
        (plans,) = conn.execute(
            sql.SQL("EXPLAIN (FORMAT JSON) {}").format(statement), params
        ).fetchone()
        (jit,) = conn.execute("SHOW jit").fetchone()
        (threshold,) = conn.execute("SELECT current_setting('jit_above_cost')::float").fetchone()
        conn.rollback()
    plan = plans[0] if isinstance(plans, list) else json.loads(plans)[0]
    would_compile = jit == "on" and threshold >= 0 and plan["Plan"]["Total Cost"] > threshold
    assert not would_compile, (
        f"{mart.name}: plan cost {plan['Plan']['Total Cost']:.0f} > jit_above_cost {threshold:.0f}"
    )
    assert "JIT" not in plan
