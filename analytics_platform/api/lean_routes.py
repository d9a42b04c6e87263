"""Data routes called without FastAPI's per-request machinery, when nothing can go wrong
before the route itself runs.

An uncached data answer spent about a third of its API CPU in FastAPI: routing,
dependency solving and pydantic's parameter validation (FastAPI 0.165 re-derives each
parameter's annotation facts per request). For the routes listed in `create_app`, this
layer (behind the fast path, in front of FastAPI) calls the route's own endpoint function
directly when the request is one FastAPI would pass unchanged:

- a GET whose path is one of the routes', with exactly one X-API-Key that is valid
  (verified less than API_KEY_CACHE_SECONDS ago, or checked here first as FastAPI's
  path would: `KeyVerifier.checked`), and a token of its rate limit left;
- every query parameter one the route declares, each once, not empty, without NUL, and
  valid by a check stricter than the declaration's (integers in plain decimal within
  their bounds, strings within their lengths, one of a Literal's values), derived once
  per route from FastAPI's own parameter declarations.

Anything else takes FastAPI's path, which validates, refuses and reports as before, so
every error of a malformed request is still FastAPI's. Errors the endpoint raises (an
unknown zone, a bad range, a foreign merchant, the database) are rendered by the app's
own exception handlers, as FastAPI would; an unhandled one is answered and re-raised as
Starlette's error middleware does. The endpoint gets the same arguments either way, so
the answers are the same bytes (`test_api_lean_routes.py` compares both paths).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

import psycopg
from annotated_types import Ge, Le, MaxLen, MinLen
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from analytics_platform.api.auth import KeyVerifier, Principal
from analytics_platform.api.deps import authenticate, reject_nul_characters
from analytics_platform.api.observability import ASGIApp, Receive, Scope, Send
from analytics_platform.api.rate_limit import RateLimiter
from analytics_platform.api.zones import Zones

# A parameter's check: the value FastAPI would pass, or _UNSURE (then FastAPI decides).
_UNSURE = object()
Check = Callable[[str], object]


class NotLean(ValueError):
    """A route this layer cannot call directly (a parameter or dependency it does not
    know how to check); list only routes whose parameters are simple."""


def _int_check(bounds: list[Any]) -> Check:
    low = high = None
    for bound in bounds:
        if isinstance(bound, Ge):
            low = bound.ge
        elif isinstance(bound, Le):
            high = bound.le
        else:
            raise NotLean(f"unsupported constraint {bound!r} on an integer parameter")

    def check(raw: str) -> object:
        # Plain decimals only: pydantic also takes "07", " 7" or "7.0", FastAPI handles those.
        if not (raw.isdigit() and raw.isascii()) or raw[0] == "0" or len(raw) > 9:
            return _UNSURE
        value = int(raw)
        if (low is not None and value < low) or (high is not None and value > high):
            return _UNSURE
        return value

    return check


def _str_check(bounds: list[Any]) -> Check:
    shortest, longest = 1, None
    for bound in bounds:
        if isinstance(bound, MinLen):
            shortest = max(shortest, bound.min_length)
        elif isinstance(bound, MaxLen):
            longest = bound.max_length
        else:
            raise NotLean(f"unsupported constraint {bound!r} on a string parameter")

    def check(raw: str) -> object:
        if len(raw) < shortest or (longest is not None and len(raw) > longest):
            return _UNSURE
        return raw

    return check


def _literal_check(choices: tuple[Any, ...], bounds: list[Any]) -> Check:
    if bounds or not all(isinstance(c, str) for c in choices):
        raise NotLean(f"unsupported Literal parameter {choices!r}")
    allowed = frozenset(choices)
    return lambda raw: raw if raw in allowed else _UNSURE


def _check_for(annotation: Any, bounds: list[Any]) -> Check:
    """The check of a parameter declared as `annotation` with `bounds`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) != 1:
            raise NotLean(f"unsupported union {annotation!r}")
        annotation, origin = inner[0], typing.get_origin(inner[0])
    if origin is Literal:
        return _literal_check(typing.get_args(annotation), bounds)
    if annotation is int:
        return _int_check(bounds)
    if annotation is str:
        return _str_check(bounds)
    raise NotLean(f"unsupported parameter type {annotation!r}")


@dataclass(frozen=True)
class LeanRoute:
    """One route's endpoint and the checks of its parameters (by the name sent)."""

    route: APIRoute
    request_name: str
    principal_name: str
    query: dict[str, tuple[str, Check]]  # alias -> (keyword, check)
    path: dict[str, Check]  # path parameter -> check

    @classmethod
    def of(cls, route: APIRoute) -> LeanRoute:
        dependant = route.dependant
        calls = [d.call for d in dependant.dependencies]
        if calls != [authenticate] or dependant.request_param_name is None:
            raise NotLean(f"{route.path}: only routes taking the request and Auth qualify")
        if route.methods != {"GET"} or route.dependencies:
            raise NotLean(f"{route.path}: GET routes without extra dependencies only")
        if dependant.header_params or dependant.cookie_params or dependant.body_params:
            raise NotLean(f"{route.path}: headers, cookies and bodies are not checked here")
        principal_name = dependant.dependencies[0].name
        if principal_name is None:
            raise NotLean(f"{route.path}: the Auth parameter has no name")
        query = {
            p.alias: (p.name, _check_for(p.field_info.annotation, list(p.field_info.metadata)))
            for p in dependant.query_params
        }
        path = {
            p.name: _check_for(p.field_info.annotation, list(p.field_info.metadata))
            for p in dependant.path_params
        }
        return cls(route, dependant.request_param_name, principal_name, query, path)

    def arguments(self, query_string: bytes, path_params: dict[str, str]) -> dict | None:
        """The endpoint's keyword arguments from the request, or None when FastAPI must
        decide (the same parsing as Starlette's QueryParams)."""
        arguments: dict[str, object] = {}
        for alias, raw in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            declared = self.query.get(alias)
            if declared is None or "\x00" in raw:
                return None
            name, check = declared
            if name in arguments:
                return None  # repeated: which one counts is FastAPI's to say
            value = check(raw)
            if value is _UNSURE:
                return None
            arguments[name] = value
        for name, raw in path_params.items():
            if "\x00" in raw:
                return None
            value = self.path[name](raw)
            if value is _UNSURE:
                return None
            arguments[name] = value
        return arguments


