"""The API's PostgreSQL access: an async pool whose connections run as the API role, and
request transactions that carry the caller's scope for row-level security.

Every connection does `SET ROLE <API_DB_ROLE>` once and refuses to serve if that role
would bypass row-level security (superuser, BYPASSRLS, or owner of a protected table).
Its session default scope is 'none' (sees nothing); a request sets its scope with
`set_config(..., true)`, local to its transaction, so a connection returned to the pool
never carries a scope into the next request.

Data requests read through `scoped_reads` (api/wire.py): no BEGIN/COMMIT, libpq's
pipeline mode driven directly. The scope's `set_config` goes with the block's first read;
the statements up to the Sync form one implicit transaction, which the Sync ends, and with
it the local scope. An answer's last reads go out with the Sync
(`rows_together(..., last=True)`), so most uncached answers cost one round trip (scope,
queries, freshness, Sync) in one write, instead of five (BEGIN, scope, query, freshness,
COMMIT). Each round trip wakes the API and a PostgreSQL backend, which on shared cores
means a context switch, and, with other requests in the event loop, a wait for its next
turn.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from analytics_platform.api.keys import Scope
from analytics_platform.api.wire import PreparedStatements, ScopedReads
from analytics_platform.resources.warehouse import SESSION_OPTIONS, read_sql
from analytics_platform.settings import Settings

log = logging.getLogger("analytics_platform.api")

# A connection of the API's: a `scoped_reads` block's, or one in a transaction (`scoped`).
Reader = AsyncConnection | ScopedReads

# Local to the transaction: gone when it ends, so a pooled connection keeps no scope.
SET_SCOPE = (
    "SELECT set_config('app.scope', %(kind)s, true), "
    "set_config('app.merchant_id', %(merchant_id)s, true)"
)
# A connection's own defaults: no scope (sees nothing) until a transaction sets one.
_SESSION_DEFAULTS = (
    "SELECT set_config('app.scope', 'none', false), set_config('TimeZone', 'UTC', false)"
)
_STATEMENT_TIMEOUT = "SELECT set_config('statement_timeout', %s, false)"
# The API's statements are prepared once per connection (api/wire.py), and PostgreSQL
# would switch a statement to a generic plan after five executions. One plan cannot suit
# both a platform-wide row ('' as dimension_value: one row per bucket) and a merchant's
# (an index range among thousands of merchants): the generic plans of the revenue,
# dashboard and realtime reads scanned every merchant's rows, 1.7-2.9 ms of PostgreSQL
# CPU per uncached answer against 0.6-1.0 ms with a plan for the values asked
# (docs/api-performance.md, item 13). Planning each execution costs about 0.1-0.2 ms.
API_SESSION_OPTIONS = f"{SESSION_OPTIONS} -c plan_cache_mode=force_custom_plan"


class UnsafeApiRoleError(RuntimeError):
    """The API's database role would bypass row-level security (merchant isolation)."""


