"""Read API under load: /dashboard and /revenue over 90 days of rollups.

Setup: an embedded PostgreSQL in a temporary directory (or a database of its own on the
server DATABASE_URL names), migrated; 90 days of the generator's transactions up to now
(TRANSACTIONS_PER_DAY a day) written by the ingestion loader; the transactions marts of
all four grains materialized by the rollup runner as single range runs (hours up to the
current hour, closed days, weeks and months); an admin API key.

The API runs as `analytics-platform api` (uvicorn with uvloop and httptools, JSON access
logs to a file), with 1 worker process (the default) and then 2; the load generator is a
second process: an asyncio HTTP/1.1 keep-alive client on uvloop, one request in flight
per connection, for DURATION seconds per run after a warm-up. Both share the machine's
cores, as the target says. The requests repeat, as a dashboard's polling does, so after
the first one (reported: it computes from the marts) they are answered from the API's
response cache. Reported per endpoint, worker count and concurrency: requests/s,
p50/p95/p99 latency, and CPU time per request of the API processes and of the load
generator and, with the embedded database, of PostgreSQL (wall-clock figures are noisy on
a shared machine; the CPU ones compare across runs). The load average at the start and at
the end of each mix run is reported too.

Targets (issue 5): /dashboard p95 under 10 ms at concurrency 10, over 1,500 requests/s
at concurrency 50. The seeds promise p95 under 500 ms for dashboard APIs.

The mix (issue 12): one request repeated measures the cache. `api_mix_*` sends what a
fleet of clients does instead: 100 merchant keys (the busiest merchants) and the admin
key, over dashboard, realtime, trends, peak times, success rate, latency and revenue,
with several windows (`days`, start/end) and presentation zones. A hot set of
MIX_HOT_REQUESTS distinct requests is sent once before measuring; then each request is,
with probability MIX_HIT_SHARE, one of the hot set (a cache hit) and otherwise one never
sent before (computed from the marts). The hit share actually served is read back from
the API's access log. The latency percentiles are reported for the hot set's requests
(`*_hit_p*_ms`) and the new ones (`*_miss_p*_ms`) apart too: where the tail is.
Targets: p95 at most 10 ms at concurrency 10 and at least 2,000 requests/s at 50 (1
worker, API_WORKERS' default; 2 workers reported beside). The
per-key rate limit is on, with a budget no run spends, so its cost is in the figures.
`API_LOAD_MIX_ONLY=1` runs only the mix (and the database part below).

`api_uncached_db_*`: the database part of an uncached dashboard answer alone, one at a
time, as it was (explicit transaction, freshness query), through `scoped_reads` one read
at a time (`pipelined`: a round trip per read, then the Sync at the block's end), the
same with the freshness known, and in one round trip with the Sync
(`api_uncached_db_one_round_trip_*`, what the API does): CPU of the API side and of
PostgreSQL, and wall time, per answer (docs/api-performance.md; `scoped_reads` goes
through api/wire.py since its item 12).

`api_uncached_lean_*` / `api_uncached_fastapi_*`: CPU per uncached answer of the mix's
kinds in one process, the app with its lean routes (api/lean_routes.py) and without
them answering the same LEAN_REQUESTS distinct requests in turn (each computed by both;
httpx's in-process transport, so the client's share is in both figures).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import AsyncExitStack, ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from analytics_platform.api.keys import create_api_key
from analytics_platform.dev.generator import GeneratorConfig
from analytics_platform.dev.postgres import EmbeddedPostgres
from analytics_platform.dev.raw_rows import load_generated_rows
from analytics_platform.migrations import migrate
from analytics_platform.rollups.families import TRANSACTIONS, Grain, Mart
from analytics_platform.rollups.runner import materialize_window
from analytics_platform.settings import load_settings

DAYS = 90
TRANSACTIONS_PER_DAY = 2_000
CONCURRENCIES = (10, 50)
DURATION = 8.0
WARMUP = 1.5
# uvicorn worker processes: 1 (API_WORKERS' default) and 2 (one per core).
WORKER_COUNTS = (1, 2)
TZ = "UTC"
ROOT = Path(__file__).resolve().parent.parent
MIX_MERCHANT_KEYS = 100
MIX_HOT_REQUESTS = 1_000
MIX_HIT_SHARE = 0.8
# Longer than any run can use at the rates measured (a run wraps around otherwise).
MIX_SEQUENCE = 60_000
MIX_ZONES = ("UTC", "Asia/Jakarta", "Europe/Paris", "America/New_York")
MIX_DAYS = (1, 7, 14, 30)
# Never spent by a run: the limiter runs (and costs what it costs) but refuses nothing.
BENCH_RATE_LIMIT_PER_MINUTE = 100_000_000


# ------------------------------------------------------------------ data
def _day(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def load_transactions(url: str, now: datetime) -> int:
    """90 days of the generator's transactions before `now`, via the ingestion loader."""
    config = GeneratorConfig(
        seed=5,
        days=DAYS,
        events_per_day=TRANSACTIONS_PER_DAY,
        start=_day(now) - timedelta(days=DAYS - 1),
        late_fraction=0.0,
        duplicate_fraction=0.0,
        malformed_fraction=0.0,
    )
    loaded = load_generated_rows(url, config, now, ZoneInfo(TZ), ["transactions"], "bench")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE raw.transactions")
    return loaded["transactions"]


