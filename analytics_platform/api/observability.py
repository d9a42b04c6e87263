"""Request ids, structured JSON logs and Prometheus metrics of the API.

One pure ASGI middleware does all three per request (a `BaseHTTPMiddleware` would cost
more than the cached endpoints themselves). Metrics are labelled by the route template
(`/api/v1/analytics/user/{user_id}/metrics`), never the raw path, so ids and typos
cannot grow the label set; unmatched paths share one label.

With several uvicorn workers set PROMETHEUS_MULTIPROC_DIR (`analytics-platform api`
does) so `/metrics` adds up all workers.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("analytics_platform.api")
access_log = logging.getLogger("analytics_platform.api.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry, enc_hook=str).decode()


def _json_stream_handlers() -> list[logging.StreamHandler] | None:
    """The handlers an access line goes to when they are only the plain JSON stream
    handlers `configure_logging` installs (no filters anywhere, nothing else listening);
    None otherwise (a test's handler, a filter, propagation to the root logger)."""
    parent = access_log.parent
    if (
        access_log.handlers
        or access_log.filters
        or access_log.disabled
        or not access_log.propagate
        or parent is None
        or parent.name != "analytics_platform.api"
        or parent.propagate
        or parent.filters
        or parent.disabled
        or not parent.handlers
    ):
        return None
    handlers = parent.handlers
    for handler in handlers:
        if (
            type(handler) is not logging.StreamHandler
            or type(handler.formatter) is not JsonFormatter
            or handler.filters
            or handler.level > logging.INFO
        ):
            return None
    return handlers  # type: ignore[return-value]


def write_access_line(fields: dict[str, Any]) -> None:
    """The access log's line for one request: what `access_log.info("request",
    extra=fields)` writes through JsonFormatter, key for key, but without building a
    LogRecord (its caller lookup, thread and process fields) when only the JSON stream
    handlers listen; otherwise through `logging` as any other line. A quarter of a cache
    hit's CPU went to the record and its formatting."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    handlers = _json_stream_handlers()
    if handlers is None:
        access_log.info("request", extra=fields)
        return
    created = time.time()
    entry = {
        "ts": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": "info",
        "logger": access_log.name,
        "message": "request",
        **fields,
    }
    line = msgspec.json.encode(entry, enc_hook=str).decode()
    for handler in handlers:
        handler.acquire()
        try:
            handler.stream.write(line + handler.terminator)
            handler.flush()
        except Exception:
            handler.handleError(logging.makeLogRecord({"msg": line}))
        finally:
            handler.release()


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the API's loggers (idempotent)."""
    logger = logging.getLogger("analytics_platform.api")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)


def uvicorn_log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's own logs as JSON lines too (its access log is replaced by ours)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


class Metrics:
    """The API's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        # `*_created` series only double the output; Prometheus does not need them.
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "analytics_api_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "analytics_api_request_duration_seconds",
            "Time from request to the end of the response, by route, method and status",
            ["route", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache = Counter(
            "analytics_api_response_cache",
            "Response cache lookups by result (hit, miss)",
            ["result"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "analytics_api_rate_limited",
            "Requests refused with 429 because their key's rate limit was spent, by key scope",
            ["scope"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


class RequestObserver:
    """ASGI middleware: request id (X-Request-ID, echoed or made up), one access log line
    and the request metrics per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, prefixes: dict[int, str]) -> None:
        self.app = app
        self.metrics = metrics
        # Routes of included routers know their path without the router's prefix.
        self.prefixes = prefixes
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _series(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        key = (route, method, status)
        series = self._children.get(key)
        if series is None:
            labels = (route, method, str(status))
            series = (self.metrics.requests.labels(*labels), self.metrics.latency.labels(*labels))
            self._children[key] = series
        return series

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _REQUEST_ID.match(candidate):
                    request_id = candidate
                break
        request_id = request_id or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            state = scope["state"]
            route = state.get("route")
            if route is None:
                matched = scope.get("route")
                path = getattr(matched, "path", None)
                if path:
                    prefix = self.prefixes.get(id(matched), "")
                    route = path if path.startswith(prefix) else prefix + path
                elif status in (404, 405):
                    route = "unmatched"
                else:
                    # Plain Starlette routes (/docs, /openapi.json) set no route; their
                    # paths are fixed, so they cannot grow the label set.
                    route = scope["path"]
            count, latency = self._series(route, scope["method"], status)
            count.inc()
            latency.observe(elapsed)
            write_access_line(
                {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "key": state.get("key_prefix"),
                    "cache": state.get("cache"),
                }
            )
