"""Every error the API returns: `application/problem+json` (RFC 9457) with a stable `code`.

Codes never change meaning; clients switch on `code`, people read `detail`. Bodies never
carry stack traces, SQL or driver messages: those go to the log under the request id,
which the body repeats so the two can be matched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Longest echo of client input in a problem document: a parameter of 5,000 characters
# must not come back whole (in `instance`, `detail` or `invalidParams`).
MAX_ECHO = 80
MAX_INSTANCE = 512
MAX_DETAIL = 1024

log = logging.getLogger("analytics_platform.api")


@dataclass(frozen=True)
class ErrorKind:
    code: str
    status: int
    title: str


_KINDS = (
    ErrorKind("ANA_VAL_001", 404, "User not found"),
    ErrorKind("ANA_VAL_002", 400, "Invalid parameter"),
    ErrorKind("ANA_VAL_003", 400, "Invalid time range"),
    ErrorKind("ANA_VAL_004", 400, "Unknown time zone"),
    ErrorKind("ANA_VAL_005", 400, "Invalid cursor"),
    ErrorKind("ANA_VAL_006", 406, "Unsupported export format"),
    ErrorKind("ANA_VAL_007", 404, "No such endpoint"),
    ErrorKind("ANA_VAL_008", 405, "Method not allowed"),
    ErrorKind("ANA_RPT_001", 404, "Report not rendered"),
    ErrorKind("ANA_REC_001", 404, "Recommendation not found"),
    ErrorKind("ANA_AUTH_001", 401, "API key missing"),
    ErrorKind("ANA_AUTH_002", 401, "API key invalid or revoked"),
    ErrorKind("ANA_AUTH_003", 403, "Not allowed for this key's scope"),
    ErrorKind("ANA_AUTH_004", 400, "More than one API key"),
    ErrorKind("ANA_RATE_001", 429, "Rate limit exceeded"),
    ErrorKind("ANA_SYS_001", 500, "Internal error"),
    ErrorKind("ANA_SYS_002", 503, "Database unavailable"),
    ErrorKind("ANA_SYS_003", 503, "Query timed out"),
    # PayU's code for its recommendations endpoint's internal errors (its other SYS codes
    # were per endpoint too; here 002/003 mean unavailable and timed out everywhere).
    ErrorKind("ANA_SYS_004", 500, "Internal error (recommendations)"),
)
ERRORS: Mapping[str, ErrorKind] = {k.code: k for k in _KINDS}
# Routes whose unhandled errors answer with a code of their own, by OpenAPI tag.
INTERNAL_ERROR_CODE_BY_TAG: Mapping[str, str] = {"recommendations": "ANA_SYS_004"}


def internal_error_code(request: Request) -> str:
    """ANA_SYS_001, or the code of the route's tag in INTERNAL_ERROR_CODE_BY_TAG."""
    route = request.scope.get("route")
    for tag in getattr(route, "tags", None) or ():
        if (code := INTERNAL_ERROR_CODE_BY_TAG.get(str(tag))) is not None:
            return code
    return "ANA_SYS_001"


class InvalidParam(BaseModel):
    name: str = Field(description="the parameter, as the client sent it", examples=["days"])
    reason: str = Field(examples=["must be between 1 and 366"])


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(
        description="URI naming the problem type", examples=["urn:analytics-platform:ANA_VAL_002"]
    )
    title: str = Field(examples=["Invalid parameter"])
    status: int = Field(examples=[400])
    detail: str = Field(examples=["days: must be between 1 and 366"])
    instance: str = Field(
        description="the request path", examples=["/api/v1/analytics/latency?days=0"]
    )
    code: str = Field(description="stable error code", examples=["ANA_VAL_002"])
    request_id: str = Field(
        alias="requestId", description="also in the X-Request-ID header and the logs"
    )
    invalid_params: list[InvalidParam] | None = Field(
        default=None, alias="invalidParams", description="which parameters were wrong, and why"
    )

    model_config = {"populate_by_name": True}