def materialize(url: str, now: datetime) -> float:
    """The transactions marts of every grain over the history, one range run each."""
    day = _day(now)
    first = day - timedelta(days=DAYS - 1)
    windows = {
        Grain.HOURLY: (first, now.replace(minute=0, second=0, microsecond=0)),
        Grain.DAILY: (first, day),
        Grain.WEEKLY: (
            first - timedelta(days=first.weekday()),
            day - timedelta(days=day.weekday()),
        ),
        Grain.MONTHLY: (first.replace(day=1), day.replace(day=1)),
    }
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for grain, (start, end) in windows.items():
            if end > start:
                materialize_window(conn, Mart(TRANSACTIONS, grain), start, end, TZ)
        conn.execute("ANALYZE")
    return time.perf_counter() - started


# ------------------------------------------------------------------ server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children still alive (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@contextmanager
def api_server(url: str, log_path: Path, workers: int) -> Any:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REPORTING_TIMEZONE": TZ,
        "API_WORKERS": str(workers),
        "API_PORT": str(port),
        "API_HOST": "127.0.0.1",
        "API_RATE_LIMIT_PER_MINUTE": str(BENCH_RATE_LIMIT_PER_MINUTE),
        "API_RATE_LIMIT_BURST": str(BENCH_RATE_LIMIT_PER_MINUTE),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "analytics_platform.cli", "api"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/health/live", timeout=2).read()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"API did not start; see {log_path}:\n{log_path.read_text()[-2000:]}"
                        ) from None
                    time.sleep(0.2)
            yield port, process.pid
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# ------------------------------------------------------------------ load generator
class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight."""

    _LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        match = self._LENGTH.search(self.buffer, 0, end + 2)
        length = int(match.group(1)) if match else 0
        if len(self.buffer) >= end + 4 + length and self.waiter is not None:
            status = int(self.buffer[9:12])
            del self.buffer[: end + 4 + length]
            waiter, self.waiter = self.waiter, None
            waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("server closed the connection"))

    def request(self, payload: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter


class _Run:
    """What the connections of one run share: the payloads in order, the clock's
    bounds and what was measured."""

    def __init__(
        self,
        payloads: list[bytes],
        measure_from: float,
        stop: float,
        kinds: list[str] | None = None,
    ) -> None:
        self.payloads = payloads
        # Per payload, what the sender expects it to be ("hit", "miss"), when it knows.
        self.kinds = kinds
        self.position = 0
        self.measure_from = measure_from
        self.stop = stop
        self.latencies: list[float] = []
        self.by_kind: dict[str, list[float]] = {}
        self.errors = 0

    def next_payload(self) -> tuple[bytes, str | None]:
        index = self.position % len(self.payloads)
        self.position += 1
        return self.payloads[index], self.kinds[index] if self.kinds else None


class _Driver(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight, that sends the next
    request from `data_received` as soon as the answer is complete: no future, task or
    coroutine switch per request, as a C load generator (wrk) would not have either.
    Every answer's status is checked."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.buffer = bytearray()
        self.sent = 0.0
        self.kind: str | None = None
        self.transport: Any = None
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def send_next(self) -> None:
        now = time.perf_counter()
        if now >= self.run.stop:
            if not self.finished.done():
                self.finished.set_result(None)
            return
        self.sent = now
        payload, self.kind = self.run.next_payload()
        self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        match = _Connection._LENGTH.search(self.buffer, 0, end + 2)
        length = int(match.group(1)) if match else 0
        if len(self.buffer) < end + 4 + length:
            return
        done = time.perf_counter()
        status = int(self.buffer[9:12])
        del self.buffer[: end + 4 + length]
        run = self.run
        if self.sent >= run.measure_from:
            run.latencies.append(done - self.sent)
            if self.kind is not None:
                run.by_kind.setdefault(self.kind, []).append(done - self.sent)
            if status != 200:
                run.errors += 1
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_exception(ConnectionError("server closed the connection"))


async def _load(
    port: int,
    payloads: list[bytes],
    concurrency: int,
    warmup: float,
    duration: float,
    out: Any,
    kinds: list[str] | None = None,
) -> dict:
    """Each connection sends the next of `payloads` (in order, wrapping around) until
    the time is up; a single payload is one request repeated. `kinds`: per payload, the
    group its latency is also reported in ("hit", "miss")."""
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    run = _Run(payloads, start + warmup, start + warmup + duration, kinds)
    drivers = []
    for _ in range(concurrency):
        _, driver = await loop.create_connection(lambda: _Driver(run), "127.0.0.1", port)
        drivers.append(driver)
    # Tells the parent to read the server's CPU counters: the measured part starts.
    loop.call_later(warmup, out.send, "measuring")

    cpu_before: Any = None

    def mark() -> None:
        nonlocal cpu_before
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)

    loop.call_later(warmup, mark)
    for driver in drivers:
        driver.send_next()
    await asyncio.gather(*(driver.finished for driver in drivers))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    for driver in drivers:
        driver.transport.close()
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "latencies": run.latencies,
        "by_kind": run.by_kind,
        "errors": run.errors,
        "client_cpu": cpu,
        "seconds": duration,
    }


def _client(
    port: int, payloads: list[bytes], concurrency: int, out: Any, kinds: list[str] | None
) -> None:
    import uvloop

    out.send(uvloop.run(_load(port, payloads, concurrency, WARMUP, DURATION, out, kinds)))


def _payload(path: str, key: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()


def run_load(
    port: int, server_pid: int, path: str, key: str, concurrency: int, db_pid: int | None = None
) -> dict:
    return run_sequence(port, server_pid, [_payload(path, key)], concurrency, db_pid)


def _postmaster_pid(data_dir: Path) -> int | None:
    """The embedded server's postmaster (its backends are its children)."""
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _percentile_ms(ordered: list[float], q: float) -> float | None:
    """The q-quantile of sorted latencies in seconds, in ms (nearest rank below)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_sequence(
    port: int,
    server_pid: int,
    payloads: list[bytes],
    concurrency: int,
    db_pid: int | None = None,
    kinds: list[str] | None = None,
) -> dict:
    """`db_pid`: the database server's postmaster, when it runs here (embedded), so its
    CPU per request is reported too: it shares the cores with the API and the client.
    `kinds`: per payload, a group whose latencies are reported apart too (`by_kind`)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    client = context.Process(target=_client, args=(port, payloads, concurrency, send, kinds))
    client.start()
    send.close()  # the child's copy is the only writer: a crash ends recv() with EOFError
    try:
        receive.recv()  # "measuring"
        server_before = _cpu_seconds(server_pid)
        db_before = _cpu_seconds(db_pid) if db_pid else 0.0
        result = receive.recv()
    except EOFError:
        client.join()
        raise RuntimeError(f"the load generator died (exit code {client.exitcode})") from None
    server_after = _cpu_seconds(server_pid)
    db_after = _cpu_seconds(db_pid) if db_pid else 0.0
    load = os.getloadavg()[0]
    client.join()
    latencies = sorted(result["latencies"])
    n = len(latencies)
    by_kind = {}
    for kind, values in result["by_kind"].items():
        values.sort()
        by_kind[kind] = {
            "count": len(values),
            **{f"p{round(q * 100)}": _percentile_ms(values, q) for q in (0.5, 0.95, 0.99)},
        }
    return {
        "rps": n / result["seconds"],
        "p50": _percentile_ms(latencies, 0.50),
        "p95": _percentile_ms(latencies, 0.95),
        "p99": _percentile_ms(latencies, 0.99),
        "by_kind": by_kind,
        "errors": result["errors"],
        "server_cpu_us": (server_after - server_before) / n * 1e6 if n else None,
        "client_cpu_us": result["client_cpu"] / n * 1e6 if n else None,
        "db_cpu_us": (db_after - db_before) / n * 1e6 if n and db_pid else None,
        "load": load,
    }


