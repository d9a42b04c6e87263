"""Answering a data request: from the response cache, or by running its query function
in a scoped transaction; then HTTP caching (ETag, Last-Modified, Cache-Control, 304).

ETag is a hash of the body, of what the response read (its newest materialization and
bucket count, and for realtime the newest ingestion) and of the request's identity;
Last-Modified is the newest materialization (or ingestion) the response read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from analytics_platform.api.cache import Rendered
from analytics_platform.api.deps import Context
from analytics_platform.api.export import CSV, JSON, to_csv
from analytics_platform.api.fast_path import Shortcut
from analytics_platform.api.periods import hour_start
from analytics_platform.api.queries.common import Ask, Freshness
from analytics_platform.rollups.families import Grain

API_PREFIX = "/api/v1/analytics"
# Cache-Control max-age per grain of the data a response reads, in seconds.
REALTIME_MAX_AGE = 30
MAX_AGE: dict[Grain, int] = {
    Grain.HOURLY: 300,
    Grain.DAILY: 1800,
    Grain.WEEKLY: 3600,
    Grain.MONTHLY: 3600,
}

Compute = Callable[[Ask], Awaitable[tuple[BaseModel, Freshness]]]


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    candidates = (c.strip().removeprefix("W/") for c in header.split(","))
    return etag in candidates


def _not_modified(request: Request, rendered: Rendered) -> bool:
    if (if_none_match := request.headers.get("if-none-match")) is not None:
        return _etag_matches(if_none_match, rendered.etag)
    since = request.headers.get("if-modified-since")
    if since is None or rendered.last_modified is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return rendered.last_modified.replace(microsecond=0) <= when


def _next_link(request: Request, body: BaseModel) -> str | None:
    cursor = getattr(body, "next_cursor", None)
    if cursor is None or request.method != "GET":
        return None
    return f'<{request.url.include_query_params(cursor=cursor)}>; rel="next"'


async def serve(
    request: Request,
    ctx: Context,
    *,
    key: tuple[Hashable, ...],
    sources: tuple[str, ...],
    max_age: int,
    compute: Compute,
    fmt: str = "json",
) -> Response:
    """The response for `key` (the route and its resolved parameters): cached while the
    watermarks of `sources` hold still, else computed by `compute`."""
    state = ctx.state
    full_key = (key, ctx.principal.scope, ctx.subject, ctx.tz.key, fmt)
    computed = False

    async def render() -> Rendered:
        nonlocal computed
        computed = True
        async with state.db.scoped_reads(ctx.principal.scope) as conn:
            ask = Ask(
                state.db,
                conn,
                ctx.subject,
                ctx.tz,
                state.settings.tz,
                ctx.now,
                state.freshness,
            )
            model, freshness = await compute(ask)
        if fmt == "csv":
            items = model.model_dump(mode="json", by_alias=True).get("items", [])
            body, media_type = to_csv(items), CSV
        else:
            body, media_type = model.model_dump_json(by_alias=True).encode(), JSON
        digest = hashlib.blake2b(body, digest_size=16)
        digest.update(freshness.token.encode())
        digest.update(repr(full_key).encode())
        etag = f'"{digest.hexdigest()}"'
        headers = {
            "Cache-Control": f"private, max-age={max_age}",
            "Vary": "X-API-Key, Accept",
            "ETag": etag,
        }
        if freshness.last_modified is not None:
            headers["Last-Modified"] = _http_date(freshness.last_modified)
        if link := _next_link(request, model):
            headers["Link"] = link
        return Rendered(body, media_type, etag, freshness.last_modified, headers)

    rendered = await state.cache.get(full_key, sources, render)
    request.scope["state"]["cache"] = "miss" if computed else "hit"
    state.metrics.cache.labels("miss" if computed else "hit").inc()
    if request.method == "GET":
        _remember(request, ctx, full_key)
    if _not_modified(request, rendered):
        return Response(status_code=304, headers=rendered.headers)
    return Response(rendered.body, media_type=rendered.media_type, headers=rendered.headers)


def _remember(request: Request, ctx: Context, cache_key: Hashable) -> None:
    """Lets the fast path repeat this answer to the identical request until the next
    reporting hour (no window a route resolves changes before then)."""
    headers = request.headers
    api_key = headers.get("x-api-key")
    route = getattr(request.scope.get("route"), "path", None)
    if api_key is None or route is None:
        return
    request_key = (
        request.scope["path"],
        request.scope["query_string"],
        api_key.encode("latin-1"),
        headers.get("accept", "").encode("latin-1"),
    )
    # In UTC: adding to a local time would add wall-clock time across a DST change.
    next_hour = hour_start(ctx.now, ctx.state.settings.tz).astimezone(UTC) + timedelta(hours=1)
    template = route if route.startswith(API_PREFIX) else API_PREFIX + route
    ctx.state.shortcuts.remember(request_key, Shortcut(cache_key, template, next_hour))


def _http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


__all__ = ["CSV", "JSON", "MAX_AGE", "REALTIME_MAX_AGE", "serve"]