class Database:
    """The pool and the SQL files of the API (`sql/api/`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sql_dir: Path = settings.sql_dir
        self._texts: dict[tuple[str, str], str] = {}
        # Why new connections are refused, if they are (readiness reports it).
        self.refusal: str | None = None
        # A request waits this long for a connection before answering 503.
        self.pool_timeout = 5.0
        self._pool: AsyncConnectionPool | None = None
        # Each pooled connection's statements prepared by `scoped_reads` blocks (gone
        # with the connection: a new one prepares again).
        self._prepared: weakref.WeakKeyDictionary[AsyncConnection, PreparedStatements] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise RuntimeError("the API's database pool is not open (app lifespan not started)")
        return self._pool

    async def open(self) -> None:
        """A new pool (each lifespan gets its own: a closed pool cannot reopen)."""
        self._pool = AsyncConnectionPool(
            self.settings.database_url,
            min_size=1,
            max_size=self.settings.api_pool_size,
            open=False,
            configure=self._configure,
            kwargs={"autocommit": True, "options": API_SESSION_OPTIONS},
            timeout=self.pool_timeout,
            name="analytics-api",
        )
        # Not waiting: the API starts (and /health/live answers) while the database is
        # down; /health/ready and the data endpoints report it until it is back.
        await self._pool.open(wait=False)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _configure(self, conn: AsyncConnection) -> None:
        role = self.settings.api_db_role
        if role:
            await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        await conn.execute(_SESSION_DEFAULTS)
        cursor = await conn.execute(self.text("api/role_check.sql"))
        self._check_role(await cursor.fetchone())
        await conn.execute(_STATEMENT_TIMEOUT, (str(self.settings.api_statement_timeout_ms),))

    def _check_role(self, row: tuple[Any, ...] | None) -> None:
        """Raise UnsafeApiRoleError unless api/role_check.sql's row says the role is
        subject to row-level security and the policies exist."""
        if row is not None and not row[0] and row[1]:
            self.refusal = None
            return
        problem = (
            "the migrations' row-level security policies are missing (run "
            "`analytics-platform migrate`)"
            if row is not None and not row[1]
            else "it is a superuser, has BYPASSRLS or owns the marts tables"
        )
        message = (
            f"refusing to serve with database role {self.settings.api_db_role or '(login role)'}: "
            f"{problem}, so merchant keys would not be isolated. Set API_DB_ROLE to a role "
            "like analytics_api (created by the migrations) that the DATABASE_URL user may "
            "SET ROLE to."
        )
        log.error(message)
        self.refusal = message
        raise UnsafeApiRoleError(message)

    @contextmanager
    def scoped_sync(self, scope: Scope) -> Iterator[psycopg.Connection]:
        """A synchronous connection of its own, configured like the pool's, inside a
        transaction that sees only what `scope` may see; closed at the end.

        For a worker thread that streams a long result (the transaction export): psycopg's
        synchronous COPY reads a row for about a third of the asynchronous one's CPU, and
        the event loop stays free. Not from the pool: the pool's connections are async."""
        with psycopg.connect(
            self.settings.database_url, autocommit=True, options=SESSION_OPTIONS
        ) as conn:
            role = self.settings.api_db_role
            if role:
                conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            conn.execute(_SESSION_DEFAULTS)
            self._check_role(conn.execute(self.text("api/role_check.sql")).fetchone())
            with conn.transaction():
                conn.execute(SET_SCOPE, scope_params(scope))
                yield conn

    def text(self, relative: str) -> str:
        return read_sql(relative, self.sql_dir)

    def query(self, relative: str, table: str | None = None) -> str:
        """A file of `sql/`, its `{table}` filled with a marts table when given (the
        identifier quoted by psycopg; rendered once)."""
        if table is None:
            return self.text(relative)
        key = (relative, table)
        text = self._texts.get(key)
        if text is None:
            template = sql.SQL(self.text(relative))  # type: ignore[arg-type]
            text = template.format(table=sql.Identifier("marts", table)).as_string()
            self._texts[key] = text
        return text

    async def rows(
        self,
        conn: Reader,
        relative: str,
        params: Mapping[str, Any],
        table: str | None = None,
    ) -> list[dict[str, Any]]:
        if isinstance(conn, ScopedReads):
            (rows,) = await conn.read([(self.query(relative, table), params)], last=False)
            return rows
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(self.query(relative, table), params)  # type: ignore[arg-type]
            return await cursor.fetchall()

    async def rows_together(
        self,
        conn: Reader,
        queries: Sequence[tuple[str, Mapping[str, Any], str | None]],
        *,
        last: bool = False,
    ) -> list[list[dict[str, Any]]]:
        """Several independent reads, each `(relative, params, table)`, all sent before
        any result is awaited: in a `scoped_reads` block one round trip instead of one
        each. A failing statement raises as it would alone (the ones after it are
        skipped by PostgreSQL).

        `last` (in `scoped_reads`): the block reads nothing after these, so they go out
        with the Sync, which ends the block's transaction and with it the scope: the
        answer's one round trip carries the scope (when nothing was read before), the
        reads and the Sync. A read after it in the same block raises
        ReadAfterLastReadError (it would see nothing)."""
        if isinstance(conn, ScopedReads):
            reads = [(self.query(relative, table), params) for relative, params, table in queries]
            return await conn.read(reads, last=last)
        return [await self.rows(conn, *query) for query in queries]

    @asynccontextmanager
    async def scoped(self, scope: Scope) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction that sees only what `scope` may see."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(SET_SCOPE, scope_params(scope))
            yield conn

    @asynccontextmanager
    async def scoped_reads(self, scope: Scope) -> AsyncIterator[ScopedReads]:
        """Like `scoped`, for plain reads (no COPY, no server-side cursors, no explicit
        transaction) through api/wire.py: the scope goes with the first read and lasts
        until the Sync sent with the last read (`rows_together(last=True)`), or at the
        end of the block when no read was the last."""
        async with self.pool.connection() as conn:
            prepared = self._prepared.get(conn)
            if prepared is None:
                prepared = self._prepared[conn] = PreparedStatements()
            reads = ScopedReads(
                conn,
                (SET_SCOPE, scope_params(scope)),
                prepared,
                conn.info.encoding,
            )
            try:
                yield reads
            finally:
                await reads.close()

    @asynccontextmanager
    async def unscoped(self) -> AsyncIterator[AsyncConnection]:
        """A connection for bookkeeping reads (watermarks, readiness, keys): nothing of
        the protected tables is visible through it."""
        async with self.pool.connection() as conn:
            yield conn


def scope_params(scope: Scope) -> dict[str, str]:
    """SET_SCOPE's parameters for `scope`."""
    return {"kind": scope.kind, "merchant_id": scope.merchant_id or ""}


def is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError | UnsafeApiRoleError)
