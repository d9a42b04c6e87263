"""The API's PostgreSQL access: an async pool whose connections run as the API role, and
request transactions that carry the caller's scope for row-level security.

Every connection does `SET ROLE <API_DB_ROLE>` once and refuses to serve if that role
would bypass row-level security (superuser, BYPASSRLS, or owner of a protected table).
Its session default scope is 'none' (sees nothing); a request sets its scope with
`set_config(..., true)`, local to its transaction, so a connection returned to the pool
never carries a scope into the next request.

Data requests read through `scoped_reads`: pipeline mode, no BEGIN/COMMIT. The scope's
`set_config` is queued with the first query and both travel in one round trip; the
statements up to the pipeline's closing Sync form one implicit transaction, which the
Sync ends, and with it the local scope. An answer's last reads go out with the Sync
(`rows_together(..., last=True)`), so most uncached answers cost one round trip (scope,
query, freshness, Sync) instead of five (BEGIN, scope, query, freshness, COMMIT). Each
round trip wakes the API and a PostgreSQL backend, which on shared cores means a context
switch, and, with other requests in the event loop, a wait for its next turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import AsyncConnection, AsyncPipeline, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from analytics_platform.api.keys import Scope
from analytics_platform.resources.warehouse import SESSION_OPTIONS, read_sql
from analytics_platform.settings import Settings

log = logging.getLogger("analytics_platform.api")

# Local to the transaction: gone when it ends, so a pooled connection keeps no scope.
SET_SCOPE = "SELECT set_config('app.scope', %s, true), set_config('app.merchant_id', %s, true)"
# A connection's own defaults: no scope (sees nothing) until a transaction sets one.
_SESSION_DEFAULTS = (
    "SELECT set_config('app.scope', 'none', false), set_config('TimeZone', 'UTC', false)"
)
_STATEMENT_TIMEOUT = "SELECT set_config('statement_timeout', %s, false)"


class UnsafeApiRoleError(RuntimeError):
    """The API's database role would bypass row-level security (merchant isolation)."""


class ReadAfterLastReadError(RuntimeError):
    """A `scoped_reads` block read again after its last read had ended its scope."""


