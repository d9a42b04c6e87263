"""Operations: liveness, readiness and Prometheus metrics (no API key needed)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from analytics_platform.api.deps import state_of
from analytics_platform.api.schemas import Liveness, Readiness

router = APIRouter(tags=["operations"])

_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/health/live", response_model=Liveness, summary="The process answers")
async def live() -> JSONResponse:
    """200 as long as the process serves HTTP; touches nothing else."""
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready; `problems` says why"}},
    summary="Database reachable and rollups fresh",
)
async def ready(request: Request) -> JSONResponse:
    """200 when the database answers (as the API's role, with row-level security in
    place) and the newest hourly rollup ended at most API_READY_MAX_LAG_MINUTES ago;
    503 with the reasons otherwise."""
    state = state_of(request)
    limit = state.settings.api_ready_max_lag_minutes
    problems: list[str] = []
    newest: datetime | None = None
    lag: float | None = None
    database = False
    try:
        async with asyncio.timeout(3.0), state.db.unscoped() as conn:
            rows = await state.db.rows(conn, "api/ready.sql", {})
        database = True
        newest = rows[0]["newest_hour_end"] if rows else None
    except Exception as exc:  # readiness reports any failure, whatever it is
        problems.append(
            state.db.refusal or f"database: {type(exc).__name__}: {str(exc).strip()[:200]}"
        )
    if database and limit:
        if newest is None:
            problems.append("no hourly rollup has been materialized yet")
        else:
            lag = round((state.clock() - newest).total_seconds() / 60, 1)
            if lag > limit:
                problems.append(
                    f"the newest hourly rollup ended {lag} minutes ago (limit {limit}); "
                    "check the rollup_automation sensor and ingestion"
                )
    body = Readiness(
        status="not ready" if problems else "ready",
        database=database,
        newest_hour_end=newest,
        lag_minutes=lag,
        max_lag_minutes=limit,
        problems=problems,
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=503 if problems else 200, headers=_NO_STORE
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """Request counts and latency histograms by route, method and status; response cache
    hits and misses (Prometheus text format)."""
    return Response(
        state_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST, headers=_NO_STORE
    )