# ------------------------------------------------------------------ lean routes alone
LEAN_REQUESTS = 300


def measure_lean_routes(url: str, keys: list[str]) -> dict[str, dict]:
    """CPU per uncached answer with and without the lean routes, alternating which app
    goes first, so the machine's load and PostgreSQL's caches favour neither."""
    import httpx  # the tests' client; only this measurement needs it

    from analytics_platform.api.app import create_app
    from analytics_platform.api.observability import JsonFormatter
    from analytics_platform.api.serving import API_PREFIX

    settings = load_settings(
        {
            **os.environ,
            "DATABASE_URL": url,
            "REPORTING_TIMEZONE": TZ,
            "API_RATE_LIMIT_PER_MINUTE": "0",
            # Keys stay trusted for the whole run, as they do under a mix's traffic.
            "API_KEY_CACHE_SECONDS": "3600",
        }
    )
    rng = random.Random(42)
    today = _day(datetime.now(UTC)).date()
    requests: dict[tuple[str, str], None] = {}
    while len(requests) < LEAN_REQUESTS:
        requests[_mix_request(rng, keys, today)] = None

    async def measure() -> tuple[list[float], list[float], int]:
        apps = [create_app(settings), create_app(settings, lean_routes=False)]
        cpu: tuple[list[float], list[float]] = ([], [])
        failed = 0
        async with AsyncExitStack() as stack:
            clients = []
            for app in apps:
                await stack.enter_async_context(app.router.lifespan_context(app))
                transport = httpx.ASGITransport(app=app)
                client = httpx.AsyncClient(transport=transport, base_url="http://bench")
                clients.append(await stack.enter_async_context(client))
            for client in clients:
                for key in set(keys):  # a key's first use goes to the database
                    await client.get(f"{API_PREFIX}/dashboard", headers={"X-API-Key": key})
            for i, (path, key) in enumerate(requests):
                for which in (0, 1) if i % 2 else (1, 0):
                    started = time.process_time()
                    response = await clients[which].get(path, headers={"X-API-Key": key})
                    cpu[which].append(time.process_time() - started)
                    failed += response.status_code != 200
        return cpu[0], cpu[1], failed

    # The access log formatted and written as the server does (to a file there), but not
    # onto this benchmark's output: configure_logging keeps a JSON handler it finds.
    logger = logging.getLogger("analytics_platform.api")
    with open(os.devnull, "w") as sink:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        try:
            lean, fastapi, failed = asyncio.run(measure())
        finally:
            logger.removeHandler(handler)
    out = {"api_uncached_lean_non_200": _metric(failed, "responses", 0)}
    for name, values in (("lean", lean), ("fastapi", fastapi)):
        out[f"api_uncached_{name}_cpu_mean_us"] = _metric(sum(values) / len(values) * 1e6, "us")
        out[f"api_uncached_{name}_cpu_median_us"] = _metric(
            sorted(values)[len(values) // 2] * 1e6, "us"
        )
    out["api_uncached_lean_cpu_ratio"] = _metric(sum(lean) / sum(fastapi), "")
    return out


# ------------------------------------------------------------------ the mix
def _mix_request(rng: random.Random, keys: list[str], today: date) -> tuple[str, str]:
    """One request of the mix: (path with query, key). Half the windowed requests use
    `days`, half start/end, so the cold ones never run out."""
    key = rng.choice(keys)
    zone = quote(rng.choice(MIX_ZONES))
    endpoint = rng.choices(
        ("dashboard", "realtime", "trends", "peak-times", "success-rate", "latency", "revenue"),
        weights=(3, 1, 2, 1, 1, 1, 2),
    )[0]
    base = "/api/v1/analytics/"
    if endpoint in ("dashboard", "realtime"):
        return f"{base}{endpoint}?timezone={zone}", key
    if endpoint == "trends":
        return f"{base}trends/{rng.choice(('today', 'week', 'month'))}?timezone={zone}", key
    if endpoint != "revenue" and rng.random() < 0.5:
        return f"{base}{endpoint}?days={rng.choice(MIX_DAYS)}&timezone={zone}", key
    start = today - timedelta(days=rng.randint(2, DAYS - 1))
    end = min(today, start + timedelta(days=rng.randint(1, 30)))
    query = f"start={start}&end={end}&timezone={zone}"
    if endpoint == "revenue":
        query = f"interval=day&{query}"
    return f"{base}{endpoint}?{query}", key


def mix_sequence(
    keys: list[str], today: date, hot_seed: int, run_seed: int
) -> tuple[list[bytes], list[bytes], list[str]]:
    """The hot set (from `hot_seed`), a run's sequence of MIX_SEQUENCE requests (from
    `run_seed`): MIX_HIT_SHARE of them from the hot set, the rest each new (none repeats
    or is in the hot set; runs with other seeds collide with it only by chance, in a
    space of millions), and per request of the sequence "hit" (from the hot set, which
    the cache holds) or "miss" (new: computed)."""
    rng = random.Random(hot_seed)
    hot: dict[tuple[str, str], None] = {}
    while len(hot) < MIX_HOT_REQUESTS:
        hot[_mix_request(rng, keys, today)] = None
    seen = set(hot)
    hot_list = list(hot)
    rng = random.Random(run_seed)
    sequence = []
    kinds = []
    for _ in range(MIX_SEQUENCE):
        if rng.random() < MIX_HIT_SHARE:
            request = rng.choice(hot_list)
            kinds.append("hit")
        else:
            kinds.append("miss")
            request = _mix_request(rng, keys, today)
            while request in seen:
                request = _mix_request(rng, keys, today)
            seen.add(request)
        sequence.append(_payload(*request))
    return [_payload(*r) for r in hot_list], sequence, kinds


async def _send_all(port: int, payloads: list[bytes], concurrency: int) -> int:
    """Each payload once, `concurrency` at a time; the count of non-200 answers."""
    loop = asyncio.get_running_loop()
    queue = list(reversed(payloads))
    failed = 0

    async def worker() -> None:
        nonlocal failed
        _, connection = await loop.create_connection(_Connection, "127.0.0.1", port)
        while queue:
            if await connection.request(queue.pop()) != 200:
                failed += 1
        connection.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failed


def _cache_share(log_path: Path, offset: int) -> tuple[float | None, int]:
    """Share of the requests logged after `offset` that the cache answered, and the new
    offset (the API's access log: one JSON line per request with its `cache` field)."""
    with log_path.open("rb") as log:
        log.seek(offset)
        text = log.read()
    hits = text.count(b'"cache": "hit"') + text.count(b'"cache":"hit"')
    misses = text.count(b'"cache": "miss"') + text.count(b'"cache":"miss"')
    total = hits + misses
    return (hits / total if total else None), offset + len(text)


def mix_keys(url: str, admin_key: str) -> list[str]:
    """Keys of the MIX_MERCHANT_KEYS busiest merchants, and the admin key."""
    with psycopg.connect(url, autocommit=True) as conn:
        merchants = [
            m
            for (m,) in conn.execute(
                "SELECT merchant_id FROM raw.transactions WHERE merchant_id IS NOT NULL "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT %s",
                (MIX_MERCHANT_KEYS,),
            )
        ]
        keys = [create_api_key(conn, name=f"bench {m}", scope=f"merchant:{m}") for m in merchants]
    return [*keys, admin_key]


def measure_mix(
    metrics: dict,
    port: int,
    pid: int,
    log_path: Path,
    keys: list[str],
    workers: int,
    db_pid: int | None = None,
) -> None:
    today = _day(datetime.now(UTC)).date()
    hot, _, _ = mix_sequence(keys, today, workers, 0)
    failed = asyncio.run(_send_all(port, hot, 10))
    metrics[f"api_mix_w{workers}_hot_set_non_200"] = _metric(failed, "responses", 0)
    offset = log_path.stat().st_size
    for concurrency in CONCURRENCIES:
        _, sequence, kinds = mix_sequence(keys, today, workers, 100 * workers + concurrency)
        result = run_sequence(port, pid, sequence, concurrency, db_pid, kinds)
        share, offset = _cache_share(log_path, offset)
        name = "api_mix" if workers == 1 else f"api_mix_w{workers}"
        _record_mix(metrics, f"{name}_c{concurrency}", result, share)


def _record_mix(metrics: dict, prefix: str, r: dict, share: float | None) -> None:
    headline = prefix.startswith("api_mix_c")
    metrics[f"{prefix}_rps"] = _metric(
        r["rps"], "req/s", 2000.0 if headline and prefix.endswith("_c50") else None
    )
    metrics[f"{prefix}_p50_ms"] = _metric(r["p50"], "ms")
    metrics[f"{prefix}_p95_ms"] = _metric(
        r["p95"], "ms", 10.0 if headline and prefix.endswith("_c10") else None
    )
    metrics[f"{prefix}_p99_ms"] = _metric(r["p99"], "ms")
    metrics[f"{prefix}_non_200"] = _metric(r["errors"], "responses", 0)
    # Where the tail is: the hot set's requests (cache hits) and the new ones apart.
    for kind in ("hit", "miss"):
        split = r["by_kind"].get(kind, {})
        for q in ("p50", "p95", "p99"):
            metrics[f"{prefix}_{kind}_{q}_ms"] = _metric(split.get(q), "ms")
    metrics[f"{prefix}_cache_hit_share"] = _metric(share, "", MIX_HIT_SHARE)
    metrics[f"{prefix}_server_cpu_per_req_us"] = _metric(r["server_cpu_us"], "us")
    metrics[f"{prefix}_client_cpu_per_req_us"] = _metric(r["client_cpu_us"], "us")
    metrics[f"{prefix}_database_cpu_per_req_us"] = _metric(r["db_cpu_us"], "us")
    metrics[f"{prefix}_load_avg_1min"] = _metric(r["load"], "")


# ------------------------------------------------------------------ database part
DB_PART_REPEATS = 500
DB_PART_ROUNDS = 3


def measure_database_part(url: str, db_pid: int | None) -> dict[str, dict]:
    """The database part of an uncached dashboard answer, four ways, one request at a
    time (less noisy than the mix on a shared machine): an explicit transaction with the
    freshness query (before), pipelined (`scoped_reads`), pipelined with the freshness
    known (`FreshnessMemo`), and the query and the freshness query sent with the Sync
    as the answer's last reads (`rows_together(last=True)`, one round trip; the
    connection is returned in a task). CPU per answer of this
    process and of PostgreSQL, and wall time; the median of DB_PART_ROUNDS rounds."""
    import uvloop

    from analytics_platform.api.db import Database
    from analytics_platform.api.keys import Scope

    async def measure() -> dict[str, dict]:
        db = Database(load_settings({**os.environ, "DATABASE_URL": url}))
        await db.open()
        await db.pool.wait()
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        week = timedelta(days=7)
        totals = {
            "names": ["current", "previous"],
            "starts": [hour - week, hour - 2 * week],
            "ends": [hour, hour - week],
            "dimension": "platform",
            "dimension_value": "",
        }
        fresh = {
            "marts": ["transactions_hourly"],
            "window_start": hour - 2 * week,
            "window_end": hour,
        }
        admin = Scope("admin", None)

        async def transaction() -> None:
            async with db.scoped(admin) as conn:
                await db.rows(conn, "api/transactions_totals.sql", totals, "transactions_hourly")
                await db.rows(conn, "api/freshness.sql", fresh)

        async def pipelined() -> None:
            async with db.scoped_reads(admin) as conn:
                await db.rows(conn, "api/transactions_totals.sql", totals, "transactions_hourly")
                await db.rows(conn, "api/freshness.sql", fresh)

        async def pipelined_known_freshness() -> None:
            async with db.scoped_reads(admin) as conn:
                await db.rows(conn, "api/transactions_totals.sql", totals, "transactions_hourly")

        async def one_round_trip() -> None:
            async with db.scoped_reads(admin) as conn:
                await db.rows_together(
                    conn,
                    [
                        ("api/transactions_totals.sql", totals, "transactions_hourly"),
                        ("api/freshness.sql", fresh, None),
                    ],
                    last=True,
                )

        ways = {
            "transaction": transaction,
            "pipelined": pipelined,
            "pipelined_memo": pipelined_known_freshness,
            "one_round_trip": one_round_trip,
        }
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ways}
        try:
            for _ in range(DB_PART_ROUNDS):
                for name, way in ways.items():
                    for _ in range(20):
                        await way()
                    usage = resource.getrusage(resource.RUSAGE_SELF)
                    cpu0 = usage.ru_utime + usage.ru_stime
                    db0 = _cpu_seconds(db_pid) if db_pid else 0.0
                    wall0 = time.perf_counter()
                    for _ in range(DB_PART_REPEATS):
                        await way()
                    wall = time.perf_counter() - wall0
                    usage = resource.getrusage(resource.RUSAGE_SELF)
                    cpu = usage.ru_utime + usage.ru_stime - cpu0
                    db_cpu = (_cpu_seconds(db_pid) - db0) if db_pid else float("nan")
                    samples[name].append((cpu, db_cpu, wall))
        finally:
            await db.close()
        metrics = {}
        for name, rounds in samples.items():
            for index, (label, unit) in enumerate(
                (("api_cpu", "us"), ("database_cpu", "us"), ("wall", "us"))
            ):
                values = sorted(r[index] for r in rounds)
                median = values[len(values) // 2] / DB_PART_REPEATS * 1e6
                if label == "database_cpu" and not db_pid:
                    continue
                metrics[f"api_uncached_db_{name}_{label}_us"] = _metric(median, unit)
        return metrics

    return uvloop.run(measure())


# ------------------------------------------------------------------ benchmark
def _metric(value: float | None, unit: str, target: float | None = None) -> dict:
    return {"value": value, "unit": unit, "target": target}


def _first_request_ms(port: int, path: str, key: str) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"X-API-Key": key})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
    return (time.perf_counter() - started) * 1000