class Database:
    """The pool and the SQL files of the API (`sql/api/`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sql_dir: Path = settings.sql_dir
        self._composed: dict[tuple[str, str], sql.Composed] = {}
        # Why new connections are refused, if they are (readiness reports it).
        self.refusal: str | None = None
        # A request waits this long for a connection before answering 503.
        self.pool_timeout = 5.0
        self._pool: AsyncConnectionPool | None = None
        # The pipeline of each connection inside `scoped_reads`, and the connections
        # whose block has made its last read (its transaction, and scope, have ended).
        self._pipelines: dict[AsyncConnection, AsyncPipeline] = {}
        self._ended: set[AsyncConnection] = set()
        # Connections being returned after their block's answer (`scoped_reads`).
        self._releases: set[asyncio.Task[None]] = set()

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
            kwargs={"autocommit": True, "options": SESSION_OPTIONS},
            timeout=self.pool_timeout,
            name="analytics-api",
        )
        # Not waiting: the API starts (and /health/live answers) while the database is
        # down; /health/ready and the data endpoints report it until it is back.
        await self._pool.open(wait=False)

    async def close(self) -> None:
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)
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
                conn.execute(SET_SCOPE, (scope.kind, scope.merchant_id or ""))
                yield conn

    def _check_not_ended(self, conn: AsyncConnection) -> None:
        if conn in self._ended:
            raise ReadAfterLastReadError(
                "a read after the block's last read (rows_together(last=True)) would run "
                "without the block's scope and see nothing: make it part of the last read"
            )

    def text(self, relative: str) -> str:
        return read_sql(relative, self.sql_dir)

    def query(self, relative: str, table: str | None = None) -> sql.Composed | str:
        """A file of `sql/`, its `{table}` filled with a marts table when given."""
        if table is None:
            return self.text(relative)
        key = (relative, table)
        composed = self._composed.get(key)
        if composed is None:
            template = sql.SQL(self.text(relative))  # type: ignore[arg-type]
            composed = template.format(table=sql.Identifier("marts", table))
            self._composed[key] = composed
        return composed

    async def rows(
        self,
        conn: AsyncConnection,
        relative: str,
        params: Mapping[str, Any],
        table: str | None = None,
    ) -> list[dict[str, Any]]:
        self._check_not_ended(conn)
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(self.query(relative, table), params)  # type: ignore[arg-type]
            return await cursor.fetchall()

    async def rows_together(
        self,
        conn: AsyncConnection,
        queries: Sequence[tuple[str, Mapping[str, Any], str | None]],
        *,
        last: bool = False,
    ) -> list[list[dict[str, Any]]]:
        """Several independent reads, each `(relative, params, table)`, all sent before
        any result is awaited: in pipeline mode (`scoped_reads`) one round trip instead
        of one each. A failing statement raises as it would alone (the ones after it in
        the pipeline are skipped by PostgreSQL).

        `last` (in `scoped_reads`): the block reads nothing after these, so they go out
        with a Sync, which ends the block's transaction and with it the scope: the
        answer's one round trip carries the queued scope, the reads and the Sync,
        instead of one for the reads and one more for the Sync when the block ends. A
        read after it in the same block raises ReadAfterLastReadError (it would see
        nothing)."""
        self._check_not_ended(conn)
        pipeline = self._pipelines.get(conn) if last else None
        cursors = []
        try:
            for relative, params, table in queries:
                cursor = conn.cursor(row_factory=dict_row)
                cursors.append(cursor)
                await cursor.execute(self.query(relative, table), params)  # type: ignore[arg-type]
            if pipeline is not None:
                # Sends everything queued and the Sync, and receives every result.
                self._ended.add(conn)
                await pipeline.sync()
            return [await cursor.fetchall() for cursor in cursors]
        finally:
            for cursor in cursors:
                await cursor.close()

    @asynccontextmanager
    async def scoped(self, scope: Scope) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction that sees only what `scope` may see."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(SET_SCOPE, (scope.kind, scope.merchant_id or ""))
            yield conn

    @asynccontextmanager
    async def scoped_reads(self, scope: Scope) -> AsyncIterator[AsyncConnection]:
        """Like `scoped`, for plain reads (no COPY, no server-side cursors, no explicit
        transaction): the connection is in pipeline mode and the scope lasts until the
        Sync that closes the pipeline, sent whether the block succeeds or raises (a
        block whose last read went out with a Sync, `rows_together(last=True)`, has
        ended its transaction already: the closing Sync finds nothing to end)."""
        release = AsyncExitStack()
        conn = await release.enter_async_context(self.pool.connection())
        try:
            self._pipelines[conn] = await release.enter_async_context(conn.pipeline())
            # Not awaited for its result: it goes out with the first query.
            await conn.execute(SET_SCOPE, (scope.kind, scope.merchant_id or ""))
            yield conn
        except BaseException as exc:
            self._forget(conn)
            if not await release.__aexit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            ended = conn in self._ended
            self._forget(conn)
            if ended:
                # The last read's Sync ended the transaction: the pipeline's closing
                # Sync and the return to the pool wait for PostgreSQL once more but
                # change nothing the answer depends on, so the answer does not wait.
                task = asyncio.get_running_loop().create_task(release.aclose())
                self._releases.add(task)
                task.add_done_callback(self._released)
            else:
                await release.aclose()

    def _forget(self, conn: AsyncConnection) -> None:
        self._pipelines.pop(conn, None)
        self._ended.discard(conn)

    def _released(self, task: asyncio.Task[None]) -> None:
        self._releases.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # The pool replaces a connection it cannot reset; nothing was lost.
            log.warning("returning a connection to the pool failed: %s", exc)

    @asynccontextmanager
    async def unscoped(self) -> AsyncIterator[AsyncConnection]:
        """A connection for bookkeeping reads (watermarks, readiness, keys): nothing of
        the protected tables is visible through it."""
        async with self.pool.connection() as conn:
            yield conn


def is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError | UnsafeApiRoleError)
