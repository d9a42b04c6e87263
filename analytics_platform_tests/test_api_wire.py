"""api/wire.py: a `scoped_reads` block's reads sent through libpq's pipeline mode
directly. The values are a psycopg cursor's, statements are prepared once per connection
and parameter types, errors are psycopg's, and a connection left in an unknown state is
not given back to the pool."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from analytics_platform.api.db import Database
from analytics_platform.api.keys import Scope
from analytics_platform.api.wire import UnsupportedPlaceholderError, statement

from .api_world import NOW
from .conftest import settings_for

ADMIN = Scope("admin", None)

# Each type a query file returns, from parameters of each type it passes.
TYPES = (
    "SELECT %(amount)s::numeric(18, 2) AS amount, %(count)s::bigint AS count, "
    "%(small)s AS small, %(at)s::timestamptz AS at, %(day)s::date AS day, "
    "%(names)s::text[] AS names, %(ats)s::timestamptz[] AS ats, %(flag)s AS flag, "
    "%(nothing)s::text AS nothing, %(ratio)s::float8 AS ratio, "
    "jsonb_build_object('a', %(count)s::bigint) AS doc, interval '90 minutes' AS span, "
    "'50%%' AS percent, %(count)s::bigint + 1 AS again"
)
PARAMS: dict[str, Any] = {
    "amount": Decimal("12.30"),
    "count": 2**40,
    "small": 7,
    "at": datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    "day": date(2026, 2, 28),
    "names": ["a", "b c", ""],
    "ats": [datetime(2026, 1, 1, tzinfo=UTC)],
    "flag": True,
    "nothing": None,
    "ratio": 0.1,
}


def _database(world: Any) -> Database:
    return Database(settings_for(database_url=world.url, api_pool_size="1"))


async def _cursor_rows(db: Database, text: str, params: dict[str, Any]) -> list[dict]:
    async with db.unscoped() as conn, conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(text, params)  # type: ignore[arg-type]
        return await cursor.fetchall()


async def _prepared(db: Database) -> list[str]:
    async with db.unscoped() as conn:
        cursor = await conn.execute(
            "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'ap\\_%' ORDER BY name"
        )
        return [row[0] for row in await cursor.fetchall()]


def test_placeholders_become_numbered_parameters_once_each():
    converted = statement("SELECT %(a)s, %(b)s, %(a)s, '5%%' WHERE x LIKE 'y%%'")
    assert converted.text == b"SELECT $1, $2, $1, '5%' WHERE x LIKE 'y%'"
    assert converted.names == ("a", "b")
    for bad in ("SELECT 5 % 2", "SELECT %s", "SELECT %(a)b"):
        with pytest.raises(UnsupportedPlaceholderError):
            statement(bad)


def test_wire_rows_are_the_cursors_rows_and_statements_are_prepared_once(world):
    async def run() -> None:
        db = _database(world)
        await db.open()
        try:
            await db.pool.wait()
            expected = await _cursor_rows(db, TYPES, PARAMS)
            for _ in range(3):
                async with db.scoped_reads(ADMIN) as reads:
                    (rows,) = await reads.read([(TYPES, PARAMS)], last=True)
                assert rows == expected
                assert [type(v) for v in rows[0].values()] == [
                    type(v) for v in expected[0].values()
                ]
            # The scope's statement and this one, prepared on the first block only.
            assert len(await _prepared(db)) == 2
            # An integer that needs another type is another statement (as psycopg's own
            # cache keys them): both answer right.
            small = {**PARAMS, "small": 2**20}
            async with db.scoped_reads(ADMIN) as reads:
                (rows,) = await reads.read([(TYPES, small)], last=True)
            assert rows == await _cursor_rows(db, TYPES, small)
            assert len(await _prepared(db)) == 3
        finally:
            await db.close()

    asyncio.run(run())


def test_reads_of_a_block_see_the_scope_until_its_last_read(world):
    """Several round trips in one block (the first carries the scope), then the last."""
    seen = ("SELECT current_setting('app.scope') AS scope, %(n)s::int AS n", {"n": 1})

    async def run() -> None:
        db = _database(world)
        await db.open()
        try:
            await db.pool.wait()
            async with db.scoped_reads(Scope("merchant", world.merchant)) as reads:
                first = await reads.read([seen], last=False)
                second = await reads.read([seen, seen], last=False)
                last = await reads.read([seen], last=True)
            assert first + second + last == [[{"scope": "merchant", "n": 1}]] * 4
            async with db.scoped_reads(ADMIN) as reads:
                # Nothing to read: nothing is sent, and the block is over.
                assert await reads.read([], last=True) == []
        finally:
            await db.close()

    asyncio.run(run())


def test_a_statement_that_fails_to_prepare_is_prepared_again_next_time(world):
    """A prepare that fails (here: a column that does not exist yet) is not remembered:
    once the column exists the same text prepares and answers."""

    async def run() -> None:
        db = _database(world)
        await db.open()
        query = ("SELECT later FROM wire_test_later WHERE %(n)s::int > 0", {"n": 1})
        try:
            await db.pool.wait()
            async with db.unscoped() as conn:
                await conn.execute("RESET ROLE")
                await conn.execute("CREATE TABLE IF NOT EXISTS wire_test_later (other int)")
                await conn.execute("GRANT SELECT ON wire_test_later TO analytics_api")
            with pytest.raises(psycopg.errors.UndefinedColumn):
                async with db.scoped_reads(ADMIN) as reads:
                    await reads.read([query], last=True)
            async with db.unscoped() as conn:
                await conn.execute("RESET ROLE")
                await conn.execute("ALTER TABLE wire_test_later ADD COLUMN later int")
                await conn.execute("INSERT INTO wire_test_later VALUES (1, 2)")
            async with db.scoped_reads(ADMIN) as reads:
                assert await reads.read([query], last=True) == [[{"later": 2}]]
        finally:
            async with db.unscoped() as conn:
                await conn.execute("RESET ROLE")
                await conn.execute("DROP TABLE IF EXISTS wire_test_later")
            await db.close()

    asyncio.run(run())


def test_an_interrupted_read_closes_its_connection_and_the_pool_replaces_it(world):
    """A request cancelled while its read is in flight leaves the protocol mid-way: the
    connection is closed rather than given to the next request, which gets a new one."""
    slow = ("SELECT pg_backend_pid() AS pid, pg_sleep(%(s)s::float8) IS NULL AS slept", {"s": 5})
    quick = ("SELECT pg_backend_pid() AS pid, current_setting('app.scope') AS scope", {})

    async def run() -> None:
        db = _database(world)
        await db.open()
        try:
            await db.pool.wait()
            async with db.scoped_reads(ADMIN) as reads:
                ((before,),) = await reads.read([quick], last=True)

            async def block() -> None:
                async with db.scoped_reads(ADMIN) as reads:
                    await reads.read([slow], last=True)

            task = asyncio.create_task(block())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            started = datetime.now(UTC)
            async with db.scoped_reads(ADMIN) as reads:
                ((after,),) = await reads.read([quick], last=True)
            assert after["pid"] != before["pid"] and after["scope"] == "admin"
            # Not after the slow statement: the new connection did not wait for it.
            assert datetime.now(UTC) - started < timedelta(seconds=4)
        finally:
            await db.close()

    asyncio.run(run())


def test_each_execution_is_planned_for_the_values_asked(world):
    """A generic plan of a read filtering on (dimension, dimension_value) suits the
    platform's one row per bucket or a merchant's index range, not both: the API's
    sessions plan every execution of a prepared statement for its values."""
    page = (
        "api/revenue_page.sql",
        {
            "dimension": "merchant",
            "dimension_value": world.merchant,
            "window_start": NOW - timedelta(days=30),
            "window_end": NOW,
            "after_group": "",
            "after_bucket": datetime(1970, 1, 1, tzinfo=UTC),
            "after_currency": "",
            "limit": 11,
        },
        "transactions_daily",
    )

    async def run() -> None:
        db = _database(world)
        await db.open()
        try:
            await db.pool.wait()
            for _ in range(8):
                async with db.scoped_reads(Scope("merchant", world.merchant)) as reads:
                    await db.rows_together(reads, [page], last=True)
            async with db.unscoped() as conn:
                cursor = await conn.execute(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE %s",
                    ("%t.refund_amount%",),
                )
                plans = await cursor.fetchall()
            assert plans == [(0, 8)]
        finally:
            await db.close()

    asyncio.run(run())
