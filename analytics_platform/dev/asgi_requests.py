"""GET requests to an ASGI app inside this process, lifespan included: no server, no port.

What `demo --once` uses to show a sample of API answers. The app's lifespan (startup:
database pool, shutdown: closing it) runs around the requests exactly as uvicorn would
run it, and the state it yields reaches the requests, as the ASGI spec defines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Message, Receive, Send], Awaitable[None]]

_STARTUP_TIMEOUT_SECONDS = 60.0
_REQUEST_TIMEOUT_SECONDS = 60.0


class AsgiLifespanError(RuntimeError):
    """The app's startup failed; the message carries its reason."""


@dataclass(frozen=True)
class AsgiResponse:
    path: str
    status: int
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


async def _lifespan(app: AsgiApp, state: dict[str, Any]) -> tuple[asyncio.Queue, asyncio.Task]:
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    started: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    async def send(message: Message) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete" and not started.done():
            started.set_result(None)
        elif kind == "lifespan.startup.failed" and not started.done():
            started.set_result(message.get("message") or "startup failed")

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    task = asyncio.create_task(app(scope, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    done, _ = await asyncio.wait(
        {task, started}, timeout=_STARTUP_TIMEOUT_SECONDS, return_when=asyncio.FIRST_COMPLETED
    )
    if started in done:
        failure = started.result()
        if failure:
            # Starlette re-raises the startup error after reporting it; it is reported here.
            await asyncio.wait({task}, timeout=_STARTUP_TIMEOUT_SECONDS)
            if task.done() and not task.cancelled():
                task.exception()
            raise AsgiLifespanError(f"the app's startup failed: {failure}")
    elif task in done:
        # An app without lifespan support may return (or raise) at once; that is allowed.
        pass
    else:
        task.cancel()
        raise AsgiLifespanError(f"the app's startup did not finish in {_STARTUP_TIMEOUT_SECONDS} s")
    return inbox, task


async def _get(
    app: AsgiApp, target: str, headers: Mapping[str, str], state: dict[str, Any]
) -> AsgiResponse:
    url = urlsplit(target)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": url.path,
        "raw_path": url.path.encode(),
        "query_string": url.query.encode(),
        "root_path": "",
        "headers": [(b"host", b"demo.local")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("demo.local", 80),
        "state": dict(state),
    }
    sent_request = False
    response_done = asyncio.Event()

    async def receive() -> Message:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await response_done.wait()
        return {"type": "http.disconnect"}

    status = 0
    response_headers: dict[str, str] = {}
    body = bytearray()

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.update(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                response_done.set()

    await asyncio.wait_for(app(scope, receive, send), _REQUEST_TIMEOUT_SECONDS)
    return AsgiResponse(target, status, response_headers, bytes(body))


async def _get_all(
    app: AsgiApp, targets: Sequence[str], headers: Mapping[str, str]
) -> list[AsgiResponse]:
    state: dict[str, Any] = {}
    inbox, lifespan = await _lifespan(app, state)
    try:
        return [await _get(app, target, headers, state) for target in targets]
    finally:
        if not lifespan.done():
            await inbox.put({"type": "lifespan.shutdown"})
            await asyncio.wait({lifespan}, timeout=_STARTUP_TIMEOUT_SECONDS)


def get_in_process(
    app: AsgiApp, targets: Sequence[str], headers: Mapping[str, str] | None = None
) -> list[AsgiResponse]:
    """GET each `path?query` of `targets` in order, between the app's startup and shutdown."""
    return asyncio.run(_get_all(app, targets, headers or {}))