class LeanRoutes:
    """ASGI middleware between the fast path and FastAPI; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        fastapi: FastAPI,
        routes: list[APIRoute],
        prefix: str,
        keys: KeyVerifier,
        limiter: RateLimiter,
        zones: Zones,
    ) -> None:
        self.app = app
        self.fastapi = fastapi
        self.prefix = prefix
        self.keys = keys
        self.limiter = limiter
        self.zones = zones
        self._exact: dict[str, LeanRoute] = {}
        self._patterned: list[LeanRoute] = []
        for route in routes:
            lean = LeanRoute.of(route)
            if lean.path:
                self._patterned.append(lean)
            else:
                self._exact[prefix + route.path] = lean
        # The app-wide dependency must be the NUL check this layer repeats, and nothing else.
        app_level = [d.dependency for d in fastapi.router.dependencies]
        if app_level not in ([], [reject_nul_characters]):
            raise NotLean(f"app-wide dependencies {app_level!r} are not checked here")
        # Requests answered here (tests check they are; metrics do not need it).
        self.answered = 0

    def _match(self, path: str) -> tuple[LeanRoute, dict[str, str]] | None:
        lean = self._exact.get(path)
        if lean is not None:
            return lean, {}
        if not path.startswith(self.prefix):
            return None
        rest = path[len(self.prefix) :]
        for lean in self._patterned:
            found = lean.route.path_regex.match(rest)
            if found is not None:
                return lean, found.groupdict()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            call = self._prepare(scope)
            if call is not None:
                lean, path_params, arguments, api_key = call
                principal = self.keys.trusted(api_key)
                if principal is None:
                    # A key not checked lately (its first use, or after an idle spell) is
                    # checked here as FastAPI's path would: a valid request stays lean.
                    try:
                        principal = await self.keys.checked(api_key)
                    except psycopg.Error:
                        principal = None  # FastAPI's path checks again and reports it
                if principal is not None and self.limiter.take(principal.key_id) is None:
                    self.answered += 1
                    self._enter(scope, lean, path_params, arguments, principal)
                    await self._run(scope, receive, send, lean, arguments)
                    return
                # Unknown, revoked or spent: FastAPI's path refuses and counts (the
                # verdict is remembered, so it does not ask the database again).
        await self.app(scope, receive, send)

    def _prepare(
        self, scope: Scope
    ) -> tuple[LeanRoute, dict[str, str], dict[str, object], str] | None:
        matched = self._match(scope["path"])
        if matched is None:
            return None
        lean, path_params = matched
        api_key = b""
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                if api_key:
                    return None  # several keys: FastAPI's path refuses the request
                api_key = value
        if not api_key or not self.zones.loaded:
            return None
        arguments = lean.arguments(scope["query_string"], path_params)
        if arguments is None:
            return None
        return lean, path_params, arguments, api_key.decode("latin-1")

    def _enter(
        self,
        scope: Scope,
        lean: LeanRoute,
        path_params: dict[str, str],
        arguments: dict[str, object],
        principal: Principal,
    ) -> None:
        scope.setdefault("state", {})["key_prefix"] = principal.key_prefix
        # What Starlette's app and FastAPI's router put in the scope before the endpoint.
        scope["app"] = self.fastapi
        scope["route"] = lean.route
        scope["path_params"] = path_params
        arguments[lean.principal_name] = principal

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        lean: LeanRoute,
        arguments: dict[str, object],
    ) -> None:
        request = Request(scope, receive, send)
        arguments[lean.request_name] = request
        endpoint: Callable[..., Awaitable[Response]] = lean.route.endpoint
        try:
            response = await endpoint(**arguments)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
            await response(scope, receive, send)
            if _unhandled(self.fastapi, exc):
                raise  # as Starlette's error middleware does, after its answer
            return
        await response(scope, receive, send)

    def _handler_for(
        self, exc: Exception
    ) -> Callable[[Request, Exception], Awaitable[Response]] | None:
        """The app's handler for `exc`, looked up along its class hierarchy as Starlette
        does (a 500 handler, registered as Exception, included)."""
        handlers = self.fastapi.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]  # type: ignore[return-value]
        return handlers.get(500)  # type: ignore[return-value]


def _unhandled(app: FastAPI, exc: Exception) -> bool:
    """Whether Starlette would treat `exc` as a server error (its error middleware
    answers those with the app's Exception or 500 handler and re-raises them)."""
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            return cls is Exception
    return True
