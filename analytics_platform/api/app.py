"""The API's app factory: `uvicorn --factory analytics_platform.api.app:create_app`
(`create_server_app` for `analytics-platform api`: the same app, its process's garbage
collector settled after startup, api/heap.py).

Routes live in `routers/`, their SQL in `sql/api/`; this module only assembles them with
the pool, the key verifier, the response cache and its watermark follower, the error
handlers and the request observer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from analytics_platform.api import heap
from analytics_platform.api.auth import KeyVerifier
from analytics_platform.api.cache import FreshnessMemo, ResponseCache, Watermarks
from analytics_platform.api.db import Database
from analytics_platform.api.deps import reject_nul_characters
from analytics_platform.api.docs import install_docs
from analytics_platform.api.errors import install_error_handlers, problem_schemas
from analytics_platform.api.fast_path import FastPath, Shortcuts
from analytics_platform.api.lean_routes import LeanRoutes
from analytics_platform.api.observability import (
    ASGIApp,
    Metrics,
    Receive,
    RequestObserver,
    Scope,
    Send,
    configure_logging,
)
from analytics_platform.api.rate_limit import RateLimiter
from analytics_platform.api.routers import (
    cohorts,
    customers,
    health,
    metrics,
    recommendations,
    reports,
    users,
)
from analytics_platform.api.serving import API_PREFIX
from analytics_platform.api.state import ApiState
from analytics_platform.api.zones import Zones
from analytics_platform.settings import Settings, load_settings

# How often the response cache re-reads its watermarks: new materializations show within
# about this long (and the realtime figures within this plus one ingest tick).
WATERMARK_INTERVAL_SECONDS = 1.0

log = logging.getLogger("analytics_platform.api")

DESCRIPTION = """
Read-only analytics over the materialized rollups (`marts.*`) of the payments platform,
and for the open hour the raw events. The one write: dismissing a user's recommendation
(`POST .../user/{user_id}/recommendations/{recommendation_id}/dismiss`).

* **Auth**: every `/api/v1/analytics` call needs an `X-API-Key` header. A key's scope is
  `admin` or one merchant; a merchant key only ever sees that merchant's numbers (enforced
  by row-level security in PostgreSQL). Platform-wide endpoints answer merchant keys with
  `403 ANA_AUTH_003`.
* **Time**: ranges are half-open `[start, end)`; buckets are cut in the reporting time
  zone; `timezone` chooses how times are shown.
* **Lists** are paginated: pass `nextCursor` back as `cursor`, with `limit`.
* **Exports**: series endpoints answer CSV with `format=csv` or `Accept: text/csv`.
* **Caching**: `ETag` / `Last-Modified` come from the materializations a response read;
  send `If-None-Match` to get `304`. `Cache-Control` max-age follows the grain.
* **Errors** are `application/problem+json` (RFC 9457) with a stable `code`.
"""


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the problem schemas the error responses refer to."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(problem_schemas())
        app.openapi_schema = schema
    return app.openapi_schema


class ApiApp(FastAPI):
    """FastAPI with HTTP requests entering through `front` (the request observer and the
    fast path, pure ASGI) before FastAPI's middleware stack, which `dispatch` runs."""

    front: ASGIApp
    # The layer calling data routes directly (lean_routes.py), if on.
    lean: LeanRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.front(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    lean_routes: bool = True,
    settle_heap: bool = False,
) -> FastAPI:
    """The API app. `clock` (tests) replaces the wall clock that resolves "today";
    `lean_routes=False` (tests) sends every request the fast path does not answer
    through FastAPI; `settle_heap` (the server process) tunes the process's garbage
    collector once startup is done (`heap.settle`)."""
    settings = settings or load_settings()
    configure_logging()
    db = Database(settings)
    watermarks = Watermarks()
    state = ApiState(
        settings=settings,
        db=db,
        keys=KeyVerifier(db, settings.api_key_cache_seconds),
        watermarks=watermarks,
        cache=ResponseCache(watermarks),
        freshness=FreshnessMemo(watermarks),
        metrics=Metrics(),
        shortcuts=Shortcuts(),
        clock=clock or _now,
        zones=Zones(),
        limiter=RateLimiter(settings.api_rate_limit_per_minute, settings.api_rate_limit_burst),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.open()
        # One reading before serving, so the first responses are not computed against
        # empty watermarks; a database that is down must not block startup (the
        # follower, and for the zones the first request, try again).
        for what, reading in (
            ("watermarks", lambda: watermarks.refresh(db, state.clock())),
            ("time zones", lambda: state.zones.load(db)),
        ):
            try:
                await asyncio.wait_for(reading(), timeout=3.0)
            except Exception as exc:
                log.warning("%s not read at startup: %s", what, str(exc).strip() or type(exc))
        follower = asyncio.create_task(
            watermarks.follow(db, WATERMARK_INTERVAL_SECONDS, state.clock)
        )
        if settle_heap:
            heap.settle()
        try:
            yield
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            await db.close()

    app = ApiApp(
        title="analytics-platform API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        # ReDoc also loads from a CDN and adds nothing Swagger UI lacks.
        redoc_url=None,
        dependencies=[Depends(reject_nul_characters)],
    )
    install_docs(app)
    app.state.api = state
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router, prefix=API_PREFIX)
    app.include_router(users.router, prefix=API_PREFIX)
    app.include_router(cohorts.router, prefix=API_PREFIX)
    app.include_router(customers.router, prefix=customers.CUSTOMERS_PREFIX)
    app.include_router(reports.router, prefix=API_PREFIX)
    app.include_router(recommendations.router, prefix=API_PREFIX)
    # In front of FastAPI's own stack (routing, error middleware, telemetry check), so a
    # cache hit costs none of it; the observer outermost, so it also sees the fast path's
    # answers and the 500s of FastAPI's error middleware.
    behind_fast_path: ASGIApp = app.dispatch
    if lean_routes:
        # The payment metrics, most of what dashboards ask for, skip FastAPI's
        # per-request dependency solving when their parameters are plainly valid.
        behind_fast_path = LeanRoutes(
            app.dispatch,
            app,
            [r for r in metrics.router.routes if isinstance(r, APIRoute)],
            prefix=API_PREFIX,
            keys=state.keys,
            limiter=state.limiter,
            zones=state.zones,
        )
        app.lean = behind_fast_path
    fast_path = FastPath(
        behind_fast_path,
        shortcuts=state.shortcuts,
        keys=state.keys,
        limiter=state.limiter,
        cache=state.cache,
        clock=state.clock,
        prefix=API_PREFIX,
        count_hit=state.metrics.cache.labels("hit").inc,
    )
    prefixes = {
        id(r): API_PREFIX
        for r in (
            *metrics.router.routes,
            *users.router.routes,
            *reports.router.routes,
            *recommendations.router.routes,
        )
    }
    prefixes.update({id(r): customers.CUSTOMERS_PREFIX for r in customers.router.routes})
    app.front = RequestObserver(fast_path, metrics=state.metrics, prefixes=prefixes)
    return app


def create_server_app() -> FastAPI:
    """The app as `analytics-platform api` serves it (uvicorn's factory, per worker)."""
    return create_app(settle_heap=True)