class ApiError(Exception):
    """An error with a stable code; raise it anywhere below a route."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # The detail names the parameter first, so people see it without invalidParams.
        if params and not detail.startswith(f"{params[0][0]}:"):
            detail = f"{params[0][0]}: {detail}"
        super().__init__(f"{code}: {detail}")
        self.kind = ERRORS[code]
        self.detail = detail
        self.params = list(params)
        self.headers = dict(headers or {})


def invalid(name: str, reason: str, code: str = "ANA_VAL_002") -> ApiError:
    """A bad parameter: the detail and invalidParams both name it."""
    return ApiError(code, f"{name}: {reason}", params=[(name, reason)])


def truncate(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and a note of how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...({len(text) - limit} more characters)"


def echo(value: str) -> str:
    """Client input quoted for a message, cut to MAX_ECHO characters."""
    return repr(truncate(value, MAX_ECHO))


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def problem_response(
    request: Request,
    code: str,
    detail: str,
    params: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    kind = ERRORS[code]
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = Problem(
        type=f"urn:analytics-platform:{code}",
        title=kind.title,
        status=kind.status,
        detail=truncate(detail, MAX_DETAIL),
        instance=truncate(target, MAX_INSTANCE),
        code=code,
        request_id=request_id_of(request),
        invalid_params=[
            InvalidParam(name=truncate(n, MAX_ECHO), reason=truncate(r, MAX_DETAIL))
            for n, r in params
        ]
        or None,
    )
    return Response(
        body.model_dump_json(by_alias=True, exclude_none=True),
        status_code=kind.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _location(loc: Sequence[Any]) -> str:
    """`('query', 'days')` -> `days`; a body field keeps its path (`body.userId`)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "request"


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem_response(request, exc.kind.code, exc.detail, exc.params, exc.headers)


def _validation_param(error: Mapping[str, Any]) -> tuple[str, str]:
    if error.get("type") == "json_invalid":
        # FastAPI reports it at `body.<offset>` as "JSON decode error".
        reason = (error.get("ctx") or {}).get("error") or "malformed"
        loc = error.get("loc", ())
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        return "body", f"request body is not valid JSON: {reason}{where}"
    return _location(error.get("loc", ())), str(error.get("msg", "invalid"))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    params = [_validation_param(e) for e in exc.errors()]
    detail = "; ".join(f"{n}: {r}" for n, r in params) or "invalid request"
    return problem_response(request, "ANA_VAL_002", detail, params)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return problem_response(
            request, "ANA_VAL_008", f"{request.method} is not allowed on {request.url.path}"
        )
    if exc.status_code == 404:
        return problem_response(
            request,
            "ANA_VAL_007",
            f"no endpoint at {request.url.path}; see /docs for the API's endpoints",
        )
    # Anything else Starlette raises is a malformed request (e.g. a bad body).
    return problem_response(request, "ANA_VAL_002", str(exc.detail))


async def _database_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        log.warning("query timed out", extra={"request_id": request_id_of(request)})
        return problem_response(
            request,
            "ANA_SYS_003",
            "the query took longer than the API allows; narrow the time range and retry",
        )
    log.error(
        "database unavailable: %s",
        str(exc).strip(),
        extra={"request_id": request_id_of(request)},
    )
    return problem_response(
        request,
        "ANA_SYS_002",
        "the analytics database cannot be reached; retry shortly",
        headers={"Retry-After": "5"},
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc, extra={"request_id": request_id_of(request)})
    # Sent by Starlette's error middleware, inside the request observer (ApiApp), which
    # adds X-Request-ID as to every response.
    return problem_response(
        request,
        internal_error_code(request),
        f"internal error; quote request id {request_id_of(request)} when reporting it",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(psycopg.OperationalError, _database_error)
    app.add_exception_handler(psycopg_pool.PoolTimeout, _database_error)
    app.add_exception_handler(Exception, _internal_error)


def error_responses(*codes: str, internal: str = "ANA_SYS_001") -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` documenting the problem documents a route can return
    (`internal`: its code for unhandled errors, see INTERNAL_ERROR_CODE_BY_TAG)."""
    by_status: dict[int, list[str]] = {}
    common = ("ANA_AUTH_001", "ANA_AUTH_002", "ANA_AUTH_004", "ANA_RATE_001")
    for code in (*common, internal, "ANA_SYS_002", *codes):
        by_status.setdefault(ERRORS[code].status, []).append(code)
    return {
        status: {
            "description": ", ".join(f"`{c}` {ERRORS[c].title.lower()}" for c in sorted(set(cs))),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
        }
        for status, cs in sorted(by_status.items())
    }


PROBLEM_REF = "#/components/schemas/Problem"


def problem_schemas() -> dict[str, Any]:
    """Problem and its parts as OpenAPI components (no route returns the model itself,
    so FastAPI would not list it)."""
    schema = Problem.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), "Problem": schema}