def _uncached_ms(port: int, path: str, key: str) -> float:
    """Median latency of requests the cache cannot answer: each asks for another
    presentation zone, which is part of the cache key, so each is computed (warm pool)."""
    zones = [f"Etc/GMT{sign}{hours}" for sign in "+-" for hours in range(1, 12)]
    separator = "&" if "?" in path else "?"
    times = sorted(
        _first_request_ms(port, f"{path}{separator}timezone={quote(zone)}", key) for zone in zones
    )
    return times[len(times) // 2]


def _measure(url: str, tmp: Path, db_pid: int | None) -> dict[str, dict]:
    metrics: dict[str, dict] = {"api_load_avg_1min_at_start": _metric(os.getloadavg()[0], "")}
    now = datetime.now(UTC)
    started = time.perf_counter()
    rows = load_transactions(url, now)
    metrics["api_bench_transactions_loaded"] = _metric(rows, "rows")
    metrics["api_bench_load_s"] = _metric(time.perf_counter() - started, "s")
    metrics["api_bench_rollups_s"] = _metric(materialize(url, now), "s")
    with psycopg.connect(url, autocommit=True) as conn:
        key = create_api_key(conn, name="benchmark", scope="admin")
    today = _day(now).date()
    paths = {
        "dashboard": "/api/v1/analytics/dashboard",
        "revenue": (
            f"/api/v1/analytics/revenue?interval=day&start={today - timedelta(days=DAYS)}"
            f"&end={today}&limit=100"
        ),
    }
    keys = mix_keys(url, key)
    only_mix = os.environ.get("API_LOAD_MIX_ONLY") == "1"
    for workers in WORKER_COUNTS:
        log_path = tmp / f"api-{workers}.log"
        with api_server(url, log_path, workers) as (port, pid):
            measure_mix(metrics, port, pid, log_path, keys, workers, db_pid)
            if only_mix:
                continue
            for name, path in paths.items():
                first = _first_request_ms(port, path, key)
                metrics[f"api_{name}_w{workers}_first_request_ms"] = _metric(first, "ms")
                uncached = _uncached_ms(port, path, key)
                metrics[f"api_{name}_w{workers}_uncached_median_ms"] = _metric(uncached, "ms")
            for name, path in paths.items():
                for concurrency in CONCURRENCIES:
                    result = run_load(port, pid, path, key, concurrency, db_pid)
                    _record(metrics, f"api_{name}_w{workers}_c{concurrency}", result)
    metrics.update(measure_lean_routes(url, keys))
    # Last: right after the load, autovacuum's work would count as the queries'.
    metrics.update(measure_database_part(url, db_pid))
    return metrics


def _record(metrics: dict, prefix: str, r: dict) -> None:
    dashboard = "_dashboard_" in prefix
    metrics[f"{prefix}_rps"] = _metric(
        r["rps"], "req/s", 1500.0 if dashboard and prefix.endswith("_c50") else None
    )
    metrics[f"{prefix}_p50_ms"] = _metric(r["p50"], "ms")
    metrics[f"{prefix}_p95_ms"] = _metric(
        r["p95"], "ms", 10.0 if dashboard and prefix.endswith("_c10") else 500.0
    )
    metrics[f"{prefix}_p99_ms"] = _metric(r["p99"], "ms")
    metrics[f"{prefix}_non_200"] = _metric(r["errors"], "responses", 0)
    metrics[f"{prefix}_server_cpu_per_req_us"] = _metric(r["server_cpu_us"], "us")
    metrics[f"{prefix}_client_cpu_per_req_us"] = _metric(r["client_cpu_us"], "us")
    metrics[f"{prefix}_database_cpu_per_req_us"] = _metric(r["db_cpu_us"], "us")


def run() -> dict[str, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp, ExitStack() as stack:
        if server_url := os.environ.get("DATABASE_URL"):
            name = f"bench_api_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
            db_pid = None  # another machine's, or shared: not ours to count

            def drop() -> None:
                with psycopg.connect(server_url, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )

            stack.callback(drop)
        else:
            server = EmbeddedPostgres(Path(tmp) / "pg", databases=("bench",)).start()
            stack.callback(server.stop)
            url = server.url("bench")
            db_pid = _postmaster_pid(Path(tmp) / "pg")
        migrate(load_settings({**os.environ, "DATABASE_URL": url}))
        return _measure(url, Path(tmp), db_pid)
