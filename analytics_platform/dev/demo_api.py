"""The demo's API pieces: the server process, the demo admin key, the example requests.

Kept apart from the rest of the demo so the demo still runs (without them) in a checkout
whose `analytics_platform.api` is incomplete, and so the API is reached only through its
published contract: `create_app`, `create_api_key` and `analytics-platform api`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from analytics_platform.dev.child_processes import ChildProcess
from analytics_platform.settings import REPO_ROOT, Settings

API_APP_MODULE = "analytics_platform.api.app"
API_PREFIX = "/api/v1/analytics"
API_ACCESS_LOGGER = "analytics_platform.api.access"
DEMO_KEY_NAME = "make-demo admin"
# Longest answer excerpt printed per example, and the numbers it shows at most.
_EXCERPT_CHARS = 300
_EXCERPT_NUMBERS = 8
# Money travels as decimal strings ("125.40").
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True)
class ApiExample:
    """A request a newcomer can copy, and what it shows."""

    target: str
    meaning: str


@dataclass(frozen=True)
class ApiAnswer:
    target: str
    status: int
    body: str

    def excerpt(self) -> str:
        """The answer's first numbers as `path=value` (the rest of a JSON answer is
        mostly windows and labels), or its start when it has none."""
        try:
            document = json.loads(self.body)
        except ValueError:
            document = None
        numbers = list(_numbers(document))[:_EXCERPT_NUMBERS]
        text = (
            ", ".join(f"{path}={value}" for path, value in numbers)
            if numbers
            else " ".join(self.body.split())
        )
        return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "..."


EXAMPLES: tuple[ApiExample, ...] = (
    ApiExample(
        f"{API_PREFIX}/dashboard",
        "today, this week and this month against the previous period",
    ),
    ApiExample(f"{API_PREFIX}/revenue?interval=day", "revenue per day of the last 30 days"),
    ApiExample(f"{API_PREFIX}/realtime", "the current hour, live from the raw events"),
)


def api_available() -> bool:
    """Whether this checkout has the API app (it is built separately from the demo)."""
    return importlib.util.find_spec(API_APP_MODULE) is not None


def api_process(env: Mapping[str, str], host: str, port: int, log_path: Path) -> ChildProcess:
    """`analytics-platform api` on host:port (API_HOST/API_PORT), as production runs it."""
    command = [sys.executable, "-m", "analytics_platform.cli", "api"]
    return ChildProcess(
        "analytics-platform api",
        command,
        log_path=log_path,
        env={**env, "API_HOST": host, "API_PORT": str(port)},
        cwd=REPO_ROOT,
    )


def create_demo_key(database_url: str) -> str:
    """A new admin key for the demo; the plaintext is returned once, never stored."""
    from analytics_platform.api.keys import create_api_key

    return create_api_key(database_url, name=DEMO_KEY_NAME, scope="admin")


def curl_command(base_url: str, key: str, target: str) -> str:
    return f"curl -s -H 'X-API-Key: {key}' {shlex.quote(base_url + target)}"


def ask_over_http(
    base_url: str, key: str, examples: Sequence[ApiExample], timeout: float = 30
) -> list[ApiAnswer]:
    """Each example against a running API (what the printed curl commands do)."""
    answers = []
    for example in examples:
        request = urllib.request.Request(base_url + example.target, headers={"X-API-Key": key})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answers.append(ApiAnswer(example.target, response.status, response.read().decode()))
        except urllib.error.HTTPError as exc:
            answers.append(ApiAnswer(example.target, exc.code, exc.read().decode(errors="replace")))
    return answers


def ask_in_process(settings: Settings, key: str, examples: Sequence[ApiExample]) -> list[ApiAnswer]:
    """Each example against the app inside this process (no server), lifespan included."""
    from analytics_platform.api.app import create_app
    from analytics_platform.dev.asgi_requests import get_in_process

    app = create_app(settings)
    # The summary shows the answers; one access-log line per request would only repeat them.
    logging.getLogger(API_ACCESS_LOGGER).setLevel(logging.WARNING)
    responses = get_in_process(app, [e.target for e in examples], {"X-API-Key": key})
    return [ApiAnswer(r.path, r.status, r.text()) for r in responses]


def has_numbers(answer: ApiAnswer) -> bool:
    """Whether a 200 answer's JSON holds at least one non-zero number (real data)."""
    if answer.status != 200:
        return False
    try:
        document = json.loads(answer.body)
    except ValueError:
        return False
    return any(float(value) != 0 for _, value in _numbers(document))


def _numbers(node: object, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, value) of every number in a JSON document, money strings included."""
    if isinstance(node, bool) or node is None:
        return
    if isinstance(node, int | float):
        yield path, str(node)
    elif isinstance(node, str):
        if _DECIMAL.fullmatch(node):
            yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _numbers(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _numbers(value, f"{path}[{index}]")
